package upload

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/cunbo/cunbo/firmware/atomicfile"
	"github.com/cunbo/cunbo/segment"
)

// Upload kinds (the kind metadata of a tus upload).
const (
	KindSegment = "segment"
	KindSession = "session"
)

// StateFile is the queue's state in its directory; session records wait in
// SessionDir until they are sent.
const (
	StateFile  = "queue.json"
	SessionDir = "sessions"
)

const stateVersion = 1

// maxState bounds queue.json; each item is a few hundred bytes and the
// flagged store's quota keeps them to a few thousand.
const maxState = 4 << 20

// item is one upload the queue has started or given up on. Location is
// the server's upload URL, kept so that a kill -9 or a power cut resumes
// the same upload instead of sending it again from zero.
type item struct {
	Kind     string `json:"kind"`
	ID       string `json:"id"`
	SHA256   string `json:"sha256"`
	Size     int64  `json:"size"`
	Location string `json:"location,omitempty"`
	// Failed: the server refused it for good (409, 400, 413); kept on the
	// box, never sent again. Error is the server's message.
	Failed bool   `json:"failed,omitempty"`
	Error  string `json:"error,omitempty"`
}

type state struct {
	Version int     `json:"version"`
	Items   []*item `json:"items"`
}

var (
	shaRe = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// parseState reads queue.json. Anything it accepts is safe to act on: ids
// cannot name a file outside the queue or the store, and locations are
// absolute http(s) URLs.
func parseState(data []byte) (*state, error) {
	if len(data) > maxState {
		return nil, fmt.Errorf("upload: %s is %d bytes, over %d", StateFile, len(data), maxState)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var st state
	if err := dec.Decode(&st); err != nil {
		return nil, fmt.Errorf("upload: %s: %w", StateFile, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("upload: %s: trailing data", StateFile)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("upload: %s: version %d, want %d", StateFile, st.Version, stateVersion)
	}
	seen := map[string]bool{}
	for i, it := range st.Items {
		if it == nil {
			return nil, fmt.Errorf("upload: %s: item %d is null", StateFile, i)
		}
		if err := it.validate(); err != nil {
			return nil, fmt.Errorf("upload: %s: item %d: %w", StateFile, i, err)
		}
		k := it.key()
		if seen[k] {
			return nil, fmt.Errorf("upload: %s: item %d: %s listed twice", StateFile, i, k)
		}
		seen[k] = true
	}
	return &st, nil
}

func (it *item) key() string { return it.Kind + "/" + it.ID }

func (it *item) validate() error {
	switch {
	case it.Kind == KindSegment && !segment.ValidID(it.ID):
		return fmt.Errorf("bad segment id %q", it.ID)
	case it.Kind == KindSession && !segment.ValidSessionID(it.ID):
		return fmt.Errorf("bad session id %q", it.ID)
	case it.Kind != KindSegment && it.Kind != KindSession:
		return fmt.Errorf("unknown kind %q", it.Kind)
	case !shaRe.MatchString(it.SHA256):
		return errors.New("bad sha256")
	case it.Size < 0:
		return fmt.Errorf("negative size %d", it.Size)
	}
	if it.Location != "" {
		u, err := url.Parse(it.Location)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("bad location %q", it.Location)
		}
	}
	return nil
}

// queue is the upload queue on disk. It is used by the uploader's one
// goroutine only.
type queue struct {
	dir   string
	items map[string]*item
}

// openQueue loads dir/queue.json. A damaged file is set aside (renamed,
// not deleted) and the queue starts empty: every pending segment is still
// pending in the flagged store, so at worst an upload starts again from
// zero.
func openQueue(dir string) (*queue, error) {
	if err := os.MkdirAll(filepath.Join(dir, SessionDir), 0o750); err != nil {
		return nil, fmt.Errorf("upload: queue: %w", err)
	}
	q := &queue{dir: dir, items: map[string]*item{}}
	path := filepath.Join(dir, StateFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return q, nil
	}
	if err != nil {
		return nil, fmt.Errorf("upload: queue: %w", err)
	}
	st, perr := parseState(data)
	if perr != nil {
		if err := os.Rename(path, path+".bad"); err != nil {
			return nil, fmt.Errorf("upload: queue: %w (and cannot set it aside: %v)", perr, err)
		}
		return q, perr
	}
	for _, it := range st.Items {
		q.items[it.key()] = it
	}
	return q, nil
}

func (q *queue) get(kind, id string) *item { return q.items[kind+"/"+id] }

func (q *queue) put(it *item) error {
	q.items[it.key()] = it
	return q.save()
}

func (q *queue) drop(kind, id string) error {
	if _, ok := q.items[kind+"/"+id]; !ok {
		return nil
	}
	delete(q.items, kind+"/"+id)
	return q.save()
}

func (q *queue) save() error {
	st := state{Version: stateVersion, Items: make([]*item, 0, len(q.items))}
	for _, it := range q.items {
		st.Items = append(st.Items, it)
	}
	sort.Slice(st.Items, func(i, j int) bool { return st.Items[i].key() < st.Items[j].key() })
	data, err := json.MarshalIndent(&st, "", "  ")
	if err != nil {
		return fmt.Errorf("upload: queue: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(q.dir, StateFile), append(data, '\n'), 0o640); err != nil {
		return fmt.Errorf("upload: queue: %w", err)
	}
	return nil
}

// sessionPath is where session record id waits to be sent.
func (q *queue) sessionPath(id string) string { return filepath.Join(q.dir, SessionDir, id+".json") }

// sessions lists the session records waiting, oldest id first.
func (q *queue) sessions() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(q.dir, SessionDir))
	if err != nil {
		return nil, fmt.Errorf("upload: queue: %w", err)
	}
	var ids []string
	for _, e := range ents {
		name := e.Name()
		id, ok := strings.CutSuffix(name, ".json")
		if ok && e.Type().IsRegular() && segment.ValidSessionID(id) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// Package upload sends what the box keeps — flagged segments and one short
// record per live session — to the review service, resumably, without
// hurting the live stream.
//
// The box signs in with its own ed25519 key (LoadOrCreateKey) and uploads
// over tus 1.0. The queue lives on disk (queue.json, written atomically):
// each started upload's URL is kept, so after a dropped connection, a kill
// -9 or a power cut the box asks the server how much it has (HEAD) and
// sends only the rest. A segment's body is a deterministic tar, so
// building it again after a reboot gives the same bytes and hash.
//
// The stream comes first: while the box is live (or starting, or
// reconnecting) nothing is sent and an upload in flight is cut off at
// once; it resumes from the server's offset when the box is idle again.
// Idle, the uploader sleeps until told of a new segment or a timer of at
// least 30 s.
package upload

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/cunbo/cunbo/firmware/atomicfile"
	"github.com/cunbo/cunbo/firmware/flagged"
	"github.com/cunbo/cunbo/segment"
)

// Source is the flagged store as the uploader uses it (*flagged.Store).
type Source interface {
	List() []flagged.Segment
	Dir(id string) string
	SetStatus(id string, st flagged.Status) error
}

// Defaults and bounds.
const (
	DefaultChunk  = 1 << 20
	DefaultRescan = 60 * time.Second
	// ClipDueRescan is the idle rescan while a segment waits for its clip.
	ClipDueRescan  = 2 * time.Second
	MinRescan      = 30 * time.Second
	DefaultBackoff = time.Second
	DefaultMaxWait = 5 * time.Minute
)

// Config sets up an Uploader.
type Config struct {
	// URL is the review service (e.g. https://review.example.org/).
	URL string
	Key ed25519.PrivateKey
	// Dir holds the queue (e.g. /var/lib/cunbo/upload).
	Dir string
	// Source is the flagged store; nil sends session records only.
	Source Source
	// HTTPClient defaults to one with sane timeouts for a weak link.
	HTTPClient *http.Client
	// Chunk is the most one PATCH sends (default 1 MiB): each acknowledged
	// chunk is progress a dropped link does not take back.
	Chunk int64
	// Rescan is how often an idle uploader looks for work it was not told
	// about (a clip attached late); at least MinRescan.
	Rescan time.Duration
	// MinBackoff and MaxBackoff bound the wait after a network or server
	// error (doubling, with jitter).
	MinBackoff, MaxBackoff time.Duration
	Logger                 *slog.Logger
	Now                    func() time.Time
}

// Status is the uploader's state for the phone page.
type Status struct {
	// Pending counts segments and session records waiting to be sent.
	Pending int
	// Failed counts those the service refused for good; they stay on the
	// box for her social worker.
	Failed int
	// Uploaded counts what was sent since start.
	Uploaded uint64
	// LastError is the latest problem in plain Chinese ("" after a
	// success).
	LastError string
	// Paused: the box is live, nothing is sent.
	Paused bool
}

// Summary is the phone page's one line, e.g. "有 3 段等上传（网络不通）";
// "" when nothing waits.
func (s Status) Summary() string {
	var b strings.Builder
	if s.Pending > 0 {
		why := "正在上传"
		switch {
		case s.Paused:
			why = "下播后再传"
		case s.LastError != "":
			why = s.LastError
		}
		fmt.Fprintf(&b, "有 %d 段等上传（%s）", s.Pending, why)
	}
	if s.Failed > 0 {
		if b.Len() > 0 {
			b.WriteString("；")
		}
		fmt.Fprintf(&b, "有 %d 段传不上去，留在盒子里", s.Failed)
	}
	return b.String()
}

// Plain-Chinese reasons shown on the phone page.
const (
	noteNetwork = "网络不通"
	noteServer  = "审核服务暂时出问题"
	noteSignIn  = "盒子还没登记或已停用，请找培训老师"
	noteRefused = "有一段审核服务不收"
)

// Uploader is the upload queue and its sender. Create it with New, start
// it with Run; SetLive and Notify may be called from any goroutine.
type Uploader struct {
	cfg    Config
	log    *slog.Logger
	client *client
	q      *queue // Run's goroutine only
	wake   chan struct{}

	mu         sync.Mutex
	live       bool
	cancelSend context.CancelFunc
	failed     map[string]bool // kind/id refused for good
	sessions   int
	uploaded   uint64
	lastErr    string
}

// New opens the queue in cfg.Dir. A damaged queue.json is set aside and
// logged; nothing pending is lost (the flagged store still says pending).
func New(cfg Config) (*Uploader, error) {
	base, err := url.Parse(cfg.URL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("upload: review url %q is not an http(s) URL", cfg.URL)
	}
	if len(cfg.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("upload: no box key")
	}
	if cfg.Dir == "" {
		return nil, errors.New("upload: Config.Dir is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment, TLSHandshakeTimeout: 30 * time.Second,
			ResponseHeaderTimeout: 2 * time.Minute, IdleConnTimeout: 90 * time.Second,
		}}
	}
	if cfg.Chunk <= 0 {
		cfg.Chunk = DefaultChunk
	}
	if cfg.Rescan == 0 {
		cfg.Rescan = DefaultRescan
	}
	cfg.Rescan = max(cfg.Rescan, MinRescan)
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxWait
	}
	q, qerr := openQueue(cfg.Dir)
	if q == nil {
		return nil, qerr
	}
	if qerr != nil {
		cfg.Logger.Error("upload queue damaged, set aside; pending uploads start again", "err", qerr)
	}
	if !strings.HasSuffix(base.Path, "/") {
		base.Path += "/"
	}
	pub := cfg.Key.Public().(ed25519.PublicKey)
	u := &Uploader{
		cfg: cfg, log: cfg.Logger, q: q, wake: make(chan struct{}, 1), failed: map[string]bool{},
		client: &client{base: base, http: cfg.HTTPClient, key: cfg.Key, box: BoxID(pub), now: cfg.Now},
	}
	for k, it := range q.items {
		if it.Failed {
			u.failed[k] = true
		}
	}
	if ids, err := q.sessions(); err == nil {
		u.sessions = len(ids)
	}
	return u, nil
}

// BoxID is this box's id at the review service.
func (u *Uploader) BoxID() string { return u.client.box }

// Notify says there may be something new to send (a segment written or
// its clip attached). It never blocks.
func (u *Uploader) Notify() {
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

// SetLive pauses uploads while the box is live, starting or reconnecting
// (an upload in flight is cut off at once), and resumes them when it is
// idle again.
func (u *Uploader) SetLive(live bool) {
	u.mu.Lock()
	was := u.live
	u.live = live
	if live && u.cancelSend != nil {
		u.cancelSend()
	}
	u.mu.Unlock()
	if was && !live {
		u.Notify()
	}
}

// Status is the uploader's state now.
func (u *Uploader) Status() Status {
	u.mu.Lock()
	st := Status{Failed: len(u.failed), Uploaded: u.uploaded, LastError: u.lastErr, Paused: u.live,
		Pending: u.sessions}
	failed := make(map[string]bool, len(u.failed))
	for k := range u.failed {
		failed[k] = true
	}
	u.mu.Unlock()
	if u.cfg.Source != nil {
		for _, s := range u.cfg.Source.List() {
			if s.Status == flagged.StatusPending && !failed[KindSegment+"/"+s.ID] {
				st.Pending++
			}
		}
	}
	return st
}

// AddSession queues a session record (written atomically into the queue;
// sent when the box is idle). Without an ID it gets one; without Segments,
// the flagged segments of its time span.
func (u *Uploader) AddSession(rec segment.Session) error {
	rec.Version = segment.SessionVersion
	if rec.ID == "" {
		rec.ID = segment.NewSessionID(rec.Start)
	}
	if rec.Segments == nil && u.cfg.Source != nil {
		for _, s := range u.cfg.Source.List() {
			if !s.At.Before(rec.Start) && !s.At.After(rec.End) {
				rec.Segments = append(rec.Segments, s.ID)
			}
		}
	}
	if !segment.ValidSessionID(rec.ID) {
		return fmt.Errorf("upload: bad session id %q", rec.ID)
	}
	data, err := json.Marshal(&rec)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	if err := atomicfile.WriteFile(u.q.sessionPath(rec.ID), data, 0o640); err != nil {
		return fmt.Errorf("upload: session %s: %w", rec.ID, err)
	}
	u.mu.Lock()
	u.sessions++
	u.mu.Unlock()
	u.Notify()
	return nil
}

// work is one thing to send.
type work struct {
	kind, id string
	build    func(context.Context) (*body, error)
}

// errPaused ends an attempt cut off because the box went live.
var errPaused = errors.New("upload: paused while live")

// Run sends until ctx ends.
func (u *Uploader) Run(ctx context.Context) error {
	backoff := u.cfg.MinBackoff
	for {
		if err := u.waitIdle(ctx); err != nil {
			return err
		}
		w, clipsDue := u.next()
		if w == nil {
			// The store does not say when a clip is attached; one is due
			// seconds after the live ends, so look again soon rather
			// than keep her social worker waiting a whole rescan.
			wait := u.cfg.Rescan
			if clipsDue {
				wait = min(wait, ClipDueRescan)
			}
			if err := u.sleep(ctx, wait, u.wake); err != nil {
				return err
			}
			continue
		}
		err := u.attempt(ctx, w)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err == nil:
			backoff = u.cfg.MinBackoff
		case errors.Is(err, errPaused):
			u.log.Info("upload paused: the box is live", "kind", w.kind, "id", w.id)
		default:
			u.setErr(err)
			// Half the wait fixed, half random, so a fleet coming back
			// after an outage does not retry in step.
			d := backoff/2 + rand.N(backoff/2+1)
			u.log.Warn("upload failed; retrying", "kind", w.kind, "id", w.id, "in", d.Round(time.Millisecond), "err", err)
			if err := u.sleep(ctx, d, nil); err != nil {
				return err
			}
			backoff = min(2*backoff, u.cfg.MaxBackoff)
		}
	}
}

func (u *Uploader) setErr(err error) {
	note := noteNetwork
	var re *reqError
	if errors.As(err, &re) {
		switch {
		case re.kind == errSignIn:
			note = noteSignIn
		case re.status >= 500:
			note = noteServer
		case re.kind == errPermanent:
			note = noteRefused
		}
	}
	u.mu.Lock()
	u.lastErr = note
	u.mu.Unlock()
}

// waitIdle returns once the box is not live.
func (u *Uploader) waitIdle(ctx context.Context) error {
	for {
		u.mu.Lock()
		live := u.live
		u.mu.Unlock()
		if !live {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-u.wake:
		}
	}
}

// sleep waits d, or until wake (when not nil) fires.
func (u *Uploader) sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	case <-wake:
	}
	return nil
}

// next picks what to send: segments oldest first, then session records;
// clipsDue says a pending segment still waits for its clip. It also
// forgets queue entries whose segment is no longer waiting (uploaded, or
// deleted by the store's quota).
func (u *Uploader) next() (*work, bool) {
	var first *work
	clipsDue := false
	waiting := map[string]bool{}
	if src := u.cfg.Source; src != nil {
		for _, s := range src.List() {
			if s.Status != flagged.StatusPending {
				continue
			}
			key := KindSegment + "/" + s.ID
			waiting[key] = true
			// A segment goes once its clip is attached, or settled
			// without one (ClipError, or no recording at all).
			clipsDue = clipsDue || s.ClipPending != nil
			if s.ClipPending != nil || first != nil {
				continue
			}
			if it := u.q.get(KindSegment, s.ID); it != nil && it.Failed {
				continue
			}
			dir := src.Dir(s.ID)
			first = &work{kind: KindSegment, id: s.ID, build: func(ctx context.Context) (*body, error) {
				b, _, err := segmentBody(ctx, dir)
				return b, err
			}}
		}
	}
	ids, err := u.q.sessions()
	if err != nil {
		u.log.Error("upload: list session records", "err", err)
	}
	for _, id := range ids {
		key := KindSession + "/" + id
		waiting[key] = true
		if first != nil {
			continue
		}
		if it := u.q.get(KindSession, id); it != nil && it.Failed {
			continue
		}
		path := u.q.sessionPath(id)
		first = &work{kind: KindSession, id: id, build: func(context.Context) (*body, error) {
			data, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("upload: %w", err)
			}
			return bytesBody(data), nil
		}}
	}
	for k, it := range u.q.items {
		if !waiting[k] {
			if err := u.q.drop(it.Kind, it.ID); err != nil {
				u.log.Error("upload: queue", "err", err)
			}
			u.mu.Lock()
			delete(u.failed, k)
			u.mu.Unlock()
		}
	}
	u.mu.Lock()
	u.sessions = len(ids)
	u.mu.Unlock()
	return first, clipsDue
}

// attempt sends one item under a context that SetLive(true) cancels.
func (u *Uploader) attempt(ctx context.Context, w *work) error {
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	u.mu.Lock()
	if u.live {
		u.mu.Unlock()
		return errPaused
	}
	u.cancelSend = cancel
	u.mu.Unlock()
	defer func() {
		u.mu.Lock()
		u.cancelSend = nil
		u.mu.Unlock()
	}()
	err := u.send(actx, w)
	if err != nil && ctx.Err() == nil && actx.Err() != nil {
		return errPaused
	}
	return err
}

// send uploads one item, resuming a started upload, and records the
// outcome: sent (the store says uploaded), refused for good (kept, not
// resent), or an error to retry.
func (u *Uploader) send(ctx context.Context, w *work) error {
	b, err := w.build(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return u.refuse(&item{Kind: w.kind, ID: w.id}, err.Error())
	}
	it := u.q.get(w.kind, w.id)
	if it == nil || it.SHA256 != b.sum || it.Size != b.size {
		// New, or changed since its upload started (a finding joined):
		// the old upload can never complete with this body.
		it = &item{Kind: w.kind, ID: w.id, SHA256: b.sum, Size: b.size}
	}
	err = u.push(ctx, it, b)
	if kindOf(err) == errAuth {
		// The token expired or the service forgot it: sign in once more.
		u.client.token = ""
		err = u.push(ctx, it, b)
	}
	switch kindOf(err) {
	case errPermanent:
		var re *reqError
		errors.As(err, &re)
		return u.refuse(it, re.message)
	case errGone:
		it.Location = ""
		if qerr := u.q.put(it); qerr != nil {
			return qerr
		}
	}
	if err != nil {
		return err
	}
	if w.kind == KindSegment {
		if err := u.cfg.Source.SetStatus(w.id, flagged.StatusUploaded); err != nil && !errors.Is(err, flagged.ErrNotFound) {
			return fmt.Errorf("upload: segment %s sent but not marked: %w", w.id, err)
		}
	} else if err := os.Remove(u.q.sessionPath(w.id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("upload: session %s sent but not removed: %w", w.id, err)
	}
	if err := u.q.drop(w.kind, w.id); err != nil {
		return err
	}
	u.mu.Lock()
	u.uploaded++
	u.lastErr = ""
	u.mu.Unlock()
	u.log.Info("uploaded", "kind", w.kind, "id", w.id, "bytes", b.size)
	return nil
}

// refuse keeps an item on the box for good; it is never sent again.
func (u *Uploader) refuse(it *item, msg string) error {
	u.log.Error("upload refused for good; kept on the box", "kind", it.Kind, "id", it.ID, "reason", msg)
	it.Failed, it.Error, it.Location = true, msg, ""
	if it.SHA256 == "" {
		it.SHA256 = strings.Repeat("0", 64)
	}
	u.mu.Lock()
	u.failed[it.key()] = true
	u.lastErr = noteRefused
	u.mu.Unlock()
	return u.q.put(it)
}

// push sends the body from the server's offset on.
func (u *Uploader) push(ctx context.Context, it *item, b *body) error {
	c := u.client
	if err := c.ensureToken(ctx); err != nil {
		return err
	}
	var off int64
	if it.Location != "" {
		var err error
		off, err = c.offset(ctx, it.Location)
		if kindOf(err) == errGone {
			u.log.Info("upload unknown to the server; starting again", "kind", it.Kind, "id", it.ID)
			it.Location = ""
		} else if err != nil {
			return err
		}
	}
	if it.Location == "" {
		loc, err := c.create(ctx, it)
		if err != nil {
			return err
		}
		it.Location, off = loc, 0
		if err := u.q.put(it); err != nil {
			return err
		}
	}
	if off > b.size {
		return &reqError{kind: errGone, err: fmt.Errorf("upload: server has %d bytes of %d", off, b.size)}
	}
	if off > 0 {
		u.log.Info("upload resumes", "kind", it.Kind, "id", it.ID, "offset", off, "of", b.size)
	}
	var r io.ReadCloser
	defer func() {
		if r != nil {
			r.Close()
		}
	}()
	at := int64(-1) // where r is
	for off < b.size {
		if at != off {
			if r != nil {
				r.Close()
			}
			var err error
			if r, err = b.reader(ctx, off); err != nil {
				return err
			}
			at = off
		}
		// A slow link can outlast a token: renew it between chunks
		// rather than lose a chunk to a 401.
		if err := c.ensureToken(ctx); err != nil {
			return err
		}
		n := min(u.cfg.Chunk, b.size-off)
		got, err := c.patch(ctx, it.Location, off, r, n)
		at += n
		if err != nil {
			return err
		}
		if got <= off || got > b.size {
			return fmt.Errorf("upload: server offset %d after a PATCH at %d", got, off)
		}
		off = got
	}
	return nil
}

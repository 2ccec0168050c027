package provision

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cunbo/cunbo/bundle"
	"github.com/cunbo/cunbo/firmware/atomicfile"
)

// Names in the store's folder and in each version's.
const (
	CurrentLink  = "current"
	PreviousLink = "previous"
	VersionsDir  = "versions"
	TrustFile    = "trust.json"
	StateFile    = "state.json"
	SecretsFile  = "secrets.json"
	ManifestFile = "manifest.json"
	ReadyFile    = "READY"
	// RootFile is the root public key (hex) a new box takes from the stick.
	RootFile = "root.pub"
)

// ErrNoRoot is Apply's error for a box that trusts no root yet and was
// given none.
var ErrNoRoot = errors.New("provision: the box trusts no root key yet")

// Options configure a Store.
type Options struct {
	Dir    string
	Now    func() time.Time
	Logger *slog.Logger
	// hook is called at each step of Apply (power-cut tests).
	hook func(step string)
}

// Store is the box's provisioned configurations. Its methods are safe
// for concurrent use.
type Store struct {
	dir  string
	now  func() time.Time
	log  *slog.Logger
	hook func(string)

	mu sync.Mutex
}

// Version is one applied configuration.
type Version struct {
	Number uint64
	Dir    string // the version's folder: config.toml, catalogue/, rules/, scenarios/, secrets.json
	Ready  bool   // it came up ready once
}

// ConfigPath is the version's config.toml.
func (v Version) ConfigPath() string { return filepath.Join(v.Dir, bundle.ConfigFile) }

// ScenariosDir is the version's practice scenarios folder; it does not
// exist when the bundle carried none.
func (v Version) ScenariosDir() string { return filepath.Join(v.Dir, bundle.ScenariosDir) }

// Secrets reads the version's secrets (Wi-Fi, stream keys, PIN).
func (v Version) Secrets() (bundle.Secrets, error) {
	var s bundle.Secrets
	data, err := os.ReadFile(filepath.Join(v.Dir, SecretsFile))
	if err != nil {
		return s, fmt.Errorf("provision: %w", err)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("provision: %s: %w", SecretsFile, err)
	}
	return s, nil
}

// Outcome is what became of the last bundle or trial, for the phone page
// and the journal.
type Outcome struct {
	At      time.Time `json:"at"`
	Version uint64    `json:"version,omitempty"`
	// OK: the new configuration is in use (or about to be, after the
	// restart that Pending asks for).
	OK      bool `json:"ok"`
	Pending bool `json:"pending,omitempty"`
	// Kind is the bundle refusal's kind, "rollback", or "" for success.
	Kind string `json:"kind,omitempty"`
	// Message is plain Chinese for the phone page.
	Message string `json:"message"`
	// Reason is English, for the journal.
	Reason string `json:"reason,omitempty"`
	// FirstTrust: this bundle made the box trust its root.
	FirstTrust bool `json:"first_trust,omitempty"`
}

// trial is a version switched in that has not come up ready yet.
type trial struct {
	Version uint64    `json:"version"`
	Since   time.Time `json:"since"`
}

type state struct {
	// Tried is the highest version ever switched in, whether it came up
	// or was rolled back: a bundle that failed is not taken again from a
	// stick still in the box.
	Tried   uint64   `json:"tried"`
	Trial   *trial   `json:"trial,omitempty"`
	Outcome *Outcome `json:"outcome,omitempty"`
}

type trustFile struct {
	Root        string              `json:"root"`
	Revocations *bundle.Revocations `json:"revocations,omitempty"`
}

// Open opens (creating) the store in o.Dir and removes what a power cut
// during Apply left behind.
func Open(o Options) (*Store, error) {
	if o.Dir == "" {
		return nil, errors.New("provision: no folder")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.hook == nil {
		o.hook = func(string) {}
	}
	s := &Store{dir: o.Dir, now: o.Now, log: o.Logger, hook: o.hook}
	if err := os.MkdirAll(filepath.Join(o.Dir, VersionsDir), 0o750); err != nil {
		return nil, fmt.Errorf("provision: %w", err)
	}
	if err := s.tidy(); err != nil {
		return nil, err
	}
	return s, nil
}

// tidy removes temp folders and links, and versions neither current nor
// previous links to: a power cut may leave a staged version that was never
// switched in.
func (s *Store) tidy() error {
	for _, d := range []string{s.dir, filepath.Join(s.dir, VersionsDir)} {
		des, err := os.ReadDir(d)
		if err != nil {
			return fmt.Errorf("provision: %w", err)
		}
		for _, de := range des {
			if strings.HasPrefix(de.Name(), ".") {
				if err := os.RemoveAll(filepath.Join(d, de.Name())); err != nil {
					return fmt.Errorf("provision: tidy: %w", err)
				}
			}
		}
	}
	keep := map[string]bool{}
	for _, l := range []string{CurrentLink, PreviousLink} {
		if n, ok := s.link(l); ok {
			keep[versionName(n)] = true
		}
	}
	des, err := os.ReadDir(filepath.Join(s.dir, VersionsDir))
	if err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	for _, de := range des {
		if !keep[de.Name()] {
			if err := os.RemoveAll(filepath.Join(s.dir, VersionsDir, de.Name())); err != nil {
				return fmt.Errorf("provision: tidy: %w", err)
			}
		}
	}
	return atomicfile.SyncDir(filepath.Join(s.dir, VersionsDir))
}

func versionName(n uint64) string { return "v" + strconv.FormatUint(n, 10) }

// link reads the version a link names; false when there is none or it
// names nothing the store made.
func (s *Store) link(name string) (uint64, bool) {
	target, err := os.Readlink(filepath.Join(s.dir, name))
	if err != nil {
		return 0, false
	}
	rest, ok := strings.CutPrefix(target, VersionsDir+"/v")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(rest, 10, 64)
	if err != nil || n == 0 {
		return 0, false
	}
	return n, true
}

func (s *Store) version(n uint64) Version {
	v := Version{Number: n, Dir: filepath.Join(s.dir, VersionsDir, versionName(n))}
	_, err := os.Stat(filepath.Join(v.Dir, ReadyFile))
	v.Ready = err == nil
	return v
}

// Current is the configuration in use; false for none (the box runs on
// its factory configuration).
func (s *Store) Current() (Version, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.link(CurrentLink)
	if !ok {
		return Version{}, false
	}
	return s.version(n), true
}

// Have is the version a new bundle must be newer than.
func (s *Store) Have() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.readState()
	n, _ := s.link(CurrentLink)
	return max(st.Tried, n)
}

// Outcome is the last outcome kept; nil for none yet.
func (s *Store) Outcome() *Outcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.readState().Outcome
}

// SetOutcome keeps o as the last outcome (a refused bundle: nothing else
// changes).
func (s *Store) SetOutcome(o Outcome) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.readState()
	st.Outcome = &o
	return s.writeState(st)
}

// Trust is what the box trusts; ok is false before its first bundle.
func (s *Store) Trust() (t bundle.Trust, ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tf, ok, err := s.readTrust()
	if err != nil || !ok {
		return bundle.Trust{}, false, err
	}
	root, err := bundle.ParsePublicKeyHex(tf.Root)
	if err != nil {
		return bundle.Trust{}, false, fmt.Errorf("provision: %s: %w", TrustFile, err)
	}
	return bundle.Trust{Root: root, Revocations: tf.Revocations}, true, nil
}

func (s *Store) readTrust() (trustFile, bool, error) {
	var tf trustFile
	data, err := os.ReadFile(filepath.Join(s.dir, TrustFile))
	if errors.Is(err, fs.ErrNotExist) {
		return tf, false, nil
	}
	if err != nil {
		return tf, false, fmt.Errorf("provision: %w", err)
	}
	if err := json.Unmarshal(data, &tf); err != nil {
		// Never fall back to trusting anyone: a damaged file keeps
		// every bundle out until a trainer looks.
		return tf, false, fmt.Errorf("provision: %s is damaged: %w", TrustFile, err)
	}
	return tf, true, nil
}

// readState reads state.json; a missing or damaged one is an empty state
// (what it holds can be rebuilt: Have also looks at current).
func (s *Store) readState() state {
	var st state
	data, err := os.ReadFile(filepath.Join(s.dir, StateFile))
	if err != nil {
		return st
	}
	if err := json.Unmarshal(data, &st); err != nil {
		s.log.Warn("provision: state file damaged, starting afresh", "err", err)
		return state{}
	}
	return st
}

func (s *Store) writeState(st state) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(s.dir, StateFile), data, 0o600); err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	return nil
}

// Apply writes the verified bundle v as the next configuration and
// switches it in, to be used from the next start. key is the box's own
// key (it opens the secrets); root is the root v was verified with, kept
// when the box trusted none before. Nothing the box uses changes unless
// Apply succeeds, and after a power cut at any point current names a
// whole configuration, old or new.
func (s *Store) Apply(v *bundle.Verified, key ed25519.PrivateKey, root ed25519.PublicKey) (Version, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := v.Manifest.Version
	cur, haveCur := s.link(CurrentLink)
	st := s.readState()
	if have := max(st.Tried, cur); n <= have {
		// bundle.Open checked it against what the caller said; this is
		// the store's own word.
		return Version{}, &bundle.Error{Kind: bundle.Replay, Reason: fmt.Sprintf("version %d, the box has %d", n, have)}
	}
	secrets, err := v.Secrets(key)
	if err != nil {
		return Version{}, err
	}
	s.hook("secrets")

	tf, trusted, err := s.readTrust()
	if err != nil {
		return Version{}, err
	}
	firstTrust := !trusted
	if trusted && tf.Root != bundle.PublicKeyHex(root) {
		return Version{}, &bundle.Error{Kind: bundle.UnknownSigner, Reason: "verified with another root than the box trusts"}
	}
	if firstTrust || v.NewRevocations {
		tf.Root, tf.Revocations = bundle.PublicKeyHex(root), v.Revocations
		data, err := json.MarshalIndent(tf, "", "  ")
		if err != nil {
			return Version{}, fmt.Errorf("provision: %w", err)
		}
		// Before the switch: a power cut after it leaves the box trusting
		// the root of a bundle it can apply again from the same stick.
		if err := atomicfile.WriteFile(filepath.Join(s.dir, TrustFile), data, 0o600); err != nil {
			return Version{}, fmt.Errorf("provision: %w", err)
		}
	}
	s.hook("trust")

	versions := filepath.Join(s.dir, VersionsDir)
	stage, err := os.MkdirTemp(versions, ".stage-")
	if err != nil {
		return Version{}, fmt.Errorf("provision: %w", err)
	}
	defer os.RemoveAll(stage) // gone after the rename; a leftover after a failure
	s.hook("stage")
	files := map[string][]byte{bundle.ConfigFile: v.Config()}
	for name, data := range v.Catalogue() {
		files[bundle.CatalogueDir+"/"+name] = data
	}
	for name, data := range v.Rules() {
		files[bundle.RulesDir+"/"+name] = data
	}
	// Practice scenarios land beside the rule pack, in the same staged
	// folder, so they switch in and roll back with it.
	for name, data := range v.Scenarios() {
		files[bundle.ScenariosDir+"/"+name] = data
	}
	manifest, err := json.MarshalIndent(v.Manifest, "", "  ")
	if err != nil {
		return Version{}, fmt.Errorf("provision: %w", err)
	}
	files[ManifestFile] = manifest
	secretJSON, err := json.Marshal(secrets)
	if err != nil {
		return Version{}, fmt.Errorf("provision: %w", err)
	}
	dirs := map[string]bool{stage: true}
	for _, p := range slices.Sorted(mapsKeys(files)) {
		if err := writeSynced(stage, p, files[p], 0o640, dirs); err != nil {
			return Version{}, err
		}
		s.hook("file")
	}
	if err := writeSynced(stage, SecretsFile, secretJSON, 0o600, dirs); err != nil {
		return Version{}, err
	}
	// Deepest first, so each folder's entry is durable in its parent.
	for _, d := range slices.SortedFunc(mapsKeys(dirs), func(a, b string) int { return len(b) - len(a) }) {
		if err := atomicfile.SyncDir(d); err != nil {
			return Version{}, fmt.Errorf("provision: %w", err)
		}
	}
	s.hook("staged")
	final := filepath.Join(versions, versionName(n))
	if err := os.RemoveAll(final); err != nil { // a version tried before and rolled back, tidied late
		return Version{}, fmt.Errorf("provision: %w", err)
	}
	if err := os.Rename(stage, final); err != nil {
		return Version{}, fmt.Errorf("provision: %w", err)
	}
	if err := atomicfile.SyncDir(versions); err != nil {
		return Version{}, fmt.Errorf("provision: %w", err)
	}
	s.hook("renamed")
	if haveCur {
		if err := s.setLink(PreviousLink, cur); err != nil {
			return Version{}, err
		}
	}
	s.hook("previous")
	if err := s.setLink(CurrentLink, n); err != nil {
		return Version{}, err
	}
	s.hook("switched")
	st.Tried = n
	st.Trial = nil
	st.Outcome = &Outcome{At: s.now(), Version: n, OK: true, Pending: true, FirstTrust: firstTrust,
		Message: fmt.Sprintf("⏳ 新设置 (第 %d 版) 已放好，盒子马上重新启动来用上它", n)}
	if err := s.writeState(st); err != nil {
		// The switch is done and Have sees it through current.
		s.log.Warn("provision: state not kept", "err", err)
	}
	s.hook("state")
	s.dropOld(n, cur)
	s.log.Info("provision: bundle applied", "version", n, "previous", cur, "trainer", v.Trainer.Name,
		"first_trust", firstTrust)
	return s.version(n), nil
}

// dropOld removes versions other than the current and previous ones.
func (s *Store) dropOld(keep ...uint64) {
	names := map[string]bool{}
	for _, n := range keep {
		names[versionName(n)] = true
	}
	des, _ := os.ReadDir(filepath.Join(s.dir, VersionsDir))
	for _, de := range des {
		if !names[de.Name()] && !strings.HasPrefix(de.Name(), ".") {
			_ = os.RemoveAll(filepath.Join(s.dir, VersionsDir, de.Name()))
		}
	}
}

// setLink points name at version n with one rename of a new symlink.
func (s *Store) setLink(name string, n uint64) error {
	tmp := filepath.Join(s.dir, "."+name+"-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	if err := os.Symlink(VersionsDir+"/"+versionName(n), tmp); err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, name)); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("provision: %w", err)
	}
	if err := atomicfile.SyncDir(s.dir); err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	return nil
}

func (s *Store) removeLink(name string) error {
	if err := os.Remove(filepath.Join(s.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("provision: %w", err)
	}
	return atomicfile.SyncDir(s.dir)
}

// writeSynced writes dir/p (p slash-separated, checked by bundle) and
// fsyncs it, noting the folders it made.
func writeSynced(dir, p string, data []byte, perm os.FileMode, dirs map[string]bool) error {
	path := filepath.Join(dir, filepath.FromSlash(p))
	parent := filepath.Dir(path)
	if !dirs[parent] {
		if err := os.MkdirAll(parent, 0o750); err != nil {
			return fmt.Errorf("provision: %w", err)
		}
		for d := parent; d != dir && !dirs[d]; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("provision: write %s: %w", p, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("provision: sync %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	return nil
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// Check re-reads a version against its manifest: every file there, of its
// size and SHA-256, and the secrets readable. The box runs it before using
// a version, so a card that lost data shows as a problem, not as a
// half-configured box.
func Check(v Version) error {
	data, err := os.ReadFile(filepath.Join(v.Dir, ManifestFile))
	if err != nil {
		return fmt.Errorf("provision: version %d: %w", v.Number, err)
	}
	var m bundle.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("provision: version %d: manifest: %w", v.Number, err)
	}
	if m.Version != v.Number {
		return fmt.Errorf("provision: folder of version %d holds version %d", v.Number, m.Version)
	}
	for _, f := range m.Files {
		if strings.HasPrefix(f.Path, bundle.SecretsDir+"/") {
			continue // sealed secrets are not kept; secrets.json is
		}
		got, err := os.ReadFile(filepath.Join(v.Dir, filepath.FromSlash(f.Path)))
		if err != nil {
			return fmt.Errorf("provision: version %d: %w", v.Number, err)
		}
		sum := sha256.Sum256(got)
		if int64(len(got)) != f.Size || hex.EncodeToString(sum[:]) != f.SHA256 {
			return fmt.Errorf("provision: version %d: %s differs from its manifest", v.Number, f.Path)
		}
	}
	if _, err := v.Secrets(); err != nil {
		return fmt.Errorf("provision: version %d: %w", v.Number, err)
	}
	return nil
}

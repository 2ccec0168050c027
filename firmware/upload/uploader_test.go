package upload

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cunbo/cunbo/firmware/flagged"
	"github.com/cunbo/cunbo/segment"
)

type fixture struct {
	t     *testing.T
	key   ed25519.PrivateKey
	store *flagged.Store
	srv   *tusServer
	qdir  string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	st, err := flagged.Open(flagged.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, key: key, store: st, srv: newTUSServer(t, key.Public().(ed25519.PublicKey)), qdir: t.TempDir()}
}

func (f *fixture) uploader(mod func(*Config)) *Uploader {
	f.t.Helper()
	cfg := Config{URL: f.srv.srv.URL, Key: f.key, Dir: f.qdir, Source: f.store, Logger: testLogger(f.t),
		Chunk: 64 << 10, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	u, err := New(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	return u
}

var t0 = time.Date(2026, 12, 6, 9, 30, 0, 0, time.UTC)

// segment stores a mark segment; with clipBytes > 0 it has a clip of that
// size (an MP4 header, then random bytes).
func (f *fixture) segment(at time.Time, clipBytes int) flagged.Segment {
	f.t.Helper()
	seg := flagged.Segment{Reason: flagged.ReasonMark, Device: "box-1", At: at}
	var write func(string) (*flagged.Clip, error)
	if clipBytes > 0 {
		write = func(path string) (*flagged.Clip, error) {
			data := make([]byte, clipBytes)
			rand.Read(data)
			copy(data, "\x00\x00\x00\x18ftypisom")
			if err := os.WriteFile(path, data, 0o644); err != nil {
				return nil, err
			}
			return &flagged.Clip{Start: at.Add(-5 * time.Second), End: at.Add(5 * time.Second), Bytes: int64(clipBytes)}, nil
		}
	}
	s, err := f.store.Create(seg, write)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

func (f *fixture) status(id string) flagged.Status {
	s, err := f.store.Get(id)
	if err != nil {
		f.t.Fatal(err)
	}
	return s.Status
}

// checkTar reads an uploaded segment body back and compares it with the
// files on the box.
func (f *fixture) checkTar(body []byte, id string) {
	f.t.Helper()
	tr := tar.NewReader(bytes.NewReader(body))
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			f.t.Fatalf("uploaded tar: %v", err)
		}
		got, _ := io.ReadAll(tr)
		if h.Name == flagged.ClipFile {
			want, err := os.ReadFile(filepath.Join(f.store.Dir(id), h.Name))
			if err != nil || !bytes.Equal(got, want) {
				f.t.Fatalf("uploaded %s differs from the box's (%d vs %d bytes)", h.Name, len(got), len(want))
			}
		}
		names = append(names, h.Name)
	}
	if strings.Join(names, ",") != "segment.json,clip.mp4" {
		f.t.Fatalf("tar entries %v, want segment.json then clip.mp4", names)
	}
}

func TestUploadsSegmentsAndSessions(t *testing.T) {
	f := newFixture(t)
	withClip := f.segment(t0, 300<<10)
	noClip := f.segment(t0.Add(time.Minute), 0)
	pending := f.store // a segment still waiting for its clip is not sent
	waiting, err := pending.Create(flagged.Segment{Reason: flagged.ReasonMark, At: t0.Add(2 * time.Minute),
		ClipPending: &flagged.Range{From: t0.Add(2 * time.Minute), To: t0.Add(3 * time.Minute)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	u := f.uploader(nil)
	if err := u.AddSession(segment.Session{ID: "s1", Device: "box-1", Start: t0, End: t0.Add(time.Hour), Findings: 2}); err != nil {
		t.Fatal(err)
	}
	run(t, u)
	waitFor(t, 20*time.Second, "both segments and the session uploaded", func() bool {
		return f.status(withClip.ID) == flagged.StatusUploaded && f.status(noClip.ID) == flagged.StatusUploaded &&
			f.srv.body(KindSession, "s1") != nil && u.Status().Uploaded == 3
	})
	f.checkTar(f.srv.body(KindSegment, withClip.ID), withClip.ID)
	if f.status(waiting.ID) != flagged.StatusPending || f.srv.body(KindSegment, waiting.ID) != nil {
		t.Fatal("a segment still waiting for its clip was sent")
	}
	var rec segment.Session
	if err := json.Unmarshal(f.srv.body(KindSession, "s1"), &rec); err != nil || rec.Version != 1 || rec.Findings != 2 ||
		strings.Join(rec.Segments, ",") != withClip.ID+","+noClip.ID+","+waiting.ID {
		t.Fatalf("session record %+v, %v", rec, err)
	}
	if fileExists(u.q.sessionPath("s1")) {
		t.Fatal("a sent session record is still queued")
	}
	if st := u.Status(); st.Pending != 1 || st.Failed != 0 || st.Uploaded != 3 {
		t.Fatalf("status %+v, want 1 pending (the one waiting for its clip), 3 uploaded", st)
	}
	// The clip arrives, unannounced (the store has no hook): the segment
	// goes within seconds, not after a whole idle rescan (a minute).
	if _, err := f.store.AttachClip(waiting.ID, func(path string) (*flagged.Clip, error) {
		data := []byte("\x00\x00\x00\x18ftypisom-late-clip")
		return &flagged.Clip{Start: t0, End: t0.Add(time.Second), Bytes: int64(len(data))}, os.WriteFile(path, data, 0o644)
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*ClipDueRescan, "the late clip's segment uploaded", func() bool { return f.status(waiting.ID) == flagged.StatusUploaded })
}

// The same segment gives the same bytes every time the queue builds it.
func TestSegmentBodyDeterministic(t *testing.T) {
	f := newFixture(t)
	seg := f.segment(t0, 100<<10)
	a, _, err := segmentBody(context.Background(), f.store.Dir(seg.ID))
	if err != nil {
		t.Fatal(err)
	}
	// Touch the files: mtimes must not matter.
	later := time.Now().Add(time.Hour)
	os.Chtimes(f.store.ClipPath(seg.ID), later, later)
	b, _, err := segmentBody(context.Background(), f.store.Dir(seg.ID))
	if err != nil {
		t.Fatal(err)
	}
	if a.sum != b.sum || a.size != b.size {
		t.Fatalf("two builds differ: %s/%d vs %s/%d", a.sum, a.size, b.sum, b.size)
	}
	r, _ := a.reader(context.Background(), a.size-700)
	rest, _ := io.ReadAll(r)
	if int64(len(rest)) != 700 {
		t.Fatalf("reader from an offset gave %d bytes, want 700", len(rest))
	}
}

// A PATCH cut off mid-body: the box asks the server (HEAD) and sends only
// the rest, never from zero.
func TestInterruptedPatchResumesFromServerOffset(t *testing.T) {
	f := newFixture(t)
	seg := f.segment(t0, 512<<10)
	var cut atomic.Int32
	f.srv.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPatch || r.Header.Get("Upload-Offset") != "131072" || !cut.CompareAndSwap(0, 1) {
			return false
		}
		// Read part of the chunk, then drop the connection.
		io.CopyN(io.Discard, r.Body, 10000)
		hj, _ := w.(http.Hijacker)
		conn, _, _ := hj.Hijack()
		conn.Close()
		return true
	})
	u := f.uploader(nil)
	run(t, u)
	waitFor(t, 20*time.Second, "segment uploaded", func() bool { return f.status(seg.ID) == flagged.StatusUploaded })
	f.checkTar(f.srv.body(KindSegment, seg.ID), seg.ID)
	reqs := strings.Join(f.srv.requests(), "|")
	if cut.Load() != 1 || !strings.Contains(reqs, "PATCH 131072|HEAD |PATCH 131072") {
		t.Fatalf("after the cut, want HEAD then PATCH from the server's offset; requests: %s", reqs)
	}
	if n := strings.Count(reqs, "POST "); n != 1 {
		t.Fatalf("%d creations; the upload must resume, not restart: %s", n, reqs)
	}
}

// A box killed mid-upload: a new uploader on the same queue directory
// resumes the same upload from the server's offset.
func TestNewUploaderResumesSameUpload(t *testing.T) {
	f := newFixture(t)
	seg := f.segment(t0, 512<<10)
	var patches atomic.Int32
	block := make(chan struct{})
	f.srv.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPatch && patches.Add(1) == 3 {
			<-block // the third chunk hangs until the box is "killed"
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	a := f.uploader(nil)
	stopA := run(t, a)
	waitFor(t, 20*time.Second, "two chunks sent", func() bool { return patches.Load() >= 3 })
	stopA()
	close(block)
	f.srv.setFault(nil)
	if f.status(seg.ID) != flagged.StatusPending {
		t.Fatal("segment marked uploaded after a kill")
	}
	data, err := os.ReadFile(filepath.Join(f.qdir, StateFile))
	if err != nil || !strings.Contains(string(data), f.srv.srv.URL+"/api/uploads/") {
		t.Fatalf("queue.json does not keep the upload URL: %s %v", data, err)
	}
	b := f.uploader(nil)
	run(t, b)
	waitFor(t, 20*time.Second, "segment uploaded by the new uploader", func() bool { return f.status(seg.ID) == flagged.StatusUploaded })
	f.checkTar(f.srv.body(KindSegment, seg.ID), seg.ID)
	reqs := strings.Join(f.srv.requests(), "|")
	if n := strings.Count(reqs, "POST "); n != 1 || !strings.Contains(reqs, "HEAD |PATCH 131072") {
		t.Fatalf("want one creation and a resume at 131072 after HEAD: %s", reqs)
	}
}

// A token that the service stops accepting (expired, forgotten) mid-upload:
// the box signs in again once and carries on.
func TestExpiredTokenSignsInAgain(t *testing.T) {
	f := newFixture(t)
	seg := f.segment(t0, 256<<10)
	var patches atomic.Int32
	f.srv.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPatch && patches.Add(1) == 2 {
			f.srv.mu.Lock()
			clear(f.srv.tokens)
			f.srv.mu.Unlock()
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"token_expired","message":"token expired; sign in again"}`)
			return true
		}
		return false
	})
	u := f.uploader(nil)
	run(t, u)
	waitFor(t, 20*time.Second, "segment uploaded", func() bool { return f.status(seg.ID) == flagged.StatusUploaded })
	f.srv.mu.Lock()
	n := f.srv.signIns
	f.srv.mu.Unlock()
	if n != 2 {
		t.Fatalf("%d sign-ins, want 2 (one more after the 401)", n)
	}
	waitFor(t, 5*time.Second, "the upload counted", func() bool { return u.Status().Uploaded == 1 })
	if st := u.Status(); st.LastError != "" {
		t.Fatalf("last error %q after a recovered 401", st.LastError)
	}
}

// A token about to expire is renewed between chunks, before the service
// has to refuse it; the box's own clock may be years off (no real-time
// clock before NTP) without making it sign in for every chunk.
func TestTokenRenewal(t *testing.T) {
	for _, tc := range []struct {
		name        string
		start, jump time.Duration // the box's clock against the service's; the jump comes after the 2nd chunk
		signIns     int
	}{
		{"clock right", 0, 0, 1},
		{"clock years behind", -20 * 365 * 24 * time.Hour, 0, 1},
		{"clock a year ahead", 365 * 24 * time.Hour, 0, 1},
		{"token nearly expired mid-upload", 0, 14 * time.Minute, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			seg := f.segment(t0, 256<<10)
			var skew atomic.Int64
			skew.Store(int64(tc.start))
			var patches atomic.Int32
			f.srv.setFault(func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method == http.MethodPatch && patches.Add(1) == 2 {
					skew.Add(int64(tc.jump))
				}
				return false
			})
			u := f.uploader(func(c *Config) { c.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) } })
			run(t, u)
			waitFor(t, 20*time.Second, "segment uploaded", func() bool { return f.status(seg.ID) == flagged.StatusUploaded })
			f.srv.mu.Lock()
			signIns, refused := f.srv.signIns, f.srv.refused
			f.srv.mu.Unlock()
			if signIns != tc.signIns || refused != 0 {
				t.Fatalf("%d sign-ins and %d refusals, want %d and none", signIns, refused, tc.signIns)
			}
		})
	}
}

// 409: the service already has this id with other content. The segment
// stays on the box, marked failed in the queue, and is not sent again.
func TestConflictIsPermanent(t *testing.T) {
	f := newFixture(t)
	seg := f.segment(t0, 10<<10)
	f.srv.stored[KindSegment+"/"+seg.ID] = strings.Repeat("ab", 32)
	u := f.uploader(func(c *Config) { c.Rescan = MinRescan })
	run(t, u)
	waitFor(t, 20*time.Second, "the refusal recorded", func() bool { return u.Status().Failed == 1 })
	time.Sleep(300 * time.Millisecond) // a retry would come within the 200 ms max backoff
	if n := strings.Count(strings.Join(f.srv.requests(), "|"), "POST "); n != 1 {
		t.Fatalf("%d creations for a refused segment, want 1", n)
	}
	st := u.Status()
	if f.status(seg.ID) != flagged.StatusPending || st.Pending != 0 || st.Summary() != "有 1 段传不上去，留在盒子里" {
		t.Fatalf("status %+v (%q), store %s", st, st.Summary(), f.status(seg.ID))
	}
	data, _ := os.ReadFile(filepath.Join(f.qdir, StateFile))
	if !strings.Contains(string(data), `"failed": true`) || !strings.Contains(string(data), "already uploaded with other content") {
		t.Fatalf("queue.json does not keep the refusal: %s", data)
	}
	// A restart does not send it again either.
	u2 := f.uploader(nil)
	if st := u2.Status(); st.Failed != 1 {
		t.Fatalf("after a restart: %+v", st)
	}
}

// 5xx: retries back off, doubling with jitter, and the phone page says
// the service has a problem.
func TestServerErrorsBackOff(t *testing.T) {
	f := newFixture(t)
	seg := f.segment(t0, 10<<10)
	var fails atomic.Int32
	var mu sync.Mutex
	var times []time.Time
	f.srv.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPost {
			return false
		}
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		if fails.Add(1) <= 4 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	u := f.uploader(func(c *Config) { c.MinBackoff, c.MaxBackoff = 100*time.Millisecond, 10*time.Second })
	run(t, u)
	waitFor(t, 5*time.Second, "a failed attempt shown", func() bool { return u.Status().LastError != "" })
	if got := u.Status().Summary(); got != "有 1 段等上传（审核服务暂时出问题）" {
		t.Fatalf("summary %q", got)
	}
	waitFor(t, 20*time.Second, "segment uploaded", func() bool { return f.status(seg.ID) == flagged.StatusUploaded })
	mu.Lock()
	defer mu.Unlock()
	// Waits are in [d/2, d] for d = 100, 200, 400, 800 ms.
	for i := 1; i < len(times) && i <= 4; i++ {
		gap, min := times[i].Sub(times[i-1]), (100*time.Millisecond<<(i-1))/2
		if gap < min {
			t.Errorf("retry %d came after %v, want at least %v", i, gap, min)
		}
	}
}

// Going live stops an upload in flight at once; nothing is sent while
// live; idle again, it resumes from the server's offset.
func TestLivePausesUploads(t *testing.T) {
	f := newFixture(t)
	seg := f.segment(t0, 1<<20)
	var inPatch atomic.Int32
	aborted := make(chan time.Time, 4)
	f.srv.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPatch || r.Header.Get("Upload-Offset") != "262144" || !inPatch.CompareAndSwap(0, 1) {
			return false
		}
		// A slow link: the chunk trickles in until the box hangs up.
		buf := make([]byte, 1024)
		for {
			if _, err := r.Body.Read(buf); err != nil {
				aborted <- time.Now()
				return true
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	paused := make(chan time.Time, 1)
	u := f.uploader(func(c *Config) {
		c.Logger = logTo(t, func(line string) {
			if strings.Contains(line, "upload paused") {
				paused <- time.Now()
			}
		})
	})
	run(t, u)
	waitFor(t, 20*time.Second, "the slow chunk started", func() bool { return inPatch.Load() == 1 })
	live := time.Now()
	u.SetLive(true)
	select {
	case at := <-paused:
		t.Logf("going live stopped the upload in flight in %v", at.Sub(live))
		if d := at.Sub(live); d > 2*time.Second {
			t.Fatalf("the upload in flight stopped %v after going live", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the upload in flight was not stopped when the box went live")
	}
	// The server sees the connection end once it has read what was
	// already in the socket's buffers.
	select {
	case <-aborted:
	case <-time.After(20 * time.Second):
		t.Fatal("the server never saw the PATCH end")
	}
	before := len(f.srv.requests())
	time.Sleep(500 * time.Millisecond)
	if after := f.srv.requests(); len(after) != before {
		t.Fatalf("requests while live: %v", after[before:])
	}
	if st := u.Status(); !st.Paused || st.Summary() != "有 1 段等上传（下播后再传）" {
		t.Fatalf("status while live %+v %q", st, st.Summary())
	}
	u.SetLive(false)
	waitFor(t, 20*time.Second, "segment uploaded after going idle", func() bool { return f.status(seg.ID) == flagged.StatusUploaded })
	f.checkTar(f.srv.body(KindSegment, seg.ID), seg.ID)
	reqs := strings.Join(f.srv.requests()[before:], "|")
	if !strings.HasPrefix(reqs, "HEAD |PATCH 262144") {
		t.Fatalf("after going idle, want HEAD then a PATCH from the server's offset: %s", reqs)
	}
}

func TestSummary(t *testing.T) {
	for _, tc := range []struct {
		st   Status
		want string
	}{
		{Status{}, ""},
		{Status{Pending: 3, LastError: noteNetwork}, "有 3 段等上传（网络不通）"},
		{Status{Pending: 3, LastError: noteNetwork, Paused: true}, "有 3 段等上传（下播后再传）"},
		{Status{Pending: 1}, "有 1 段等上传（正在上传）"},
		{Status{Pending: 2, Failed: 1, LastError: noteRefused}, "有 2 段等上传（有一段审核服务不收）；有 1 段传不上去，留在盒子里"},
	} {
		if got := tc.st.Summary(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.st, got, tc.want)
		}
	}
}

func TestKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	k1, err := LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v, %v; want mode 0600", fi, err)
	}
	k2, err := LoadOrCreateKey(dir)
	if err != nil || !k1.Equal(k2) {
		t.Fatalf("second start gave another key (%v)", err)
	}
	if id := BoxID(k1.Public().(ed25519.PublicKey)); len(id) != 32 {
		t.Fatalf("box id %q", id)
	}
	os.WriteFile(filepath.Join(dir, KeyFile), []byte("not a key\n"), 0o600)
	if _, err := LoadOrCreateKey(dir); err == nil {
		t.Fatal("a damaged key was accepted")
	}
	if data, _ := os.ReadFile(filepath.Join(dir, KeyFile)); string(data) != "not a key\n" {
		t.Fatal("a damaged key was replaced: the box would lose its enrolment")
	}
}

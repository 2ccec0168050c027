package flagged

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/segment"
)

var t0 = time.Date(2026, 11, 28, 9, 30, 0, 0, time.UTC)

func findingSegment(at time.Time) Segment {
	return Segment{
		Reason: ReasonFinding,
		Device: "box-1",
		At:     at,
		Transcript: Transcript{
			Text:     "今天的辣椒酱全网最低价",
			Captions: []Caption{{At: at, Start: -1, End: 1.5, Offset: 0, Text: "今天的辣椒酱全网最低价"}},
		},
		Findings: []Finding{{Category: "ABS", CategoryName: "绝对化用语", Rule: "abs-lowest", Start: 6, End: 11, Match: "全网最低价", Law: "广告法第九条", At: at}},
	}
}

func writeBytes(n int) func(string) (*Clip, error) {
	return func(p string) (*Clip, error) {
		if err := os.WriteFile(p, make([]byte, n), 0o640); err != nil {
			return nil, err
		}
		return &Clip{Start: t0.Add(-15 * time.Second), End: t0.Add(10 * time.Second), Bytes: int64(n)}, nil
	}
}

func open(t *testing.T, dir string, quota int64) *Store {
	t.Helper()
	s, err := Open(Config{Dir: dir, QuotaBytes: quota, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCreateReopenRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 0)
	seg, err := s.Create(findingSegment(t0), writeBytes(1000))
	if err != nil {
		t.Fatal(err)
	}
	if !segment.ValidID(seg.ID) || seg.Status != StatusPending || seg.Clip == nil || seg.Clip.File != ClipFile {
		t.Fatalf("created %+v", seg)
	}
	if got := seg.Said(seg.Findings[0]); got != "全网最低价" {
		t.Fatalf("span names %q", got)
	}
	fi, err := os.Stat(s.ClipPath(seg.ID))
	if err != nil || fi.Size() != 1000 {
		t.Fatalf("clip: %v %v", fi, err)
	}
	if err := s.SetStatus(seg.ID, StatusReviewed); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, dir, 0)
	got, err := s2.Get(seg.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != StatusReviewed || got.Transcript.Text != seg.Transcript.Text || len(got.Findings) != 1 {
		t.Fatalf("reopened %+v", got)
	}
	if _, err := s2.Get("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get unknown: %v", err)
	}
	if err := s2.SetStatus(seg.ID, "lost"); err == nil {
		t.Fatal("bad status accepted")
	}
}

func TestCreateKeepsSegmentWhenClipFails(t *testing.T) {
	s := open(t, t.TempDir(), 0)
	seg, err := s.Create(findingSegment(t0), func(string) (*Clip, error) { return nil, errors.New("record: no recorded video") })
	if err != nil {
		t.Fatal(err)
	}
	if seg.Clip != nil || !strings.Contains(seg.ClipError, "no recorded video") {
		t.Fatalf("%+v", seg)
	}
	if _, err := os.Stat(s.ClipPath(seg.ID)); !os.IsNotExist(err) {
		t.Fatalf("clip file left: %v", err)
	}
}

func TestCreateRejectsInvalid(t *testing.T) {
	s := open(t, t.TempDir(), 0)
	cases := map[string]Segment{
		"finding without findings": {Reason: ReasonFinding, At: t0},
		"mark with findings":       func() Segment { g := findingSegment(t0); g.Reason = ReasonMark; return g }(),
		"span outside":             func() Segment { g := findingSegment(t0); g.Findings[0].End = 99; return g }(),
		"unknown reason":           {Reason: "whim", At: t0},
	}
	for name, seg := range cases {
		if _, err := s.Create(seg, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if n := len(s.List()); n != 0 {
		t.Fatalf("%d segments stored", n)
	}
	des, _ := os.ReadDir(s.cfg.Dir)
	if len(des) != 0 {
		t.Fatalf("left %v", des)
	}
}

func TestQuotaDeletesDoneFirstThenOldest(t *testing.T) {
	s := open(t, t.TempDir(), 0)
	var ids []string
	for i := range 4 {
		seg, err := s.Create(findingSegment(t0.Add(time.Duration(i)*time.Minute)), writeBytes(10_000))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, seg.ID)
	}
	if err := s.SetStatus(ids[2], StatusUploaded); err != nil {
		t.Fatal(err)
	}
	per := s.Bytes() / 4
	// Room for four: adding a fifth must delete the uploaded one (not the oldest).
	s.cfg.QuotaBytes = 4*per + per/2
	if _, err := s.Create(findingSegment(t0.Add(5*time.Minute)), writeBytes(10_000)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ids[2]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("uploaded segment kept: %v", err)
	}
	if _, err := s.Get(ids[0]); err != nil {
		t.Fatalf("oldest pending deleted before the uploaded one: %v", err)
	}
	// Nothing done left: the oldest pending goes next.
	if _, err := s.Create(findingSegment(t0.Add(6*time.Minute)), writeBytes(10_000)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ids[0]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("oldest pending kept: %v", err)
	}
	if got := len(s.List()); got != 4 {
		t.Fatalf("%d segments, want 4", got)
	}
	if s.Bytes() > s.cfg.QuotaBytes {
		t.Fatalf("%d bytes over quota %d", s.Bytes(), s.cfg.QuotaBytes)
	}
	// On disk too, not just in memory.
	des, _ := os.ReadDir(s.cfg.Dir)
	if len(des) != 4 {
		t.Fatalf("%d dirs on disk", len(des))
	}
}

func TestOpenLeavesUnreadableSegmentsAlone(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 0)
	seg, err := s.Create(findingSegment(t0), nil)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, NewID(t0))
	os.Mkdir(bad, 0o750)
	os.WriteFile(filepath.Join(bad, JSONFile), []byte("{not json"), 0o640)
	s2 := open(t, dir, 0)
	if l := s2.List(); len(l) != 1 || l[0].ID != seg.ID {
		t.Fatalf("list %+v", l)
	}
	if _, err := os.Stat(bad); err != nil {
		t.Fatalf("unreadable segment deleted: %v", err)
	}
}

// TestPowerCutDuringCreate kills a child process (SIGKILL, nothing flushed
// by Go) at each step of a segment write and checks what Open finds: no
// segment before the rename, a whole one after, never a part, and no
// leftovers.
func TestPowerCutDuringCreate(t *testing.T) {
	// The same test, re-run in a child process, is the box whose power is
	// cut.
	if dir := os.Getenv("FLAGGED_CHILD_DIR"); dir != "" {
		powerCutChild(t, dir, os.Getenv("FLAGGED_CHILD_STOP"))
		return
	}
	steps := []struct {
		step  string
		whole bool
	}{
		{"tmpdir", false},
		{"clip-half", false},
		{"clip", false},
		{"json", false},
		{"renamed", true},
		{"done", true},
	}
	for _, tc := range steps {
		t.Run(tc.step, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^TestPowerCutDuringCreate$", "-test.v")
			// Under qemu-user (make test-arm64) the child runs through the
			// same emulator; the kernel may have no binfmt entry for it.
			if emu := os.Getenv("CUNBO_TEST_EMULATOR"); emu != "" {
				cmd = exec.Command(emu, os.Args[0], "-test.run=^TestPowerCutDuringCreate$", "-test.v")
			}
			cmd.Env = append(os.Environ(), "FLAGGED_CHILD_DIR="+dir, "FLAGGED_CHILD_STOP="+tc.step)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(out)
			reached := false
			for sc.Scan() {
				if sc.Text() == "AT "+tc.step {
					reached = true
					break
				}
			}
			cmd.Process.Kill()
			cmd.Wait()
			if !reached {
				t.Fatalf("child never reached %s", tc.step)
			}
			s := open(t, dir, 0)
			segs := s.List()
			if tc.whole {
				if len(segs) != 1 {
					t.Fatalf("%d segments after the rename, want 1", len(segs))
				}
				fi, err := os.Stat(s.ClipPath(segs[0].ID))
				if err != nil || fi.Size() != childClipBytes || segs[0].Clip.Bytes != childClipBytes {
					t.Fatalf("clip of the surviving segment: %v %v", fi, err)
				}
			} else if len(segs) != 0 {
				t.Fatalf("%d segments from a write cut before its rename", len(segs))
			}
			des, _ := os.ReadDir(dir)
			for _, de := range des {
				if strings.HasPrefix(de.Name(), ".") {
					t.Errorf("leftover %s after Open", de.Name())
				}
			}
		})
	}
}

const childClipBytes = 256 << 10

// powerCutChild is the child half of TestPowerCutDuringCreate: it writes a
// segment and stops at step stop, to be killed there.
func powerCutChild(t *testing.T, dir, stop string) {
	halt := func(step string) {
		if step == stop {
			fmt.Printf("AT %s\n", step)
			os.Stdout.Sync()
			time.Sleep(time.Hour) // wait for the kill
		}
	}
	s, err := Open(Config{Dir: dir, hook: halt})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Create(findingSegment(t0), func(p string) (*Clip, error) {
		f, err := os.Create(p)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		f.Write(make([]byte, childClipBytes/2))
		halt("clip-half")
		f.Write(make([]byte, childClipBytes/2))
		return &Clip{Bytes: childClipBytes}, f.Sync()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Fatalf("step %q never reached", stop)
}

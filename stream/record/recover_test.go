package record

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/stream/streamtest"
)

const crashChildEnv = "CUNBO_RECORD_CRASH_CHILD_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		os.Exit(crashChild(dir))
	}
	os.Exit(m.Run())
}

// crashChild records a real-time stream into dir and prints "F <n>" each
// time another fragment is durable, until the parent kills it.
func crashChild(dir string) int {
	rec, err := New(Config{Dir: dir, QuotaBytes: 1 << 30, SegmentDuration: 3 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx := context.Background()
	go rec.Run(ctx)
	go func() {
		var last uint64
		for {
			if n := rec.Stats().FragmentsWritten; n != last {
				last = n
				fmt.Printf("F %d\n", n)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	_, err = streamtest.Run(ctx, nil, rec, streamtest.Options{Duration: time.Minute, GOP: time.Second, Width: 320, Height: 240, VideoKbps: 400})
	fmt.Fprintln(os.Stderr, "stream ended:", err)
	return 3
}

// TestCrashRecovery kills a recording process with SIGKILL mid-stream and
// checks that recovery leaves only playable files holding every fragment
// the process had made durable.
func TestCrashRecovery(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	durable := 0
	sc := bufio.NewScanner(stdout)
	// Kill somewhere inside the 5th fragment (the second segment): a
	// random extra delay lands the kill at a different point each run.
	killAt := 4
	for sc.Scan() {
		n, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "F "))
		if err != nil {
			t.Fatalf("child said %q", sc.Text())
		}
		durable = n
		if n >= killAt {
			time.Sleep(time.Duration(rand.IntN(900)) * time.Millisecond)
			break
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	// Whatever the child printed before dying was durable too.
	for sc.Scan() {
		if n, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "F ")); err == nil {
			durable = n
		}
	}
	_ = cmd.Wait()
	if durable < killAt {
		t.Fatalf("child made %d fragments before dying; stderr: %s", durable, stderr.String())
	}

	rec, err := New(Config{Dir: dir, QuotaBytes: 1 << 30})
	if err != nil {
		t.Fatalf("recovery: %v", err)
	}
	files := segmentFiles(t, dir)
	if st := rec.Stats(); st.Segments != len(files) || len(files) < 2 {
		t.Fatalf("%d files, %d segments indexed", len(files), st.Segments)
	}
	frags := 0
	for _, f := range files {
		idx := scanFile(t, f)
		if fi, _ := os.Stat(f); idx.validEnd != fi.Size() {
			t.Errorf("%s still has a torn tail after recovery", f)
		}
		frags += len(idx.fragments)
		p := ffprobe(t, f)
		ffprobeDecode(t, f)
		if c := p.codecs(); c["video"] != "h264" || c["audio"] != "aac" {
			t.Errorf("%s: codecs %v", f, c)
		}
	}
	// At most the fragment in flight is lost: every one reported durable
	// is there (the child may have completed one more it had no time to
	// report).
	if frags < durable || frags > durable+1 {
		t.Errorf("recovered %d fragments; the child had made %d durable", frags, durable)
	}
	t.Logf("killed after %d durable fragments; recovered %d in %d files", durable, frags, len(files))
}

// TestRecoverTornTail appends the kinds of debris a power cut leaves to a
// closed segment and checks recovery cuts exactly back to the last
// complete fragment, so the file plays again.
func TestRecoverTornTail(t *testing.T) {
	srcDir := t.TempDir()
	recordStream(t, Config{Dir: srcDir},
		streamtest.Options{Duration: 3 * time.Second, NoPace: true, GOP: time.Second, Width: 320, Height: 240, VideoKbps: 300})
	files := segmentFiles(t, srcDir)
	if len(files) != 1 {
		t.Fatalf("%d files", len(files))
	}
	orig, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	idx := scanFile(t, files[0])
	n := len(idx.fragments)
	last := idx.fragments[n-1]
	lastBytes := orig[last.offset:last.end]
	moofAndMdatHeader := int(last.runs[0].samples[0].offset - last.offset)
	rng := rand.New(rand.NewPCG(1, 2))
	garbage := make([]byte, 3000)
	for i := range garbage {
		garbage[i] = byte(rng.Uint32())
	}

	for _, tc := range []struct {
		name      string
		data      []byte
		wantFrags int // -1: the file must be removed
	}{
		{"intact", orig, n},
		{"random garbage", concat(orig, garbage), n},
		{"half a fragment", concat(orig, lastBytes[:len(lastBytes)/2]), n},
		{"moof without mdat", concat(orig, lastBytes[:moofAndMdatHeader-8]), n},
		{"a few bytes", concat(orig, []byte{0, 0, 1}), n},
		{"zero bytes of a box", concat(orig, make([]byte, 64)), n},
		{"huge box header", concat(orig, []byte{0x7f, 0xff, 0xff, 0xff, 'm', 'o', 'o', 'f'}), n},
		{"cut inside the last fragment", orig[:last.offset+100], n - 1},
		{"corrupt last trun", corruptTrun(orig, int(last.offset)), n - 1},
		{"init only", orig[:idx.initEnd], -1},
		{"torn init", orig[:idx.initEnd/2], -1},
		{"empty file", nil, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, filepath.Base(files[0]))
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			rec, err := New(Config{Dir: dir, QuotaBytes: 1 << 30})
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantFrags < 0 {
				if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("file without media kept: %v", err)
				}
				if s := rec.Stats().Segments; s != 0 {
					t.Errorf("%d segments indexed", s)
				}
				return
			}
			got := scanFile(t, path)
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.fragments) != tc.wantFrags || got.validEnd != fi.Size() {
				t.Errorf("after recovery: %d fragments, size %d (valid %d); want %d fragments", len(got.fragments), fi.Size(), got.validEnd, tc.wantFrags)
			}
			if want := int64(len(orig)); tc.wantFrags == n && fi.Size() != want {
				t.Errorf("size %d, want the original %d", fi.Size(), want)
			}
			if st := rec.Stats(); st.Segments != 1 || st.BytesOnDisk != fi.Size() {
				t.Errorf("stats %+v", st)
			}
			ffprobe(t, path)
			ffprobeDecode(t, path)
		})
	}
}

func concat(a, b []byte) []byte { return append(append([]byte(nil), a...), b...) }

// corruptTrun makes the first trun after off claim more sample bytes than
// its mdat holds.
func corruptTrun(data []byte, off int) []byte {
	out := append([]byte(nil), data...)
	i := bytes.Index(out[off:], []byte("trun"))
	// size(4) type(4) version+flags(4) count(4) data_offset(4), then the
	// first entry: duration(4) size(4)
	sizeAt := off + i + 4 + 4 + 4 + 4 + 4
	out[sizeAt], out[sizeAt+1] = 0x7f, 0xff
	return out
}

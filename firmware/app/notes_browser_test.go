package app_test

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/cunbo/cunbo/firmware/app"
	"github.com/cunbo/cunbo/firmware/flagged"
	"github.com/cunbo/cunbo/firmware/pipeline"
	"github.com/cunbo/cunbo/firmware/upload"
	"github.com/cunbo/cunbo/hw"
	"github.com/cunbo/cunbo/review/accounts"
	"github.com/cunbo/cunbo/review/boxauth"
	"github.com/cunbo/cunbo/review/server"
	"github.com/cunbo/cunbo/review/store"
)

// The whole loop of a coaching note, in real browsers: the review service
// and a box built as `cunbo sim --review` builds it; a social worker signs
// in to the console, opens the moment the box uploaded and writes a note;
// the box fetches it and its phone page (360×640, touch) shows it on top;
// she taps 知道了; the console then says she has read it.
func TestNoteReachesHerPhoneAndComesBackRead(t *testing.T) {
	ctx := context.Background()
	log := testLogger(t)
	srv, err := server.Open(ctx, server.Config{DataDir: t.TempDir(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	review := httptest.NewServer(srv.Handler())
	t.Cleanup(review.Close)
	st := srv.Store()

	// The box's key, enrolled and given to a social worker.
	stateDir := t.TempDir()
	key, err := upload.LoadOrCreateKey(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	boxID, err := boxauth.Enroll(ctx, st, key.Public().(ed25519.PublicKey), "雷山 阿秀", "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	const worker, password = "王芳", "leishan-2026-pw"
	hash, err := accounts.Hash(password)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := st.AddUser(ctx, store.User{Name: worker, Roles: []string{store.RoleSocial}, Hash: hash, Created: now},
		store.AuditEntry{At: now, Actor: "test", Action: "user.add", Subject: worker}); err != nil {
		t.Fatal(err)
	}
	if err := st.AssignBox(ctx, boxID, worker, store.AuditEntry{At: now, Actor: "test", Action: "box.assign", Subject: boxID}); err != nil {
		t.Fatal(err)
	}

	// A moment she marked, uploaded by the box's uploader.
	flaggedDir := filepath.Join(stateDir, "flagged")
	fs, err := flagged.Open(flagged.Config{Dir: flaggedDir})
	if err != nil {
		t.Fatal(err)
	}
	clip := ffmpegClip(t)
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	seg, err := fs.Create(flagged.Segment{Reason: flagged.ReasonMark, Device: "sim", At: at},
		func(path string) (*flagged.Clip, error) {
			return &flagged.Clip{Start: at.Add(-5 * time.Second), End: at.Add(5 * time.Second), Bytes: int64(len(clip))},
				os.WriteFile(path, clip, 0o644)
		})
	if err != nil {
		t.Fatal(err)
	}
	u, err := upload.New(upload.Config{URL: review.URL, Key: key, Dir: filepath.Join(t.TempDir(), "upload"), Source: fs,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	uctx, stopUpload := context.WithCancel(ctx)
	uploaded := make(chan struct{})
	go func() { defer close(uploaded); _ = u.Run(uctx) }()
	waitUntil(t, 60*time.Second, "the moment at the review service", func() bool {
		_, err := st.Segment(ctx, boxID, seg.ID)
		return err == nil
	})
	stopUpload()
	<-uploaded

	// The box, built as the simulator builds it, with the review service.
	epoch := time.Now()
	video, err := hw.NewTestPattern(hw.TestPatternConfig{Format: pipeline.Format(true), Epoch: epoch})
	if err != nil {
		t.Fatal(err)
	}
	audio, err := hw.NewTone(hw.ToneConfig{Format: hw.AudioFormat{SampleRate: 48000, Channels: 1}, Epoch: epoch})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := app.Build(app.Spec{
		Pipeline:      pipeline.Config{Video: video, Audio: audio, Portrait: true, VideoKbps: 800, Epoch: epoch},
		DemoCatalogue: true, StateDir: stateDir, ReviewURL: review.URL, DeviceID: "sim",
		Panel: app.VirtualPanel(), HTTPAddr: "127.0.0.1:0", PIN: testPIN, Preview: whepLoopback(), Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Notes == nil {
		t.Fatal("Build made no notes for a box with a review service")
	}
	a, err := app.New(opts)
	if err != nil {
		t.Fatal(err)
	}

	// One phone-sized tab, touch: the social worker's console (it works on
	// her phone too), then the woman's page, then the console again.
	phone := chromium(t)
	console := phone
	do(t, phone, 10*time.Second,
		chromedp.EmulateViewport(360, 640, chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch))
	momentURL := review.URL + "/console/m/" + boxID + "/" + seg.ID
	const note = "阿秀，说“价格很实在”就好，不要说“全网最低”。"
	do(t, console, 30*time.Second,
		chromedp.Navigate(review.URL+"/console/"),
		chromedp.WaitVisible(chromedp.CSS("#name")),
	)
	do(t, console, 30*time.Second,
		chromedp.SendKeys(chromedp.CSS("#name"), worker),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS("#new a.row")),
	)
	do(t, console, 30*time.Second,
		chromedp.Navigate(momentURL),
		chromedp.WaitVisible(chromedp.CSS("#note")),
	)
	do(t, console, 30*time.Second,
		chromedp.SendKeys(chromedp.CSS("#note"), note),
		chromedp.Click(chromedp.CSS("#send-note")),
		chromedp.WaitVisible(chromedp.CSS("#note-read")),
	)
	if got := text(t, console, "p[role=status]"); !strings.Contains(got, "留言已存好") {
		t.Fatalf("console after sending the note: %q", got)
	}
	if got := text(t, console, "#note-read"); !strings.Contains(got, "还没看") {
		t.Fatalf("console before she reads it: %q", got)
	}

	base := runApp(t, a) // the box fetches the note as it starts, idle
	do(t, phone, 30*time.Second,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#pin")),
		chromedp.SendKeys(chromedp.CSS("#pin"), testPIN),
		chromedp.Click(chromedp.CSS("#login-button")),
		chromedp.WaitVisible(chromedp.CSS("#app")),
	)
	do(t, phone, 90*time.Second, chromedp.WaitVisible(chromedp.CSS("#note-card")))
	if got := text(t, phone, "#note-text"); got != note {
		t.Fatalf("the phone shows %q, want %q", got, note)
	}
	if got := text(t, phone, "#note-card"); !strings.Contains(got, "社工老师的话") || !strings.Contains(got, worker) || !strings.Contains(got, "今天") {
		t.Errorf("the card says %q: want the title, who wrote it and when", got)
	}
	// On her screen without scrolling, in large type, above the big
	// button, on the small phone and the common one.
	type layout struct{ Top, Bottom, Font, Big float64 }
	for _, size := range []struct{ w, h int64 }{{412, 915}, {360, 640}} {
		do(t, phone, 10*time.Second,
			chromedp.EmulateViewport(size.w, size.h, chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch))
		b := eval[layout](t, phone, `(() => { const r = document.getElementById('note-ok').getBoundingClientRect();
		  return {Top: document.getElementById('note-card').getBoundingClientRect().top, Bottom: r.bottom,
		    Font: parseFloat(getComputedStyle(document.getElementById('note-text')).fontSize),
		    Big: document.getElementById('btn-big').getBoundingClientRect().top}; })()`)
		if b.Top < 0 || b.Bottom > float64(size.h) || b.Font < 24 || b.Big < b.Bottom {
			t.Errorf("note card at %d×%d: %+v (want on screen, type ≥ 24 px, above the big button)", size.w, size.h, b)
		}
	}
	// For a person to look at, as the console's tests leave theirs.
	c, cancel := context.WithTimeout(phone, 20*time.Second)
	png, err := chromedp.Run(c, chromedp.CaptureScreenshot())
	cancel()
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile("/tmp/cunbo-phone-note-360x640.png", png, 0o644); err != nil {
		t.Fatal(err)
	}

	// 知道了, by touch: the card goes at once and the receipt reaches the
	// service.
	p := center(t, phone, "#note-ok")
	touchAt(t, phone, input.DispatchTouchEventTypeTouchStart, p)
	time.Sleep(80 * time.Millisecond)
	touchAt(t, phone, input.DispatchTouchEventTypeTouchEnd, p)
	do(t, phone, 10*time.Second, poll(`document.getElementById('note-card').hidden`))
	waitUntil(t, 60*time.Second, "the read receipt at the service", func() bool {
		last, err := st.LastNote(ctx, boxID)
		if err != nil {
			return false
		}
		at, err := st.NoteReadAt(ctx, last.Seq)
		return err == nil && !at.IsZero()
	})
	do(t, console, 30*time.Second,
		chromedp.Navigate(momentURL),
		chromedp.WaitVisible(chromedp.CSS("#note-read")),
	)
	if got := text(t, console, "#note-read"); !strings.Contains(got, "✅ 她") || !strings.Contains(got, "看过了") {
		t.Fatalf("console after she read it: %q", got)
	}
	// Once read it stays gone when she opens her page again.
	do(t, phone, 20*time.Second,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#app")),
		poll(`document.getElementById('state-label').textContent === '未开播'`),
	)
	if eval[bool](t, phone, `!document.getElementById('note-card').hidden`) {
		t.Fatal("the note read is shown again after a reload")
	}
}

// ffmpegClip makes a real one-second MP4.
func ffmpegClip(t *testing.T) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "clip.mp4")
	cmd := exec.Command("ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=15",
		"-t", "1", "-c:v", "mpeg4", "-f", "mp4", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

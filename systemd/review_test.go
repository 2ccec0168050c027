package systemd

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cunbo/cunbo/review/boxauth"
	"github.com/cunbo/cunbo/review/wiretest"
)

// maxReviewExposure: the review service needs only the network and its
// state directory, so it is held lower than the box's unit.
const maxReviewExposure = 1.5

func TestReviewUnitSecurityExposure(t *testing.T) {
	out := run(t, "systemd-analyze", "security", "--offline=true", "--no-pager", "cunbo-review.service")
	m := regexp.MustCompile(`Overall exposure level for cunbo-review\.service: (\d+\.\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	level, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	if level > maxReviewExposure {
		t.Errorf("exposure %.1f, want at most %.1f; what counts:\n%s", level, maxReviewExposure, failedChecks(out))
	}
	t.Logf("exposure %.1f", level)
}

// The unit's system call filter must leave the service everything it
// uses: cunbo-review serve runs under strace through start-up (SQLite
// migrations, the sweep), a box's sign-in and a real segment upload,
// /readyz and /metrics, to its shutdown on SIGTERM.
func TestReviewUnitSystemCallFilterAllowsTheService(t *testing.T) {
	b, err := os.ReadFile("cunbo-review.service")
	if err != nil {
		t.Fatal(err)
	}
	allowed := allowedSyscalls(t, string(b), syscallGroups(t))
	// Not t.TempDir: its parents are private to root, and the service
	// runs as nobody (below).
	dir, err := os.MkdirTemp("", "cunbo-review-unit-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "cunbo-review")
	build := exec.Command("go", "build", "-tags", "ne", "-o", bin, "../cmd/cunbo-review")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	if out, err := exec.Command(bin, "box", "add", "--data", data, "--key-hex", hex.EncodeToString(pub)).CombinedOutput(); err != nil {
		t.Fatalf("box add: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	trace := filepath.Join(dir, "strace.txt")
	var stderr bytes.Buffer
	args := []string{"-f", "-qq", "-c", "-U", "name,calls", "-o", trace}
	if os.Geteuid() == 0 {
		// The unit runs as a dynamic user, never root; as root SQLite
		// would chown its journal files, which the unit rightly denies.
		args = append(args, "-u", "nobody")
		chownTree(t, data, "nobody")
	}
	cmd := exec.Command("strace", append(args, "--", bin, "serve", "--data", data, "--listen", addr)...)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	base := "http://" + addr
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not up:\n%s", stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	tok := reviewSignIn(t, base, boxauth.BoxID(pub), priv)
	id := wiretest.ID(1)
	body := wiretest.SegmentTar(t, id, wiretest.Clip(t))
	if code := reviewUpload(t, base, tok, id, body); code != http.StatusNoContent {
		t.Fatalf("upload: %d\n%s", code, stderr.String())
	}
	for _, p := range []string{"/readyz", "/metrics"} {
		resp, err := http.Get(base + p)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", p, resp, err)
		}
		resp.Body.Close()
	}
	if err := syscall.Kill(tracedChild(t, cmd.Process.Pid), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("strace: %v\n%s", err, stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("serve did not stop within a minute of SIGTERM")
	}
	checkTraceAllowed(t, trace, allowed, "the service")
}

func reviewSignIn(t *testing.T, base, id string, priv ed25519.PrivateKey) string {
	t.Helper()
	var ch struct{ Nonce string }
	resp, err := http.Post(base+"/api/box/challenge", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&ch)
	resp.Body.Close()
	sig := base64.StdEncoding.EncodeToString(ed25519.Sign(priv, []byte(boxauth.TokenContext+ch.Nonce)))
	in, _ := json.Marshal(map[string]string{"box_id": id, "nonce": ch.Nonce, "signature": sig})
	resp, err = http.Post(base+"/api/box/token", "application/json", bytes.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct{ Token string }
	json.NewDecoder(resp.Body).Decode(&tok)
	if tok.Token == "" {
		t.Fatalf("sign in: %d", resp.StatusCode)
	}
	return tok.Token
}

func reviewUpload(t *testing.T, base, tok, id string, body []byte) int {
	t.Helper()
	sum := sha256.Sum256(body)
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	req, _ := http.NewRequest("POST", base+"/api/uploads/", nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Upload-Length", strconv.Itoa(len(body)))
	req.Header.Set("Upload-Metadata", "kind "+b64("segment")+",id "+b64(id)+",sha256 "+b64(hex.EncodeToString(sum[:])))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return resp.StatusCode
	}
	req, _ = http.NewRequest("PATCH", resp.Header.Get("Location"), bytes.NewReader(body))
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Upload-Offset", "0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Cunbo-Stored"), "created") {
		t.Errorf("Cunbo-Stored %q", resp.Header.Get("Cunbo-Stored"))
	}
	return resp.StatusCode
}

func chownTree(t *testing.T, root, name string) {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	err = filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil {
		t.Fatal(err)
	}
}

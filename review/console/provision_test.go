package console_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/cunbo/cunbo/bundle"
	"github.com/cunbo/cunbo/firmware/config"
	"github.com/cunbo/cunbo/review/console"
	"github.com/cunbo/cunbo/review/server"
	"github.com/cunbo/cunbo/review/store"
)

// Secrets typed on the build form; none may appear in a page, the log or
// the audit log.
const (
	testStreamKey = "stream-key-9f8e7d6c5b4a"
	testWiFiPass  = "wifi-pass-31415926"
	testPIN       = "502817"
)

// signing is an organisation root and a trainer certificate from it.
type signing struct {
	root     ed25519.PrivateKey
	rootPub  ed25519.PublicKey
	console  *console.Signing
	trainers string
}

func newSigning(t *testing.T) signing {
	t.Helper()
	rootPub, root, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tPub, tKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	cert, err := bundle.IssueCertificate(root, bundle.Trainer{Serial: 7, Name: "杨老师", Key: bundle.PublicKeyHex(tPub),
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	return signing{root: root, rootPub: rootPub, console: &console.Signing{Key: tKey, Cert: cert, Root: rootPub}}
}

// logBuffer collects the service's log for the secrets check.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// newProvisionEnv is a service on backend signing with s (none when nil),
// logging at debug level into the returned buffer.
func newProvisionEnv(t *testing.T, backend string, s *console.Signing) (*env, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	cfg := server.Config{DataDir: t.TempDir(), Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Signing: s}
	if backend == "postgres" {
		cfg.DB = pg.Cluster(t).NewURL(t)
	}
	srv, err := server.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the service's log:\n%s", logs)
		}
	})
	return &env{t: t, srv: srv, base: hs.URL, st: srv.Store(), boxes: map[string]enrolled{}}, logs
}

// gbkCatalogue is a catalogue as Chinese Excel saves "CSV": GBK, CRLF,
// with row 3 missing its price.
func gbkCatalogue(t *testing.T) []byte {
	t.Helper()
	csv := "编号,名称,价格,规格,链接号,图片,卖点\r\n" +
		"1,榕江小香鸡,68,一只约1.5斤,1,ji.png,山上散养\r\n" +
		"2,侗家腌鱼,,500克/袋,2,,酸香下饭\r\n" +
		"3,古州香米,39.9,5斤/袋,3,,新米\r\n"
	b, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(csv))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for i := range img.Pix {
		img.Pix[i] = 0xc0
	}
	img.Set(3, 3, color.RGBA{R: 200, A: 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type upFile struct {
	field, name string
	data        []byte
}

// uploadForm posts files (and fields) as the browser's multipart form.
func (e *env) uploadForm(s sess, path string, fields url.Values, files []upFile) (int, string, http.Header) {
	e.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("csrf", s.csrf)
	for k, vs := range fields {
		for _, v := range vs {
			mw.WriteField(k, v)
		}
	}
	for _, f := range files {
		w, err := mw.CreateFormFile(f.field, f.name)
		if err != nil {
			e.t.Fatal(err)
		}
		w.Write(f.data)
	}
	mw.Close()
	req, _ := http.NewRequest("POST", e.base+path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := s.c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// Uploads: a GBK CSV with a bad row makes a draft whose page lists the
// cards and the row's problem; what cannot be taken is refused with a
// plain reason and leaves no draft.
func TestProvisionUpload(t *testing.T) {
	e, _ := newProvisionEnv(t, "sqlite", newSigning(t).console)
	e.addUser("trainer", store.RoleTrainer)
	s := e.signIn("trainer")["trainer"]
	photo := testPNG(t)
	big := make([]byte, console.MaxPhotoBytes+1)
	many := make([]upFile, console.MaxPhotos+1)
	for i := range many {
		many[i] = upFile{"photos", "p" + strings.Repeat("x", i%5) + string(rune('a'+i%26)) + string(rune('a'+i/26)) + ".png", photo}
	}
	for _, tc := range []struct {
		name  string
		files []upFile
		code  int
		want  string
	}{
		{"no catalogue", []upFile{{"photos", "ji.png", photo}}, 400, "请选一个商品表"},
		{"an old .xls name", []upFile{{"catalogue", "商品.xls", []byte("x")}}, 400, "要以 .xlsx、.csv 或 .tsv 结尾"},
		{"not a spreadsheet", []upFile{{"catalogue", "商品.xlsx", []byte("PK\x03\x04 broken")}}, 400, "商品表读不出来"},
		{"oversize photo", []upFile{{"catalogue", "商品.csv", gbkCatalogue(t)}, {"photos", "big.jpg", big}}, 413, "照片“big.jpg”太大了"},
		{"too many photos", append([]upFile{{"catalogue", "商品.csv", gbkCatalogue(t)}}, many...), 413, "最多 200 张"},
		{"two photos of one name", []upFile{{"catalogue", "商品.csv", gbkCatalogue(t)}, {"photos", "ji.png", photo}, {"photos", "ji.png", photo}}, 400, "有两个文件都叫“ji.png”"},
	} {
		code, body, _ := e.uploadForm(s, "/console/provision/upload", nil, tc.files)
		if code != tc.code || !strings.Contains(body, tc.want) || !strings.Contains(body, "什么也没保存") {
			t.Errorf("%s: %d, want %d with %q:\n%.600s", tc.name, code, tc.code, tc.want, body)
		}
	}
	if n := countAudit(t, e, "provision.upload"); n != 0 {
		t.Fatalf("%d uploads kept from refused forms", n)
	}

	code, _, h := e.uploadForm(s, "/console/provision/upload", nil,
		[]upFile{{"catalogue", "榕江商品.csv", gbkCatalogue(t)}, {"photos", `C:\Users\杨\Desktop\ji.png`, photo}})
	if code != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/console/provision/d/") {
		t.Fatalf("upload: %d, Location %q", code, h.Get("Location"))
	}
	draft := h.Get("Location")
	code, page, _ := e.send(s, "GET", draft, nil)
	if code != 200 {
		t.Fatalf("draft page: %d", code)
	}
	for _, want := range []string{"榕江小香鸡", "古州香米", `id="card-count">2<`, "第3行", "价格", "/card/0.png", "/card/1.png", "杨老师"} {
		if !strings.Contains(page, want) {
			t.Errorf("draft page lacks %q", want)
		}
	}
	if strings.Contains(page, "/card/2.png") {
		t.Error("a card for the row without a price")
	}
	// The card is the box's: a PNG of the size the renderer draws for a
	// portrait 720×1280 frame, with the product's photo on it.
	resp, err := s.c.Get(e.base + draft + "/card/0.png")
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(resp.Body)
	resp.Body.Close()
	if err != nil || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("card 0: %v, %s", err, resp.Header.Get("Content-Type"))
	}
	if b := img.Bounds(); b.Dx() < 300 || b.Dx() > 720 || b.Dy() < 80 {
		t.Errorf("card 0 is %v, not a card for a 720-wide frame", b)
	}
	if code, _, _ := e.send(s, "GET", draft+"/card/2.png", nil); code != 404 {
		t.Errorf("card past the end: %d", code)
	}

	// A card whose words break an advertising rule is not drawn by the
	// box (firmware/cards), so it is not shown as a card here either.
	code, _, h = e.uploadForm(s, "/console/provision/upload", nil,
		[]upFile{{"catalogue", "蜂蜜.csv", []byte("名称,价格,卖点\n野生蜂蜜,58,全网最低价\n古州香米,39.9,新米\n")}})
	if code != http.StatusSeeOther {
		t.Fatalf("upload with a banned phrase: %d", code)
	}
	_, page, _ = e.send(s, "GET", h.Get("Location"), nil)
	rules, _, _ := strings.Cut(page[strings.Index(page, `id="rule-problems"`)+1:], "</div>")
	if !strings.Contains(page, `id="rule-problems"`) || !strings.Contains(rules, "第2行「野生蜂蜜」") || !strings.Contains(rules, "全网最低") {
		t.Errorf("the card with 全网最低价 is not listed as hidden:\n%.3000s", page)
	}
	if !strings.Contains(page, `id="card-count">1<`) || strings.Contains(page, "/card/1.png") {
		t.Error("the card the box will not show is drawn")
	}
}

// countAudit counts action in the audit log.
func countAudit(t *testing.T, e *env, action string) int {
	t.Helper()
	es, err := e.st.Audit(context.Background(), 10000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range es {
		if a.Action == action {
			n++
		}
	}
	return n
}

// draftOf uploads the GBK catalogue and returns the draft's id.
func (e *env) draftOf(s sess) string {
	e.t.Helper()
	code, _, h := e.uploadForm(s, "/console/provision/upload", nil,
		[]upFile{{"catalogue", "榕江商品.csv", gbkCatalogue(e.t)}, {"photos", "ji.png", testPNG(e.t)}})
	if code != http.StatusSeeOther {
		e.t.Fatalf("upload: %d", code)
	}
	return strings.TrimPrefix(h.Get("Location"), "/console/provision/d/")
}

func buildForm(draft, action string, boxes ...string) url.Values {
	return url.Values{"draft": {draft}, "action": {action}, "box": boxes,
		"douyin_url": {"rtmp://push-rtmp-l1.douyincdn.com/stage"}, "douyin_key": {testStreamKey},
		"wifi_ssid": {"杨家小卖部"}, "wifi_password": {testWiFiPass}, "pin": {testPIN},
		"review_url": {"http://192.168.1.20:8090"}, "days": {"30"}}
}

// The downloaded bundle opens on its target box only, and its secrets
// open with that box's key only; the secrets are never written back, logged
// or audited, even when the form is refused.
func TestProvisionBuild(t *testing.T) {
	forEachBackendSigned(t, func(t *testing.T, e *env, sg signing, logs *logBuffer) {
		e.addUser("trainer", store.RoleTrainer)
		e.addUser("sw", store.RoleSocial)
		boxA := e.addBox("三江 村A", "sw")
		e.addBox("三江 村B", "sw")
		s := e.signIn("trainer")["trainer"]
		draft := e.draftOf(s)

		for _, tc := range []struct {
			name string
			edit func(url.Values)
			want string
		}{
			{"no box", func(f url.Values) { f.Del("box") }, "请至少选一个盒子"},
			{"weak PIN", func(f url.Values) { f.Set("pin", "123456") }, "太容易猜"},
			{"not a push address", func(f url.Values) { f.Set("douyin_url", "https://douyin.com") }, "rtmp://"},
			{"short Wi-Fi password", func(f url.Values) { f.Set("wifi_password", "1234") }, "8 到 63"},
			{"the key inside the address", func(f url.Values) { f.Set("douyin_url", "rtmp://push.douyincdn.com/stage/"+testWiFiPass) }, "好像带着推流码"},
			{"a revoked or unknown box", func(f url.Values) { f.Set("box", strings.Repeat("0", 32)) }, "不在了"},
		} {
			f := buildForm(draft, "download", boxA)
			tc.edit(f)
			// Post/redirect/get: reloading the page she lands on sends
			// nothing again; the refusal and what she typed are on it.
			code, body, h := e.send(s, "POST", "/console/provision/build", f)
			if loc := h.Get("Location"); code != http.StatusSeeOther || loc != "/console/provision/d/"+draft+"?refused=1" {
				t.Errorf("%s: %d to %q, want 303 to the draft page:\n%.800s", tc.name, code, loc, body)
				continue
			}
			code, body, h = e.send(s, "GET", h.Get("Location"), nil)
			if code != 200 || !strings.Contains(body, tc.want) || !strings.Contains(body, `id="build-error"`) || strings.Contains(h.Get("Content-Type"), "octet") {
				t.Errorf("%s: %d, want the draft page with %q:\n%.800s", tc.name, code, tc.want, body)
			}
			if tc.name == "no box" && strings.Contains(body, " checked>") {
				t.Errorf("%s: a box is ticked on the page after the refusal", tc.name)
			}
			if tc.name == "weak PIN" && !strings.Contains(body, `value="`+boxA+`" checked`) {
				t.Errorf("%s: the box she ticked is not ticked any more", tc.name)
			}
			for _, secret := range []string{testStreamKey, testWiFiPass} {
				if strings.Contains(body, secret) {
					t.Errorf("%s: the page echoes a secret", tc.name)
				}
			}
			if !strings.Contains(body, "rtmp") || !strings.Contains(body, "杨家小卖部") {
				t.Errorf("%s: the address and the Wi-Fi name typed are lost", tc.name)
			}
		}

		// What one trainer typed is not shown to another who opens the
		// same address.
		e.addUser("trainer2", store.RoleTrainer)
		other := e.signIn("trainer2")["trainer2"]
		if code, body, _ := e.send(other, "GET", "/console/provision/d/"+draft+"?refused=1", nil); code != 200 || strings.Contains(body, `id="build-error"`) || strings.Contains(body, "杨家小卖部") {
			t.Errorf("another trainer on the refused page: %d, sees the refusal or the Wi-Fi name:\n%.800s", code, body)
		}

		code, body, h := e.send(s, "POST", "/console/provision/build", buildForm(draft, "download", boxA))
		if code != 200 || !strings.Contains(h.Get("Content-Disposition"), ".cunbo") {
			t.Fatalf("download: %d %v\n%.500s", code, h, body)
		}
		data := []byte(body)
		trust := bundle.Trust{Root: sg.rootPub}
		now := time.Now()
		a := e.boxes["三江 村A"]
		v, err := bundle.Open(bytes.NewReader(data), int64(len(data)), trust, a.priv.Public().(ed25519.PublicKey), 0, now)
		if err != nil {
			t.Fatalf("box A opens: %v", err)
		}
		sec, err := v.Secrets(a.priv)
		if err != nil || sec.PIN != testPIN || sec.StreamKeys["douyin"] != testStreamKey || len(sec.WiFi) != 1 || sec.WiFi[0].Password != testWiFiPass {
			t.Fatalf("box A's secrets: %+v, %v", sec, err)
		}
		// The box loads it with its own loader, cleanly (the service itself
		// may not import firmware, so this is where that is checked).
		if _, warns, err := config.Parse(v.Config(), bundle.ConfigFile); err != nil || len(warns) > 0 {
			t.Errorf("the box does not load the page's config.toml cleanly: %v %v\n%s", err, warns, v.Config())
		}
		if !strings.Contains(string(v.Config()), `url = "rtmp://push-rtmp-l1.douyincdn.com/stage"`) || !strings.Contains(string(v.Config()), "portrait = true") {
			t.Errorf("config.toml:\n%s", v.Config())
		}
		if cat := v.Catalogue(); len(cat["榕江商品.csv"]) == 0 || len(cat["ji.png"]) == 0 {
			t.Errorf("catalogue files: %d", len(cat))
		}
		b := e.boxes["三江 村B"]
		if _, err := bundle.Open(bytes.NewReader(data), int64(len(data)), trust, b.priv.Public().(ed25519.PublicKey), 0, now); !errors.Is(err, bundle.NotForBox) {
			t.Errorf("box B opens box A's bundle: %v", err)
		}
		if _, err := v.Secrets(b.priv); err == nil {
			t.Error("box B's key opens box A's secrets")
		}
		if bytes.Contains(data, []byte(testStreamKey)) || bytes.Contains(data, []byte(testWiFiPass)) {
			t.Error("a secret in the clear in the bundle")
		}

		for _, where := range []struct{ name, text string }{{"log", logs.String()}, {"audit", auditText(t, e)}} {
			for _, secret := range []string{testStreamKey, testWiFiPass, testPIN} {
				if strings.Contains(where.text, secret) {
					t.Errorf("the %s holds a secret", where.name)
				}
			}
		}
		if countAudit(t, e, "bundle.download") != 1 || countAudit(t, e, "provision.upload") != 1 {
			t.Error("the download or the upload is not audited")
		}
	})
}

func auditText(t *testing.T, e *env) string {
	es, err := e.st.Audit(context.Background(), 10000)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, a := range es {
		b.WriteString(a.Actor + " " + a.Action + " " + a.Subject + " " + a.Detail + "\n")
	}
	return b.String()
}

// forEachBackendSigned is forEachBackend with a trainer key.
func forEachBackendSigned(t *testing.T, f func(t *testing.T, e *env, sg signing, logs *logBuffer)) {
	t.Helper()
	for _, be := range []string{"sqlite", "postgres"} {
		t.Run(be, func(t *testing.T) {
			sg := newSigning(t)
			e, logs := newProvisionEnv(t, be, sg.console)
			f(t, e, sg, logs)
		})
	}
}

// Without a trainer key the page says so, and no bundle is made.
func TestProvisionNoSigningKey(t *testing.T) {
	e, _ := newProvisionEnv(t, "sqlite", nil)
	e.addUser("trainer", store.RoleTrainer)
	e.addUser("sw", store.RoleSocial)
	boxA := e.addBox("三江 村A", "sw")
	s := e.signIn("trainer")["trainer"]
	if code, body, _ := e.send(s, "GET", "/console/provision", nil); code != 200 || !strings.Contains(body, "还没有设置签名") {
		t.Fatalf("page: %d\n%.500s", code, body)
	}
	draft := e.draftOf(s) // the cards can still be looked at
	code, body, h := e.send(s, "POST", "/console/provision/build", buildForm(draft, "publish", boxA))
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "还没有设置签名") || strings.Contains(h.Get("Content-Type"), "octet") {
		t.Fatalf("build: %d\n%.500s", code, body)
	}
	if _, err := e.st.LatestBundle(context.Background(), boxA); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a bundle was published: %v", err)
	}
}

// The network path: a published bundle is served to its own boxes only,
// and only when it is newer than what the box says it has.
func TestBoxBundle(t *testing.T) {
	forEachBackendSigned(t, func(t *testing.T, e *env, sg signing, _ *logBuffer) {
		e.addUser("trainer", store.RoleTrainer)
		e.addUser("sw", store.RoleSocial)
		boxA := e.addBox("三江 村A", "sw")
		e.addBox("三江 村B", "sw")
		s := e.signIn("trainer")["trainer"]
		draft := e.draftOf(s)
		if code, _, h := e.send(s, "POST", "/console/provision/build", buildForm(draft, "publish", boxA)); code != 303 || h.Get("Location") != "/console/provision?msg=published" {
			t.Fatalf("publish: %d %q", code, h.Get("Location"))
		}
		pb, err := e.st.LatestBundle(context.Background(), boxA)
		if err != nil {
			t.Fatal(err)
		}
		fetch := func(box, have string) (int, []byte, http.Header) {
			req, _ := http.NewRequest("GET", e.base+console.BundlePath+have, nil)
			if box != "" {
				req.Header.Set("Authorization", "Bearer "+e.token(box))
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, b, resp.Header
		}
		ver := func(v uint64) string { return "?have=" + strconv.FormatUint(v, 10) }
		for _, tc := range []struct {
			name, box, have string
			code            int
		}{
			{"no token", "", "", 401},
			{"A, has nothing", "三江 村A", "", 200},
			{"A, has an older one", "三江 村A", ver(pb.Version - 1), 200},
			{"A, has this one", "三江 村A", ver(pb.Version), 204},
			{"A, has a newer one", "三江 村A", ver(pb.Version + 1), 204},
			{"A, a bad have", "三江 村A", "?have=-1", 400},
			{"B, not its bundle", "三江 村B", "", 204},
		} {
			code, body, h := fetch(tc.box, tc.have)
			if code != tc.code {
				t.Errorf("%s: %d, want %d", tc.name, code, tc.code)
				continue
			}
			if code != 200 {
				if code == 204 && len(body) != 0 {
					t.Errorf("%s: 204 with %d bytes", tc.name, len(body))
				}
				continue
			}
			if h.Get(console.BundleVersionHeader) != strconv.FormatUint(pb.Version, 10) || h.Get(console.BundleSHA256Header) != pb.SHA256 {
				t.Errorf("%s: headers %v", tc.name, h)
			}
			a := e.boxes["三江 村A"]
			v, err := bundle.Open(bytes.NewReader(body), int64(len(body)), bundle.Trust{Root: sg.rootPub}, a.priv.Public().(ed25519.PublicKey), 0, time.Now())
			if err != nil || v.Manifest.Version != pb.Version {
				t.Errorf("%s: the bundle fetched does not open: %v", tc.name, err)
			}
		}
		// A second publish for both is newer for both; each box gets it.
		if code, _, _ := e.send(s, "POST", "/console/provision/build", buildForm(draft, "publish", boxA, e.boxes["三江 村B"].id)); code != 303 {
			t.Fatalf("second publish: %d", code)
		}
		pb2, _ := e.st.LatestBundle(context.Background(), boxA)
		if pb2.Version <= pb.Version {
			t.Fatalf("second version %d not after %d", pb2.Version, pb.Version)
		}
		for _, box := range []string{"三江 村A", "三江 村B"} {
			if code, _, h := fetch(box, ver(pb.Version)); code != 200 || h.Get(console.BundleVersionHeader) != strconv.FormatUint(pb2.Version, 10) {
				t.Errorf("%s after the second publish: %d %s", box, code, h.Get(console.BundleVersionHeader))
			}
		}
		if n := countAudit(t, e, "bundle.fetch"); n < 3 {
			t.Errorf("%d fetches audited", n)
		}
	})
}

package console

// The trainer's provisioning pages: she uploads a seller's catalogue and
// photos, sees every card drawn by the same overlay code the box runs,
// fills in where to stream, the Wi-Fi and the PIN, picks boxes, and gets a
// signed bundle (bundle.Build) to download or to publish for the boxes to
// fetch (provision_box.go).
//
// An upload is kept as a draft in the blob store (a stored zip, never
// unpacked to disk) under an unguessable id, so the preview and the build
// are separate requests that any process of the service can answer. The
// secrets typed on the build form go only into the sealed part of the
// bundle: they are not stored, logged, audited or written back into a
// page.

import (
	"archive/zip"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing/fstest"
	"time"
	"unicode/utf8"

	"github.com/cunbo/cunbo/bundle"
	"github.com/cunbo/cunbo/lint"
	"github.com/cunbo/cunbo/overlay"
	"github.com/cunbo/cunbo/review/retention"
	"github.com/cunbo/cunbo/review/store"
)

// Upload limits: what a seller's catalogue needs with room to spare, and
// within what a bundle may carry (bundle.MaxBundleSize).
const (
	MaxCatalogueBytes = 4 << 20  // the overlay reader's own limit
	MaxPhotoBytes     = 8 << 20  // a phone photo is 2–6 MB
	MaxPhotos         = 200      // more than the 500-row catalogue ever shows at once
	MaxUploadBytes    = 60 << 20 // the whole form, under bundle.MaxBundleSize
)

// Signing is the trainer key the service signs bundles with (serve
// --trainer-key, --trainer-cert, --root-pub; made by `provision trainer`).
type Signing struct {
	Key         ed25519.PrivateKey
	Cert        bundle.Certificate
	Root        ed25519.PublicKey
	Revocations *bundle.SignedRevocations // may be nil
}

// check verifies the key, certificate and root belong together now.
func (s *Signing) check(now time.Time) (bundle.Trainer, error) {
	t, err := s.Cert.Verify(s.Root)
	if err != nil {
		return t, fmt.Errorf("console: signing: %w", err)
	}
	if pub, err := t.PublicKey(); err != nil || len(s.Key) != ed25519.PrivateKeySize || !pub.Equal(s.Key.Public()) {
		return t, errors.New("console: signing: the trainer key does not match the certificate")
	}
	if !t.ValidAt(now) {
		return t, fmt.Errorf("console: signing: the certificate is valid from %v until %v", t.NotBefore, t.NotAfter)
	}
	return t, nil
}

// CheckSigning tells at start-up whether s can sign bundles at now.
func CheckSigning(s *Signing, now time.Time) error {
	_, err := s.check(now)
	return err
}

func (c *Console) provisionRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+Prefix+"provision", c.role(store.RoleTrainer, c.provisionPage))
	mux.Handle("POST "+Prefix+"provision/upload", c.limitForm(MaxUploadBytes,
		fmt.Sprintf("一次上传的文件太大了（超过 %d MB）。什么也没保存。请少放几张照片，或者把照片缩小一点再传。", MaxUploadBytes>>20),
		c.role(store.RoleTrainer, c.provisionUpload)))
	mux.HandleFunc("GET "+Prefix+"provision/d/{draft}", c.role(store.RoleTrainer, c.draftPage))
	mux.HandleFunc("GET "+Prefix+"provision/d/{draft}/card/{n}", c.role(store.RoleTrainer, c.draftCard))
	mux.HandleFunc("POST "+Prefix+"provision/build", c.role(store.RoleTrainer, c.provisionBuild))
}

// limitForm refuses a form over limit bytes before anything reads it,
// saying tooBig: the CSRF check parses the form, and a cut-off form would
// read as a stale page instead of saying what was too big.
func (c *Console) limitForm(limit int64, tooBig string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			c.fail(w, r, http.StatusRequestEntityTooLarge, tooBig)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		h.ServeHTTP(w, r)
	})
}

type provisionData struct {
	Signer string // who signs, "" when signing is not set up
	NoSign string // why it cannot sign
	Error  string
	Msg    string
	Limits string
}

var provisionMessages = map[string]string{"published": "✅ 设置包已经发布。盒子空闲的时候会自己下载、换上。"}

func (c *Console) signerStatus() (name, problem string) {
	if c.signing == nil {
		return "", "这个服务还没有设置签名（培训师密钥），不能做设置包。请管理员用 --trainer-key 和 --trainer-cert 重新启动服务。"
	}
	t, err := c.signing.check(c.now())
	if err != nil {
		c.log.Error("console: provision: signing", "err", err)
		return "", "这个服务的培训师密钥用不了（过期了、不配套或者被停用了）。请管理员换一把新的。"
	}
	return fmt.Sprintf("%s（证书 %d）", t.Name, t.Serial), ""
}

func (c *Console) provisionLimits() string {
	return fmt.Sprintf("商品表最大 %d MB；照片最多 %d 张，每张最大 %d MB；练习题最多 %d 个。", MaxCatalogueBytes>>20, MaxPhotos, MaxPhotoBytes>>20, MaxScenarioFiles)
}

func (c *Console) provisionPage(w http.ResponseWriter, r *http.Request, u who) {
	d := provisionData{Msg: provisionMessages[r.URL.Query().Get("msg")], Limits: c.provisionLimits()}
	d.Signer, d.NoSign = c.signerStatus()
	c.audit(r.Context(), u, r, "provision.view", "", "")
	c.render(w, http.StatusOK, "provision.html", page{Title: "做设置包", User: &u.user, CSRF: u.session.CSRF, Data: d})
}

func (c *Console) uploadRefused(w http.ResponseWriter, u who, code int, msg string) {
	d := provisionData{Error: msg + " 什么也没保存，请改好再选一次文件。", Limits: c.provisionLimits()}
	d.Signer, d.NoSign = c.signerStatus()
	c.render(w, code, "provision.html", page{Title: "做设置包", User: &u.user, CSRF: u.session.CSRF, Data: d})
}

// draft is an upload kept for its preview and its bundle.
type draft struct {
	Meta      draftMeta
	Catalogue []byte
	Photos    map[string][]byte
	Scenarios map[string][]byte // practice scenario files, by name
}

type draftMeta struct {
	User      string    `json:"user"`
	Created   time.Time `json:"created"`
	Catalogue string    `json:"catalogue"` // file name
	Portrait  bool      `json:"portrait"`
}

var draftIDRe = regexp.MustCompile(`^[0-9a-f]{32}$`)

// draftKey is under retention's prefix: the sweep removes drafts after
// retention.DraftsKept.
func draftKey(id string) string { return retention.DraftsPrefix + id + ".zip" }

// uploadName is a file's name as the bundle will carry it: the base name
// only, one path element under catalogue/.
func uploadName(fh *multipart.FileHeader) (string, bool) {
	name := path.Base(strings.ReplaceAll(fh.Filename, `\`, "/"))
	if name == "." || name == "/" || !utf8.ValidString(name) || bundle.CheckPath(bundle.CatalogueDir+"/"+name) != nil {
		return name, false
	}
	return name, true
}

func readPart(fh *multipart.FileHeader, limit int64) ([]byte, error) {
	f, err := fh.Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit+1))
}

func (c *Console) provisionUpload(w http.ResponseWriter, r *http.Request, u who) {
	// user() has parsed the form (in memory up to 32 MB, the rest in
	// temporary files that RemoveAll deletes).
	if r.MultipartForm == nil {
		c.uploadRefused(w, u, http.StatusBadRequest, "没有收到文件。")
		return
	}
	defer r.MultipartForm.RemoveAll()
	cats := r.MultipartForm.File["catalogue"]
	if len(cats) != 1 {
		c.uploadRefused(w, u, http.StatusBadRequest, "请选一个商品表（Excel 的 .xlsx，或者 CSV、TSV 文件）。")
		return
	}
	name, ok := uploadName(cats[0])
	if !ok || !slices.Contains([]string{".xlsx", ".csv", ".tsv"}, strings.ToLower(path.Ext(name))) {
		c.uploadRefused(w, u, http.StatusBadRequest, fmt.Sprintf("商品表“%s”的名字不行：要以 .xlsx、.csv 或 .tsv 结尾，名字里不要有奇怪的符号。", name))
		return
	}
	d := draft{Meta: draftMeta{User: u.user.Name, Created: c.now().UTC(), Catalogue: name, Portrait: r.PostFormValue("portrait") != "no"},
		Photos: map[string][]byte{}}
	var err error
	if d.Catalogue, err = readPart(cats[0], MaxCatalogueBytes); err != nil {
		c.internal(w, r, err)
		return
	}
	if len(d.Catalogue) > MaxCatalogueBytes {
		c.uploadRefused(w, u, http.StatusRequestEntityTooLarge, fmt.Sprintf("商品表“%s”太大了，最大 %d MB。", name, MaxCatalogueBytes>>20))
		return
	}
	photos := r.MultipartForm.File["photos"]
	if len(photos) > MaxPhotos {
		c.uploadRefused(w, u, http.StatusRequestEntityTooLarge, fmt.Sprintf("照片有 %d 张，最多 %d 张。", len(photos), MaxPhotos))
		return
	}
	for _, fh := range photos {
		pn, ok := uploadName(fh)
		if !ok {
			c.uploadRefused(w, u, http.StatusBadRequest, fmt.Sprintf("照片“%s”的名字不行，请改成简单的名字（比如 1.jpg）。", pn))
			return
		}
		if _, dup := d.Photos[pn]; dup || pn == name {
			c.uploadRefused(w, u, http.StatusBadRequest, fmt.Sprintf("有两个文件都叫“%s”，请改掉一个的名字。", pn))
			return
		}
		if fh.Size > MaxPhotoBytes {
			c.uploadRefused(w, u, http.StatusRequestEntityTooLarge, fmt.Sprintf("照片“%s”太大了（%.1f MB），每张最大 %d MB。请用手机把照片缩小一点再传。", pn, float64(fh.Size)/(1<<20), MaxPhotoBytes>>20))
			return
		}
		data, err := readPart(fh, MaxPhotoBytes)
		if err != nil {
			c.internal(w, r, err)
			return
		}
		if len(data) > MaxPhotoBytes {
			c.uploadRefused(w, u, http.StatusRequestEntityTooLarge, fmt.Sprintf("照片“%s”太大了，每张最大 %d MB。", pn, MaxPhotoBytes>>20))
			return
		}
		d.Photos[pn] = data
	}
	var code int
	var msg string
	d.Scenarios, code, msg = readScenarios(r.MultipartForm.File["scenarios"], func(n string) bool { return n == name })
	if code == 500 {
		c.internal(w, r, errors.New("console: provision: reading a scenario file"))
		return
	}
	if msg != "" {
		c.uploadRefused(w, u, code, msg)
		return
	}
	// A file the box cannot read at all is refused here, with the
	// reader's own words; row problems are shown on the draft's page.
	if _, _, err := overlay.ParseCatalog(bytes.NewReader(d.Catalogue), nil); err != nil {
		c.uploadRefused(w, u, http.StatusBadRequest, "商品表读不出来："+strings.TrimPrefix(err.Error(), "overlay: ")+"。")
		return
	}
	id := randomHex(16)
	data, err := d.marshal()
	if err != nil {
		c.internal(w, r, err)
		return
	}
	if err := c.blobs.Put(r.Context(), draftKey(id), bytes.NewReader(data), int64(len(data))); err != nil {
		c.internal(w, r, err)
		return
	}
	c.audit(r.Context(), u, r, "provision.upload", id, fmt.Sprintf("catalogue=%s photos=%d scenarios=%d bytes=%d", name, len(d.Photos), len(d.Scenarios), len(data)))
	http.Redirect(w, r, Prefix+"provision/d/"+id, http.StatusSeeOther)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}

func (d *draft) marshal() ([]byte, error) {
	meta, err := json.Marshal(d.Meta)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	put := func(name string, data []byte) error {
		f, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			return err
		}
		_, err = f.Write(data)
		return err
	}
	if err := put("meta.json", meta); err != nil {
		return nil, err
	}
	if err := put("catalogue/"+d.Meta.Catalogue, d.Catalogue); err != nil {
		return nil, err
	}
	for _, n := range slices.Sorted(maps.Keys(d.Photos)) {
		if err := put("photos/"+n, d.Photos[n]); err != nil {
			return nil, err
		}
	}
	for _, n := range slices.Sorted(maps.Keys(d.Scenarios)) {
		if err := put("scenarios/"+n, d.Scenarios[n]); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// loadDraft reads a draft back; ok is false (and the page written) when
// there is none.
func (c *Console) loadDraft(w http.ResponseWriter, r *http.Request, id string) (*draft, bool) {
	gone := func() (*draft, bool) {
		c.fail(w, r, http.StatusNotFound, "找不到这次上传的商品表。请回到“做设置包”重新上传。")
		return nil, false
	}
	if !draftIDRe.MatchString(id) {
		return gone()
	}
	rc, err := c.blobs.Open(r.Context(), draftKey(id))
	if err != nil {
		// The blob stores do not share a not-found error; an id that
		// matched the pattern but opens nothing is most likely gone.
		c.log.Info("console: provision: draft", "draft", id, "err", err)
		return gone()
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, MaxUploadBytes+1<<20))
	if err != nil {
		c.internal(w, r, err)
		return nil, false
	}
	d, err := unmarshalDraft(data)
	if err != nil {
		c.internal(w, r, fmt.Errorf("draft %s: %w", id, err))
		return nil, false
	}
	return d, true
}

func unmarshalDraft(data []byte) (*draft, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, err
	}
	d := &draft{Photos: map[string][]byte{}, Scenarios: map[string][]byte{}}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(io.LimitReader(rc, MaxUploadBytes))
		rc.Close()
		if err != nil {
			return nil, err
		}
		switch dir, name, _ := strings.Cut(f.Name, "/"); dir {
		case "meta.json":
			if err := json.Unmarshal(b, &d.Meta); err != nil {
				return nil, err
			}
		case "catalogue":
			d.Catalogue = b
		case "photos":
			d.Photos[name] = b
		case "scenarios":
			d.Scenarios[name] = b
		}
	}
	return d, nil
}

// parsed is a draft's catalogue read the way the box reads it: cat holds
// the cards the box shows; hidden are the rows whose card breaks an
// advertising rule, which the box never puts on screen (firmware/cards).
type parsed struct {
	cat       *overlay.Catalog
	problems  []overlay.Problem
	hidden    []hiddenCard
	scenarios []scenarioView
}

type hiddenCard struct {
	Row      int
	Name     string
	Problems []string // what to write instead, in the box's words
}

func (d *draft) parse() (parsed, error) {
	photos := fstest.MapFS{}
	for n, b := range d.Photos {
		photos[n] = &fstest.MapFile{Data: b, Mode: 0o644}
	}
	cat, problems, err := overlay.ParseCatalog(bytes.NewReader(d.Catalogue), photos)
	return parsed{cat: cat, problems: problems}, err
}

// checkRules keeps the cards lt passes, as the box does with the rules a
// bundle from this page leaves it (its built-in ones): the same words of
// each card (overlay's Product.Texts), one problem per outermost phrase.
func (p *parsed) checkRules(lt *lint.Linter) {
	kept := &overlay.Catalog{}
	for _, prod := range p.cat.Products {
		h := hiddenCard{Row: prod.Row, Name: prod.Name}
		for _, t := range prod.Texts() {
			for _, fd := range lint.Outermost(lt.CheckFinal(t.Text)) {
				msg := fmt.Sprintf("卡片%s里的“%s”不能用：%s", t.Label, fd.Match, fd.Explain)
				if fd.Law != "" {
					msg += "（" + fd.Law + "）"
				}
				msg += "。这张卡片不会出现在直播画面上。"
				if fd.Suggest != "" {
					msg += " 可以改成：" + fd.Suggest
				}
				h.Problems = append(h.Problems, msg)
			}
		}
		if len(h.Problems) == 0 {
			kept.Products = append(kept.Products, prod)
			continue
		}
		p.hidden = append(p.hidden, h)
	}
	p.cat = kept
}

// cardCache keeps the few drafts a trainer is looking at parsed, so each
// card's picture does not decode every photo of the catalogue again.
type cardCache struct {
	mu        sync.Mutex
	drafts    map[string]parsed
	order     []string
	renderers map[bool]*overlay.Renderer // by portrait
	linter    *lint.Linter               // the box's built-in rules
}

const cachedDrafts = 4

func (cc *cardCache) get(id string, d *draft) (parsed, error) {
	cc.mu.Lock()
	p, ok := cc.drafts[id]
	lt := cc.linter
	cc.mu.Unlock()
	if ok {
		return p, nil
	}
	// Decoding a catalogue's photos takes seconds on a busy server: not
	// under the lock every other trainer's pictures wait on.
	p, err := d.parse()
	if err != nil {
		return p, err
	}
	if lt == nil {
		if lt, err = lint.NewDefault(); err != nil {
			return p, fmt.Errorf("console: card rules: %w", err)
		}
	}
	p.checkRules(lt)
	p.scenarios = checkScenarios(d.Scenarios, &p, lt)
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.linter = lt
	if cc.drafts == nil {
		cc.drafts = map[string]parsed{}
	}
	cc.drafts[id] = p
	cc.order = append(cc.order, id)
	if len(cc.order) > cachedDrafts {
		delete(cc.drafts, cc.order[0])
		cc.order = cc.order[1:]
	}
	return p, nil
}

// renderer draws cards for the frame the box streams: 720×1280 portrait or
// 1280×720 landscape, the box's defaults (firmware/config).
func (cc *cardCache) renderer(font string, portrait bool) (*overlay.Renderer, error) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if r, ok := cc.renderers[portrait]; ok {
		return r, nil
	}
	w, h := 1280, 720
	if portrait {
		w, h = 720, 1280
	}
	r, err := overlay.NewRenderer(overlay.RenderConfig{FontPath: font, FrameWidth: w, FrameHeight: h})
	if err != nil {
		return nil, err
	}
	if cc.renderers == nil {
		cc.renderers = map[bool]*overlay.Renderer{}
	}
	cc.renderers[portrait] = r
	return r, nil
}

// optionalLine is cleanLine for a field that may be left empty.
func optionalLine(s string, max int) (string, bool) {
	if strings.TrimSpace(s) == "" {
		return "", true
	}
	return cleanLine(s, max)
}

package console

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image/png"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/cunbo/cunbo/bundle"
	"github.com/cunbo/cunbo/review/store"
)

// deviceIDRe is the box's rule for device_id (firmware/config).
var deviceIDRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// Platforms are the destinations the form offers, by their name in the
// box's configuration (the secrets' stream keys are keyed by it).
var platforms = []struct{ Name, Label string }{
	{"douyin", "抖音"},
	{"kuaishou", "快手"},
}

type cardRow struct {
	N        int // index in the catalogue, for the picture's address
	Row      int // spreadsheet row
	Name     string
	Problems []string
}

type rowProblems struct {
	Row      int
	Where    string // "第3行" or "整个文件"
	Problems []string
}

type boxChoice struct {
	ID, Name, Fingerprint string
	Checked               bool
}

type destForm struct {
	Name, Label, URL string
	KeySet           bool // a key was typed last time; it is not shown again
}

type draftData struct {
	ID        string
	Catalogue string
	Portrait  bool
	Cards     []cardRow
	Skipped   []rowProblems // rows that made no card, and the whole file's problems
	Hidden    []hiddenCard  // cards the box will not show: words that break a rule
	Problems  int
	Boxes     []boxChoice
	Dests     []destForm
	SSID      string
	Device    string
	Review    string
	Days      int
	Signer    string
	NoSign    string
	Error     string
	NoFont    string
	Scenarios []scenarioView
}

// draftForm is what the build form sent back, secrets excluded.
type draftForm struct {
	boxes  []string
	dests  map[string]string // name → URL
	keys   map[string]bool
	ssid   string
	review string
	device string
	days   int
}

func (c *Console) draftPage(w http.ResponseWriter, r *http.Request, u who) {
	id := r.PathValue("draft")
	d, ok := c.loadDraft(w, r, id)
	if !ok {
		return
	}
	c.audit(r.Context(), u, r, "provision.preview", id, "")
	f, msg := draftForm{review: c.defaultReviewURL(r), days: 30}, ""
	if r.URL.Query().Has("refused") {
		if rf, ok := c.loadRefused(r, u, id); ok {
			f, msg = rf.form(), rf.Msg
		}
	}
	c.renderDraft(w, r, u, http.StatusOK, id, d, f, msg)
}

// defaultReviewURL is this service as the box should reach it: the address
// the trainer's browser used.
func (c *Console) defaultReviewURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (c *Console) renderDraft(w http.ResponseWriter, r *http.Request, u who, code int, id string, d *draft, f draftForm, errMsg string) {
	p, err := c.cards.get(id, d)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	dd := draftData{ID: id, Catalogue: d.Meta.Catalogue, Portrait: d.Meta.Portrait, SSID: f.ssid, Device: f.device, Review: f.review, Days: f.days,
		Error: errMsg, Problems: len(p.problems)}
	dd.Signer, dd.NoSign = c.signerStatus()
	if _, err := c.cards.renderer(c.font, d.Meta.Portrait); err != nil {
		c.log.Error("console: provision: font", "err", err)
		dd.NoFont = "服务器上没有中文字体，画不出卡片的样子（盒子上照样能画）。请管理员装 fonts-noto-cjk。"
	}
	byRow := map[int][]string{}
	for _, pr := range p.problems {
		// The row is said once, beside the card or in the list.
		msg := pr.Msg
		if pr.Field != "" {
			msg = pr.Field + "：" + msg
		}
		byRow[pr.Row] = append(byRow[pr.Row], msg)
	}
	carded := map[int]bool{}
	for i, prod := range p.cat.Products {
		dd.Cards = append(dd.Cards, cardRow{N: i, Row: prod.Row, Name: prod.Name, Problems: byRow[prod.Row]})
		carded[prod.Row] = true
	}
	for _, row := range slices.Sorted(maps.Keys(byRow)) {
		if carded[row] {
			continue
		}
		where := fmt.Sprintf("第%d行", row)
		if row == 0 {
			where = "整个文件"
		}
		dd.Skipped = append(dd.Skipped, rowProblems{Row: row, Where: where, Problems: byRow[row]})
	}
	dd.Hidden = p.hidden
	dd.Problems += len(p.hidden)
	dd.Scenarios = p.scenarios
	boxes, err := c.st.Boxes(r.Context())
	if err != nil {
		c.internal(w, r, err)
		return
	}
	for _, b := range boxes {
		if b.IsRevoked() {
			continue
		}
		dd.Boxes = append(dd.Boxes, boxChoice{ID: b.ID, Name: b.Name, Fingerprint: bundle.Fingerprint(b.PublicKey), Checked: slices.Contains(f.boxes, b.ID)})
	}
	for _, pl := range platforms {
		dd.Dests = append(dd.Dests, destForm{Name: pl.Name, Label: pl.Label, URL: f.dests[pl.Name], KeySet: f.keys[pl.Name]})
	}
	c.render(w, code, "provision_draft.html", page{Title: "设置包：看卡片", User: &u.user, CSRF: u.session.CSRF, Data: dd})
}

// draftCard serves card n of a draft as a PNG, drawn by the renderer the
// box uses at the box's frame size.
func (c *Console) draftCard(w http.ResponseWriter, r *http.Request, u who) {
	id := r.PathValue("draft")
	n, err := strconv.Atoi(strings.TrimSuffix(r.PathValue("n"), ".png"))
	if err != nil || n < 0 {
		c.fail(w, r, http.StatusNotFound, "没有这张卡片。")
		return
	}
	d, ok := c.loadDraft(w, r, id)
	if !ok {
		return
	}
	p, err := c.cards.get(id, d)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	if n >= p.cat.Len() {
		c.fail(w, r, http.StatusNotFound, "没有这张卡片。")
		return
	}
	rd, err := c.cards.renderer(c.font, d.Meta.Portrait)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	card := rd.Render(&p.cat.Products[n])
	var buf bytes.Buffer
	if err := png.Encode(&buf, card.RGBA); err != nil {
		c.internal(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "private, max-age=3600")
	w.Write(buf.Bytes()) //nolint:errcheck // the browser went away
}

// boxConfig is the config.toml a bundle carries: only what the trainer's
// page sets; the box fills in the rest with its defaults.
type boxConfig struct {
	DeviceID string `toml:"device_id"`
	Video    struct {
		Portrait bool `toml:"portrait"`
	} `toml:"video"`
	Review struct {
		URL string `toml:"url"`
	} `toml:"review"`
	Dest []boxDest `toml:"destination"`
}

type boxDest struct {
	Name string `toml:"name"`
	Kind string `toml:"kind"`
	URL  string `toml:"url"`
}

func (c *Console) provisionBuild(w http.ResponseWriter, r *http.Request, u who) {
	id := r.PostFormValue("draft")
	d, ok := c.loadDraft(w, r, id)
	if !ok {
		return
	}
	f := draftForm{boxes: r.PostForm["box"], dests: map[string]string{}, keys: map[string]bool{}}
	var sec bundle.Secrets
	var cfg boxConfig
	cfg.Video.Portrait = d.Meta.Portrait
	refuse := func(msg string) {
		c.refuseBuild(w, r, u, id, d, f, msg+" 设置包没有做。密码和推流码没有保存，请重新填。")
	}
	var problems []string
	for _, pl := range platforms {
		raw, key := r.PostFormValue(pl.Name+"_url"), strings.TrimSpace(r.PostFormValue(pl.Name+"_key"))
		pu, ok := optionalLine(raw, 500)
		f.dests[pl.Name], f.keys[pl.Name] = pu, key != ""
		switch {
		case pu == "" && key == "":
			continue
		case !ok:
			problems = append(problems, pl.Label+"的推流地址太长或者有看不见的字符。")
		case pu == "":
			problems = append(problems, pl.Label+"填了推流码，还要填推流地址。")
		default:
			if u, err := url.Parse(pu); err != nil || u.Host == "" || (u.Scheme != "rtmp" && u.Scheme != "rtmps") {
				problems = append(problems, pl.Label+"的推流地址要以 rtmp:// 或 rtmps:// 开头（在直播伴侣或开播设置里复制）。")
				continue
			}
			// The address goes into config.toml in the clear and may be
			// shown again; the key belongs in the sealed secrets. An
			// address with more than the app after the host (or a query)
			// carries a key: internal/secret draws the line at the same
			// place.
			if u, _ := url.Parse(pu); strings.Contains(strings.Trim(u.EscapedPath(), "/"), "/") || u.RawQuery != "" || u.User != nil {
				f.dests[pl.Name] = ""
				problems = append(problems, pl.Label+"的推流地址里好像带着推流码。地址只填到第一个“/”后面那一段（比如 rtmp://…com/stage），后面的填到“推流码”里。")
				continue
			}
			if k, ok := optionalLine(key, 500); !ok || strings.ContainsAny(k, " \t") {
				problems = append(problems, pl.Label+"的推流码太长或者有空格、看不见的字符。")
				continue
			}
			cfg.Dest = append(cfg.Dest, boxDest{Name: pl.Name, Kind: "rtmp", URL: pu})
			if key != "" {
				if sec.StreamKeys == nil {
					sec.StreamKeys = map[string]string{}
				}
				sec.StreamKeys[pl.Name] = key
			}
		}
	}
	if len(cfg.Dest) == 0 && len(problems) == 0 {
		problems = append(problems, "至少要填一个推流地址（抖音或快手）。")
	}
	ssid, ok := optionalLine(r.PostFormValue("wifi_ssid"), 32)
	f.ssid = ssid
	pass := r.PostFormValue("wifi_password")
	switch {
	case !ok || len(ssid) > 32:
		problems = append(problems, "Wi-Fi 名字太长（最多 32 个字母）或者有看不见的字符。")
	case ssid == "" && pass != "":
		problems = append(problems, "填了 Wi-Fi 密码，还要填 Wi-Fi 名字。")
	case pass != "" && (len(pass) < 8 || len(pass) > 63):
		problems = append(problems, "Wi-Fi 密码要 8 到 63 个字母或数字。")
	case ssid != "":
		sec.WiFi = []bundle.WiFi{{SSID: ssid, Password: pass}}
	}
	if pin := strings.TrimSpace(r.PostFormValue("pin")); pin != "" {
		if msg := bundle.CheckPIN(pin); msg != "" {
			problems = append(problems, "手机页面密码："+msg+"。")
		} else {
			sec.PIN = pin
		}
	}
	review, ok := optionalLine(r.PostFormValue("review_url"), 300)
	f.review = review
	if ru, err := url.Parse(review); review != "" && (!ok || err != nil || ru.Host == "" || (ru.Scheme != "http" && ru.Scheme != "https")) {
		problems = append(problems, "审核服务的地址要以 http:// 或 https:// 开头。")
	}
	cfg.Review.URL = review
	days, err := strconv.Atoi(r.PostFormValue("days"))
	f.days = days
	if err != nil || days < 1 || days > 365 {
		problems = append(problems, "有效天数要写 1 到 365。")
	}
	var targets []bundle.Box
	var targetIDs []string
	for _, bid := range f.boxes {
		b, err := c.st.Box(r.Context(), bid)
		if err != nil || b.IsRevoked() {
			if err != nil && !isNotFound(err) {
				c.internal(w, r, err)
				return
			}
			problems = append(problems, "选的盒子里有一个不在了（停用了或者没登记），请重新选。")
			continue
		}
		targets = append(targets, bundle.Box{Key: b.PublicKey, Secrets: sec})
		targetIDs = append(targetIDs, b.ID)
	}
	if len(f.boxes) == 0 {
		problems = append(problems, "请至少选一个盒子。")
	}
	// device_id names the box in its records; one bundle carries one
	// configuration, so boxes set up together share it unless the
	// trainer names it.
	cfg.DeviceID = strings.ToLower(strings.TrimSpace(r.PostFormValue("device_id")))
	f.device = cfg.DeviceID
	if cfg.DeviceID == "" && len(targetIDs) > 0 {
		cfg.DeviceID = "cunbo-" + strings.ToLower(targetIDs[0][:min(12, len(targetIDs[0]))])
	}
	if cfg.DeviceID != "" && !deviceIDRe.MatchString(cfg.DeviceID) {
		problems = append(problems, "盒子的英文名只能用小写英文字母、数字和“-”，最多 32 个，比如 leishan-honey-01。")
	}
	action := r.PostFormValue("action")
	if action != "download" && action != "publish" {
		problems = append(problems, "请点“下载设置包”或者“发到盒子”。")
	}
	p, err := c.cards.get(id, d)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	if msg := scenarioProblems(p.scenarios); msg != "" {
		problems = append(problems, msg)
	}
	if len(problems) > 0 {
		refuse(strings.Join(problems, " "))
		return
	}
	if _, noSign := c.signerStatus(); noSign != "" {
		c.renderDraft(w, r, u, http.StatusServiceUnavailable, id, d, f, noSign)
		return
	}

	var conf bytes.Buffer
	conf.WriteString("# 设置包里的盒子设置，由培训师页面生成 (made by the trainer's page)\n")
	if err := toml.NewEncoder(&conf).Encode(cfg); err != nil {
		c.internal(w, r, err)
		return
	}
	// The box reads this file with its own loader (firmware/config, which
	// the service may not import): TestProvisionBuild loads every config
	// this page makes with it, so anything the box would drop or refuse is
	// caught here, not by the trainer at the village.
	contents := bundle.Contents{Config: conf.Bytes(), Catalogue: map[string][]byte{d.Meta.Catalogue: d.Catalogue}}
	for n, b := range d.Photos {
		contents.Catalogue[n] = b
	}
	if len(d.Scenarios) > 0 {
		contents.Scenarios = d.Scenarios
	}
	now := c.now().UTC()
	version := uint64(now.Unix())
	// Boxes take only a newer version: one published this second, or by
	// a trainer whose clock ran ahead, must not hide this one.
	for _, bid := range targetIDs {
		if pb, err := c.st.LatestBundle(r.Context(), bid); err == nil && pb.Version >= version {
			version = pb.Version + 1
		} else if err != nil && !errors.Is(err, store.ErrNotFound) {
			c.internal(w, r, err)
			return
		}
	}
	opts := bundle.Options{Version: version, Created: now, Expires: now.AddDate(0, 0, days), Boxes: targets,
		Signer: bundle.Signer{Key: c.signing.Key, Cert: c.signing.Cert}, Root: c.signing.Root, Revocations: c.signing.Revocations}
	var out bytes.Buffer
	if err := bundle.Build(&out, contents, opts); err != nil {
		c.log.Error("console: provision: build", "draft", id, "err", err)
		c.refuseBuild(w, r, u, id, d, f, "设置包做不出来（可能照片太多太大）。请少放几张照片再试。")
		return
	}
	sum := sha256.Sum256(out.Bytes())
	detail := fmt.Sprintf("version=%d boxes=%s scenarios=%d bytes=%d sha256=%s", version, strings.Join(targetIDs, ","), len(contents.Scenarios), out.Len(), hex.EncodeToString(sum[:]))
	if action == "download" {
		c.audit(r.Context(), u, r, "bundle.download", id, detail)
		h := w.Header()
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="cunbo-%d.cunbo"`, version))
		h.Set("Content-Length", strconv.Itoa(out.Len()))
		h.Set("Cache-Control", "no-store")
		w.Write(out.Bytes()) //nolint:errcheck // the browser went away
		return
	}
	key := fmt.Sprintf("provision/bundles/%d-%s.cunbo", version, hex.EncodeToString(sum[:8]))
	if err := c.blobs.Put(r.Context(), key, bytes.NewReader(out.Bytes()), int64(out.Len())); err != nil {
		c.internal(w, r, err)
		return
	}
	pb := store.PublishedBundle{Version: version, BlobKey: key, Size: int64(out.Len()), SHA256: hex.EncodeToString(sum[:]), Published: now, Actor: u.actor()}
	ae := store.AuditEntry{At: now, Actor: u.actor(), Action: "bundle.publish", Subject: id, Detail: joinDetail(detail, "from="+from(r))}
	if err := c.st.PublishBundle(r.Context(), pb, targetIDs, ae); err != nil {
		c.internal(w, r, err)
		return
	}
	http.Redirect(w, r, Prefix+"provision?msg=published", http.StatusSeeOther)
}

package console

// The trainer enrols a new box here instead of on the command line: she
// gives the box's identity (the text of the QR on its phone page,
// bundle.EnrolText) as a photo or screenshot of the QR, pasted or typed,
// or in the page's link (?key=, which a QR holding a console URL opens),
// and a name. The photo is decoded on the server (review/qrscan), so it
// works in every phone browser, WeChat's included, with no script.
//
// A refused form is shown again with everything she gave kept: her
// name, the text, and the text read from her photo, so she never has to
// take the picture twice.

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cunbo/cunbo/bundle"
	"github.com/cunbo/cunbo/review/boxauth"
	"github.com/cunbo/cunbo/review/qrscan"
	"github.com/cunbo/cunbo/review/store"
)

// Enrolment limits: a phone photo is 2–8 MB; the name is what a list row
// shows.
const (
	MaxEnrolPhotoBytes = 15 << 20
	maxEnrolForm       = MaxEnrolPhotoBytes + 64<<10
	maxBoxName         = 40 // characters
)

func (c *Console) enrolRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+Prefix+"boxes/enrol", c.role(store.RoleTrainer, c.enrolPage))
	mux.Handle("POST "+Prefix+"boxes/enrol", c.limitForm(maxEnrolForm,
		fmt.Sprintf("照片太大了（超过 %d MB）。请回到上一页，截一张屏，或者把照片缩小一点再传。", MaxEnrolPhotoBytes>>20),
		c.role(store.RoleTrainer, c.enrol)))
	mux.HandleFunc("GET "+Prefix+"boxes/enrol/done", c.role(store.RoleTrainer, c.enrolDone))
}

type enrolData struct {
	Key, Name, Worker string
	Error             string
	// Social lists the social workers when she may also assign the box
	// (an admin); empty otherwise.
	Social []string
	Limit  int
}

func (c *Console) enrolPage(w http.ResponseWriter, r *http.Request, u who) {
	d := enrolData{Key: strings.TrimSpace(r.URL.Query().Get("key"))}
	c.renderEnrol(w, r, u, http.StatusOK, d)
}

func (c *Console) renderEnrol(w http.ResponseWriter, r *http.Request, u who, code int, d enrolData) {
	d.Limit = MaxEnrolPhotoBytes >> 20
	if u.user.Has(store.RoleAdmin) {
		users, err := c.st.Users(r.Context())
		if err != nil {
			c.internal(w, r, err)
			return
		}
		for _, su := range users {
			if su.Has(store.RoleSocial) {
				d.Social = append(d.Social, su.Name)
			}
		}
	}
	c.render(w, code, "enrol.html", page{Title: "添加新盒子", User: &u.user, CSRF: u.session.CSRF, Data: d})
}

func (c *Console) enrol(w http.ResponseWriter, r *http.Request, u who) {
	if r.MultipartForm != nil {
		defer r.MultipartForm.RemoveAll()
	}
	d := enrolData{Key: strings.TrimSpace(r.PostFormValue("key")), Name: strings.TrimSpace(r.PostFormValue("name")),
		Worker: r.PostFormValue("worker")}
	refuse := func(code int, msg string) {
		d.Error = msg
		c.renderEnrol(w, r, u, code, d)
	}
	photo, fromPhoto, msg := c.enrolPhoto(r)
	if msg != "" {
		refuse(http.StatusBadRequest, msg)
		return
	}
	if fromPhoto {
		d.Key = photo // kept: a later refusal does not need the photo again
	}
	if d.Key == "" {
		refuse(http.StatusBadRequest, "请拍一张盒子二维码的照片，或者把盒子身份粘贴进来。")
		return
	}
	pub, msg := enrolKey(d.Key, fromPhoto)
	if msg != "" {
		refuse(http.StatusBadRequest, msg)
		return
	}
	if d.Name == "" {
		refuse(http.StatusBadRequest, "请给这个盒子起个名字（比如：榕江 杨阿姨），以后在列表里认得出来。")
		return
	}
	if n := utf8.RuneCountInString(d.Name); n > maxBoxName || !utf8.ValidString(d.Name) || strings.ContainsFunc(d.Name, unicode.IsControl) {
		refuse(http.StatusBadRequest, fmt.Sprintf("名字太长了，或者里面有奇怪的符号。请用 %d 个字以内。", maxBoxName))
		return
	}
	var worker store.User
	if d.Worker != "" {
		var err error
		worker, err = c.st.User(r.Context(), d.Worker)
		if !u.user.Has(store.RoleAdmin) || isNotFound(err) || (err == nil && !worker.Has(store.RoleSocial)) {
			refuse(http.StatusBadRequest, "盒子只能分给社工。请从名单里选一位社工，或者先不分。")
			return
		}
		if err != nil {
			c.internal(w, r, err)
			return
		}
	}
	id := boxauth.BoxID(pub)
	if old, err := c.st.Box(r.Context(), id); err == nil {
		refuse(http.StatusConflict, enrolledBefore(old))
		return
	} else if !isNotFound(err) {
		c.internal(w, r, err)
		return
	}
	now := c.now()
	// Enroll writes the audit line (box.add, by her, with the name), as the
	// command line does.
	if _, err := boxauth.Enroll(r.Context(), c.st, pub, d.Name, u.actor(), now); err != nil {
		if errors.Is(err, store.ErrExists) { // added a moment ago, from another page
			if old, err := c.st.Box(r.Context(), id); err == nil {
				refuse(http.StatusConflict, enrolledBefore(old))
				return
			}
		}
		c.internal(w, r, err)
		return
	}
	c.audit(r.Context(), u, r, "box.enrol", id, "way="+map[bool]string{true: "photo", false: "text"}[fromPhoto])
	if d.Worker != "" {
		a := store.AuditEntry{At: now, Actor: u.actor(), Action: "box.assign", Subject: id, Detail: "to=" + worker.Name + " from=" + from(r)}
		if err := c.st.AssignBox(r.Context(), id, worker.Name, a); err != nil {
			c.internal(w, r, err)
			return
		}
	}
	http.Redirect(w, r, Prefix+"boxes/enrol/done?box="+id, http.StatusSeeOther)
}

// enrolPhoto reads the QR of the uploaded photo, if there is one. msg is
// what to tell her when there is a photo and it cannot be read.
func (c *Console) enrolPhoto(r *http.Request) (text string, ok bool, msg string) {
	if r.MultipartForm == nil {
		return "", false, ""
	}
	// The page has two pickers (the camera, and screenshots or photos
	// already taken): the first one with a file counts.
	i := slices.IndexFunc(r.MultipartForm.File["photo"], func(fh *multipart.FileHeader) bool { return fh.Size > 0 })
	if i < 0 {
		return "", false, ""
	}
	fh := r.MultipartForm.File["photo"][i]
	if fh.Size > MaxEnrolPhotoBytes {
		return "", false, fmt.Sprintf("照片太大了（超过 %d MB）。请截一张屏，或者把照片缩小一点再传。", MaxEnrolPhotoBytes>>20)
	}
	f, err := fh.Open()
	if err != nil {
		c.log.Error("console: enrol: photo", "err", err)
		return "", false, "照片没有传完整。请再传一次。"
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxEnrolPhotoBytes+1))
	if err != nil {
		c.log.Error("console: enrol: photo", "err", err)
		return "", false, "照片没有传完整。请再传一次。"
	}
	text, err = qrscan.Decode(data)
	switch {
	case err == nil:
		return text, true, ""
	case errors.Is(err, qrscan.ErrNoCode):
		return "", false, "照片里没找到二维码（靠近一点、别反光，再拍一张）。也可以在盒子页面上点“📋 复制盒子身份”，粘贴到下面。"
	case errors.Is(err, qrscan.ErrHEIC):
		return "", false, "这张照片是苹果手机的 HEIC 格式，读不了。请截一张屏再传（截屏是 PNG），或者在相机设置里选“兼容性最佳”。"
	case errors.Is(err, qrscan.ErrTooLarge):
		return "", false, "这张照片太大了（像素太多）。请截一张屏，或者把照片缩小一点再传。"
	default:
		return "", false, "这个文件不是照片（要 JPG 或 PNG 图片）。请拍一张盒子二维码的照片，或者截一张屏。"
	}
}

// enrolKey reads a box's public key from what she gave: the QR text, the
// hex alone (spaces, dashes and capitals allowed), or a console link that
// carries it. msg says in plain words what is wrong.
func enrolKey(s string, fromPhoto bool) (ed25519.PublicKey, string) {
	s = strings.TrimSpace(strings.NewReplacer("：", ":", "－", "-", "　", " ").Replace(s))
	if u, err := url.Parse(s); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		if k := u.Query().Get("key"); k != "" {
			s = strings.TrimSpace(k)
		}
	}
	if pub, err := bundle.ParseEnrolText(s); err == nil {
		return pub, ""
	}
	hex := strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || r == '-' {
			return -1
		}
		return unicode.ToLower(r)
	}, strings.TrimPrefix(s, "cunbo-box:"))
	isHex := hex != "" && strings.Trim(hex, "0123456789abcdef") == ""
	want := 2 * ed25519.PublicKeySize
	switch {
	case isHex && len(hex) < want:
		return nil, fmt.Sprintf("盒子身份不完整（少了 %d 位）。请对着盒子页面再看一遍，或者点盒子页面上的“📋 复制盒子身份”再粘贴。", want-len(hex))
	case isHex:
		return nil, fmt.Sprintf("盒子身份多了 %d 位。请对着盒子页面再看一遍，只要“cunbo-box:”后面的 %d 位。", len(hex)-want, want)
	case fromPhoto:
		return nil, "这不是盒子的二维码。请拍盒子手机页面上“🔧 盒子身份”下面的那个二维码。"
	default:
		return nil, fmt.Sprintf("这不是盒子的身份。盒子身份是“cunbo-box:”开头，后面 %d 位数字和字母（0–9、a–f），在盒子手机页面的“🔧 盒子身份”里。", want)
	}
}

// enrolledBefore says which box she is adding again.
func enrolledBefore(b store.Box) string {
	name := b.Name
	if name == "" {
		name = "没有名字"
	}
	if b.IsRevoked() {
		return fmt.Sprintf("这个盒子以前添加过，后来停用了（名字：%s）。停用的盒子不能再添加回来：请技术员给盒子换一个新身份，再来添加。", name)
	}
	return fmt.Sprintf("这个盒子已经添加过了（名字：%s，指纹 %s）。不用再添加，可以直接去做设置包。", name, bundle.Fingerprint(b.PublicKey))
}

type enrolDoneData struct {
	Box         store.Box
	Fingerprint string
	Worker      string
}

// enrolDone is where a successful enrolment lands (a reload does not
// enrol twice): the box's fingerprint, to compare with the one on the
// box's own page.
func (c *Console) enrolDone(w http.ResponseWriter, r *http.Request, u who) {
	b, ok := c.namedBox(w, r, r.URL.Query().Get("box"))
	if !ok {
		return
	}
	d := enrolDoneData{Box: b, Fingerprint: bundle.Fingerprint(b.PublicKey)}
	if wk, err := c.st.Worker(r.Context(), b.ID); err == nil {
		d.Worker = wk
	} else if !isNotFound(err) {
		c.internal(w, r, err)
		return
	}
	c.render(w, http.StatusOK, "enrol_done.html", page{Title: "盒子已添加", User: &u.user, CSRF: u.session.CSRF, Data: d})
}

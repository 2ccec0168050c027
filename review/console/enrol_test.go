package console_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	qrcode "github.com/yeqown/go-qrcode/v2"

	"github.com/cunbo/cunbo/bundle"
	"github.com/cunbo/cunbo/review/boxauth"
	"github.com/cunbo/cunbo/review/console"
	"github.com/cunbo/cunbo/review/store"
)

// shotKey is the key of the simulated box whose phone page
// ../qrscan/testdata/boxpage.png shows (fingerprint f502-dfeb-7eeb-8f45-2cce).
const (
	shotKey         = "ebc3916eb78dd6a7d2c0616238e898e60793e0e2a6ff81040154158e50bb436c"
	shotFingerprint = "f502-dfeb-7eeb-8f45-2cce"
	boxPageShot     = "../qrscan/testdata/boxpage.png"
)

// A trainer adds a box by a photo of its QR, by pasting or typing its
// identity, or by a link; everything else is refused in plain words with
// what she gave kept, and nothing is enrolled.
func TestEnrolBox(t *testing.T) {
	shot, err := os.ReadFile(boxPageShot)
	if err != nil {
		t.Fatal(err)
	}
	shotPub := mustKey(t, shotKey)
	forEachBackend(t, func(t *testing.T, e *env) {
		e.addUser("杨老师", store.RoleTrainer)
		e.addUser("王芳", store.RoleSocial)
		e.addUser("管理员", store.RoleAdmin, store.RoleTrainer)
		s := e.signIn("杨老师", "王芳", "管理员")
		revoked := e.addBox("雷山 停用的", "王芳")
		rb, err := e.st.Box(context.Background(), revoked)
		if err != nil {
			t.Fatal(err)
		}
		if err := boxauth.Revoke(context.Background(), e.st, revoked, "test", time.Now()); err != nil {
			t.Fatal(err)
		}
		named := func(text string) url.Values { return url.Values{"name": {"榕江 杨阿姨"}, "key": {text}} }
		for _, tc := range []struct {
			name string
			as   string
			key  ed25519.PublicKey // nil: a new box's
			// form is what she sends, given the box's QR text.
			form     func(text string) url.Values
			files    []upFile
			code     int
			wantPage []string // on the page she lands on; %s is the box's QR text
			enrolled bool
			worker   string
		}{
			{name: "screenshot of the box page", as: "杨老师", key: shotPub, form: func(string) url.Values { return url.Values{"name": {"榕江 杨阿姨"}} },
				files: []upFile{{"photo", "", nil}, {"photo", "Screenshot_20261207.png", shot}}, code: http.StatusOK,
				wantPage: []string{"🟢", "榕江 杨阿姨", shotFingerprint}, enrolled: true},
			{name: "pasted QR text", as: "杨老师", form: named, code: http.StatusOK, wantPage: []string{"🟢", "榕江 杨阿姨"}, enrolled: true},
			{name: "typed hex, capitals, spaces and dashes", as: "杨老师", form: func(text string) url.Values {
				h := strings.TrimPrefix(text, "cunbo-box:")
				return named(strings.ToUpper(h[:16]) + " " + h[16:32] + "-" + h[32:48] + "\n" + h[48:])
			}, code: http.StatusOK, wantPage: []string{"🟢"}, enrolled: true},
			{name: "full-width colon from a Chinese keyboard", as: "杨老师", form: func(text string) url.Values {
				return named(strings.Replace(text, ":", "：", 1))
			}, code: http.StatusOK, wantPage: []string{"🟢"}, enrolled: true},
			{name: "a console link", as: "杨老师", form: func(text string) url.Values {
				return named("http://10.0.0.2:8090/console/boxes/enrol?key=" + url.QueryEscape(text))
			}, code: http.StatusOK, wantPage: []string{"🟢"}, enrolled: true},
			{name: "an admin assigns it too", as: "管理员", form: func(text string) url.Values {
				v := named(text)
				v.Set("worker", "王芳")
				return v
			}, code: http.StatusOK, wantPage: []string{"🟢", "社工：王芳"}, enrolled: true, worker: "王芳"},
			{name: "photo without a QR", as: "杨老师", form: func(string) url.Values { return url.Values{"name": {"榕江 杨阿姨"}} },
				files: []upFile{{"photo", "ji.png", testPNG(t)}}, code: http.StatusBadRequest,
				wantPage: []string{"照片里没找到二维码（靠近一点、别反光，再拍一张）", `value="榕江 杨阿姨"`}},
			{name: "someone else's QR", as: "杨老师", form: func(string) url.Values { return url.Values{"name": {"榕江 杨阿姨"}} },
				files: []upFile{{"photo", "wx.png", enrolQR(t, "https://u.wechat.com/EKnd2X")}}, code: http.StatusBadRequest,
				wantPage: []string{"这不是盒子的二维码", `value="榕江 杨阿姨"`}},
			{name: "two digits short", as: "杨老师", form: func(text string) url.Values { return named(text[:len(text)-2]) },
				code: http.StatusBadRequest, wantPage: []string{"盒子身份不完整（少了 2 位）", `value="榕江 杨阿姨"`}},
			{name: "not a box identity", as: "杨老师", form: func(string) url.Values { return named("杨阿姨的盒子") },
				code: http.StatusBadRequest, wantPage: []string{"这不是盒子的身份", "杨阿姨的盒子</textarea>"}},
			{name: "a text file as the photo", as: "杨老师", form: func(string) url.Values { return url.Values{"name": {"榕江 杨阿姨"}} },
				files: []upFile{{"photo", "key.txt", []byte("cunbo-box:" + shotKey)}}, code: http.StatusBadRequest,
				wantPage: []string{"这个文件不是照片", `value="榕江 杨阿姨"`}},
			{name: "an iPhone HEIC photo", as: "杨老师", form: func(string) url.Values { return url.Values{"name": {"榕江 杨阿姨"}} },
				files: []upFile{{"photo", "IMG_0001.HEIC", append([]byte{0, 0, 0, 0x18}, "ftypheic\x00\x00\x00\x00mif1heic"...)}},
				code:  http.StatusBadRequest, wantPage: []string{"HEIC", "截一张屏", `value="榕江 杨阿姨"`}},
			{name: "nothing given", as: "杨老师", form: func(string) url.Values { return url.Values{"name": {"榕江 杨阿姨"}} },
				code: http.StatusBadRequest, wantPage: []string{"请拍一张盒子二维码的照片，或者把盒子身份粘贴进来"}},
			{name: "no name: what the photo said is kept", as: "杨老师", key: shotPub, form: func(string) url.Values { return url.Values{} },
				files: []upFile{{"photo", "shot.png", shot}}, code: http.StatusBadRequest,
				wantPage: []string{"请给这个盒子起个名字", "%s</textarea>"}},
			{name: "a trainer cannot assign", as: "杨老师", form: func(text string) url.Values {
				v := named(text)
				v.Set("worker", "王芳")
				return v
			}, code: http.StatusBadRequest, wantPage: []string{"盒子只能分给社工", "%s</textarea>"}},
			{name: "revoked box", as: "杨老师", key: rb.PublicKey, form: func(text string) url.Values { return named(text) },
				code: http.StatusConflict, wantPage: []string{"后来停用了（名字：雷山 停用的）"}},
			{name: "a social worker may not", as: "王芳", form: named, code: http.StatusForbidden},
		} {
			t.Run(tc.name, func(t *testing.T) {
				key := tc.key
				if key == nil {
					key = newKey(t)
				}
				text := bundle.EnrolText(key)
				_, before := e.st.Box(context.Background(), boxauth.BoxID(key))
				code, body := e.enrolForm(s[tc.as], tc.form(text), tc.files)
				if code != tc.code {
					t.Fatalf("status %d, want %d:\n%s", code, tc.code, body)
				}
				for _, w := range tc.wantPage {
					if w = strings.ReplaceAll(w, "%s", text); !strings.Contains(body, w) {
						t.Errorf("page lacks %q:\n%s", w, body)
					}
				}
				b, err := e.st.Box(context.Background(), boxauth.BoxID(key))
				if tc.enrolled {
					if err != nil || before == nil {
						t.Fatalf("box not newly enrolled: before %v, after %v", before, err)
					}
					if b.Name != "榕江 杨阿姨" || !ed25519.PublicKey(b.PublicKey).Equal(key) {
						t.Errorf("enrolled %+v", b)
					}
					if !strings.Contains(body, bundle.Fingerprint(key)) {
						t.Errorf("the page does not show the fingerprint %s", bundle.Fingerprint(key))
					}
				} else if before != nil && err == nil {
					t.Fatalf("box enrolled: %+v", b)
				}
				if tc.worker != "" {
					if w, err := e.st.Worker(context.Background(), b.ID); err != nil || w != tc.worker {
						t.Errorf("worker %q (%v), want %s", w, err, tc.worker)
					}
				}
			})
		}

		t.Run("twice", func(t *testing.T) {
			code, body := e.enrolForm(s["杨老师"], url.Values{"name": {"另一个名字"}, "key": {bundle.EnrolText(shotPub)}}, nil)
			if code != http.StatusConflict || !strings.Contains(body, "这个盒子已经添加过了（名字：榕江 杨阿姨，指纹 "+shotFingerprint) ||
				!strings.Contains(body, `value="另一个名字"`) {
				t.Fatalf("again: %d\n%s", code, body)
			}
		})

		t.Run("no CSRF token", func(t *testing.T) {
			key := newKey(t)
			code, _ := e.enrolForm(sess{c: s["杨老师"].c}, named(bundle.EnrolText(key)), nil)
			if code != http.StatusForbidden {
				t.Fatalf("status %d, want 403", code)
			}
			if _, err := e.st.Box(context.Background(), boxauth.BoxID(key)); err == nil {
				t.Fatal("enrolled without the CSRF token")
			}
		})

		t.Run("photo over the limit", func(t *testing.T) {
			big := append(bytes.Clone(shot), make([]byte, console.MaxEnrolPhotoBytes)...)
			code, body := e.enrolForm(s["杨老师"], url.Values{"name": {"x"}}, []upFile{{"photo", "big.png", big}})
			if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "照片太大了") {
				t.Fatalf("status %d:\n%s", code, body)
			}
		})

		t.Run("a link fills the identity in", func(t *testing.T) {
			text := bundle.EnrolText(newKey(t))
			code, body, _ := e.send(s["杨老师"], "GET", "/console/boxes/enrol?key="+url.QueryEscape(text), nil)
			if code != http.StatusOK || !strings.Contains(body, text+"</textarea>") {
				t.Fatalf("status %d:\n%s", code, body)
			}
		})

		t.Run("the audit says who added it", func(t *testing.T) {
			es, err := e.st.AuditPage(context.Background(), store.AuditFilter{Actor: "user:杨老师", Action: "box.add", Limit: 50})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(es, func(a store.AuditEntry) bool {
				return a.Subject == boxauth.BoxID(shotPub) && a.Detail == "榕江 杨阿姨"
			}) {
				t.Errorf("no box.add of the screenshot's box by user:杨老师 in %+v", es)
			}
		})
	})
}

// enrolForm posts the enrol form as s and follows where it lands.
func (e *env) enrolForm(s sess, fields url.Values, files []upFile) (int, string) {
	e.t.Helper()
	code, body, h := e.uploadForm(s, "/console/boxes/enrol", fields, files)
	if code == http.StatusSeeOther {
		code, body, _ = e.send(s, "GET", h.Get("Location"), nil)
	}
	return code, body
}

func mustKey(t *testing.T, h string) ed25519.PublicKey {
	t.Helper()
	k, err := bundle.ParsePublicKeyHex(h)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newKey(t *testing.T) ed25519.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// qrMatrix collects the box's QR library's matrix.
type qrMatrix struct{ m qrcode.Matrix }

func (w *qrMatrix) Write(m qrcode.Matrix) error { w.m = m; return nil }
func (w *qrMatrix) Close() error                { return nil }

// enrolQR draws text as a QR code the way the box's library encodes it,
// 6 pixels a module.
func enrolQR(t *testing.T, text string) []byte {
	t.Helper()
	q, err := qrcode.NewWith(text, qrcode.WithErrorCorrectionLevel(qrcode.ErrorCorrectionMedium))
	if err != nil {
		t.Fatal(err)
	}
	var w qrMatrix
	if err := q.Save(&w); err != nil {
		t.Fatal(err)
	}
	const px = 6
	n := w.m.Width() + 8
	img := image.NewGray(image.Rect(0, 0, n*px, n*px))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	w.m.Iterate(qrcode.IterDirection_ROW, func(x, y int, v qrcode.QRValue) {
		if v.IsSet() {
			for d := range px * px {
				img.SetGray((x+4)*px+d%px, (y+4)*px+d/px, color.Gray{})
			}
		}
	})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

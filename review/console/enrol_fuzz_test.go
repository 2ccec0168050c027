package console

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cunbo/cunbo/bundle"
	"github.com/cunbo/cunbo/review/boxauth"
)

// Whatever she types, pastes or picks as the box's identity and name, the
// form enrols exactly the box the text names or refuses it in plain words:
// never a server error, never a panic, never another box.
func FuzzEnrol(f *testing.F) {
	key := strings.Repeat("ab", 32)
	for _, s := range []struct{ key, name string }{
		{"cunbo-box:" + key, "榕江 杨阿姨"},
		{strings.ToUpper(key[:20]) + " - " + key[20:], "x"},
		{"cunbo-box：" + key[:62], ""},
		{"http://10.0.0.2/console/boxes/enrol?key=cunbo-box%3A" + key, "a\x00b"},
		{"https://u.wechat.com/?key=", strings.Repeat("名", 41)},
		{"ＣＵＮＢＯ", "\u202e"},
	} {
		f.Add(s.key, s.name, []byte("\x89PNG\r\n\x1a\n"))
	}
	ctx := context.Background()
	c, st, u := fuzzTrainerConsole(f)
	f.Fuzz(func(t *testing.T, keyText, name string, photo []byte) {
		pub, msg := enrolKey(keyText, false)
		if (pub == nil) == (msg == "") {
			t.Fatalf("enrolKey(%q) = %x, %q: want a key or a reason", keyText, pub, msg)
		}
		if want, err := bundle.ParseEnrolText(keyText); err == nil && !want.Equal(pub) {
			t.Fatalf("enrolKey(%q) = %x, the box's own parser says %x", keyText, pub, want)
		}
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		mw.WriteField("key", keyText)
		mw.WriteField("name", name)
		if len(photo) > 8 { // short ones stand for no photo picked
			w, _ := mw.CreateFormFile("photo", "p.png")
			w.Write(photo)
		}
		mw.Close()
		r := httptest.NewRequest(http.MethodPost, Prefix+"boxes/enrol", &body)
		r.Header.Set("Content-Type", mw.FormDataContentType())
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		c.enrol(w, r, u)
		switch w.Code {
		case http.StatusSeeOther:
			if pub == nil && len(photo) <= 8 {
				t.Fatalf("enrolled from %q, which names no box", keyText)
			}
			id := strings.TrimPrefix(w.Header().Get("Location"), Prefix+"boxes/enrol/done?box=")
			b, err := st.Box(ctx, id)
			if err != nil {
				t.Fatalf("enrolled %s: %v", id, err)
			}
			if b.Name != strings.TrimSpace(name) {
				t.Fatalf("name %q, want %q", b.Name, strings.TrimSpace(name))
			}
			if pub != nil && len(photo) <= 8 && boxauth.BoxID(ed25519.PublicKey(pub)) != id {
				t.Fatalf("enrolled %s, the text names %s", id, boxauth.BoxID(pub))
			}
		case http.StatusBadRequest, http.StatusConflict:
			if !strings.Contains(w.Body.String(), "⚠️") {
				t.Fatalf("refused without a reason:\n%s", w.Body.String())
			}
		default:
			t.Fatalf("status %d for key %q name %q:\n%s", w.Code, keyText, name, w.Body.String())
		}
	})
}

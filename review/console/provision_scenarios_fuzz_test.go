package console

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Whatever scenario file a trainer uploads with a good catalogue, the
// upload keeps a draft whose page lists it (or its problems), or refuses
// it with a plain reason: never a server error, never a panic.
func FuzzProvisionScenarios(f *testing.F) {
	f.Add("01 榕江.txt", []byte("scenario 榕江\nversion 1\ncard 1+5 | 阿英 | 1 | 30 | - | 多少钱？ | 六十八\n"))
	f.Add("坏.txt", []byte("scenario 坏\nversion 1\n3 | 甲 | 1 | 30 | PRICE | 便宜吗 | 全网最低价\n"))
	f.Add("../x.txt", []byte("\xff\xfe"))
	f.Add("a.scn", []byte("version 1\n"))
	c, _, u := fuzzTrainerConsole(f)
	f.Fuzz(func(t *testing.T, name string, scn []byte) {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		for _, p := range []struct {
			field, name string
			data        []byte
		}{{"catalogue", "商品.csv", []byte("编号,名称,价格\n1,榕江小香鸡,68\n")}, {"scenarios", name, scn}} {
			w, err := mw.CreateFormFile(p.field, p.name)
			if err != nil {
				t.Fatal(err)
			}
			w.Write(p.data)
		}
		mw.Close()
		r := httptest.NewRequest("POST", Prefix+"provision/upload", &body)
		r.Header.Set("Content-Type", mw.FormDataContentType())
		if err := r.ParseMultipartForm(32 << 20); err != nil {
			return
		}
		// A part whose file name is empty is a plain field, not a file (no
		// browser sends one for a chosen file): then no scenario arrives.
		sent := len(r.MultipartForm.File["scenarios"])
		w := httptest.NewRecorder()
		c.provisionUpload(w, r, u)
		switch w.Code {
		case http.StatusSeeOther:
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			if !strings.Contains(w.Body.String(), "什么也没保存") {
				t.Fatalf("refused (%d) without saying nothing was kept:\n%s", w.Code, w.Body)
			}
			return
		default:
			t.Fatalf("upload of scenario %q (%d bytes): %d\n%s", name, len(scn), w.Code, w.Body)
		}
		id := strings.TrimPrefix(w.Header().Get("Location"), Prefix+"provision/d/")
		r = httptest.NewRequest("GET", Prefix+"provision/d/"+id, nil)
		r.SetPathValue("draft", id)
		w = httptest.NewRecorder()
		c.draftPage(w, r, u)
		if w.Code != http.StatusOK || (sent == 1) != strings.Contains(w.Body.String(), `id="scenario-count">1<`) {
			t.Fatalf("draft page after uploading scenario %q: %d\n%.2000s", name, w.Code, w.Body)
		}
	})
}

package console

import (
	"bytes"
	"context"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/review/blob"
	"github.com/cunbo/cunbo/review/store"
)

// Whatever a trainer's spreadsheet program (or anyone) sends as a
// catalogue and photo, the upload either keeps a draft whose page and
// cards are served, or refuses it with a plain reason: never a server
// error, never a panic.
func FuzzProvisionUpload(f *testing.F) {
	for _, s := range []struct{ name, cat, photo string }{
		{"商品.csv", "名称,价格,图片\n榕江小香鸡,68,ji.png\n", "ji.png"},
		{"商品.tsv", "名称\t价格\n古州香米\t39.9\n", "a.jpg"},
		{"商品.csv", "\xef\xbb\xbf名称,价格\n\"a\nb\",1\n", "../x.png"},
		{"商品.xlsx", "PK\x03\x04", "x"},
		{"商品.csv", "name,price\n" + strings.Repeat("x,", 300) + "\n", "COM1"},
	} {
		f.Add(s.name, []byte(s.cat), s.photo, []byte("\x89PNG\r\n\x1a\n"))
	}
	c, _, u := fuzzTrainerConsole(f)
	f.Fuzz(func(t *testing.T, name string, cat []byte, photoName string, photo []byte) {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		for _, p := range []struct {
			field, name string
			data        []byte
		}{{"catalogue", name, cat}, {"photos", photoName, photo}} {
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
			return // the form itself is not one; user() refuses it before the handler
		}
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
			t.Fatalf("upload of %q (%d bytes), photo %q: %d\n%s", name, len(cat), photoName, w.Code, w.Body)
		}
		id := strings.TrimPrefix(w.Header().Get("Location"), Prefix+"provision/d/")
		for _, path := range []string{"provision/d/" + id, "provision/d/" + id + "/card/0.png"} {
			r := httptest.NewRequest("GET", Prefix+path, nil)
			r.SetPathValue("draft", id)
			r.SetPathValue("n", "0.png")
			w := httptest.NewRecorder()
			if strings.HasSuffix(path, ".png") {
				c.draftCard(w, r, u)
			} else {
				c.draftPage(w, r, u)
			}
			if w.Code != http.StatusOK && w.Code != http.StatusNotFound {
				t.Fatalf("GET %s after uploading %q: %d\n%s", path, name, w.Code, w.Body)
			}
		}
	})
}

// fuzzTrainerConsole is a console on a fresh SQLite store and file blobs,
// and a signed-in trainer, for the fuzz targets of the trainer's pages.
func fuzzTrainerConsole(f *testing.F) (*Console, store.Store, who) {
	f.Helper()
	dir := f.TempDir()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "review.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	blobs, err := blob.NewFiles(filepath.Join(dir, "blobs"))
	if err != nil {
		f.Fatal(err)
	}
	c, err := New(Config{Store: st, Blobs: blobs, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	return c, st, who{user: store.User{Name: "杨老师", Roles: []string{store.RoleTrainer}, Created: time.Now()}}
}

package console_test

import (
	"bytes"
	"crypto/ed25519"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/bundle"
	"github.com/cunbo/cunbo/review/console"
	"github.com/cunbo/cunbo/review/store"
)

// Practice scenarios uploaded with the catalogue: a file with problems is
// listed with its lines in Chinese and no bundle is built from it; a clean
// set is listed (name, questions, products, a warning for a product the
// catalogue lacks) and travels in the bundle byte for byte.
func TestProvisionScenarios(t *testing.T) {
	sg := newSigning(t)
	e, _ := newProvisionEnv(t, "sqlite", sg.console)
	e.addUser("trainer", store.RoleTrainer)
	e.addUser("sw", store.RoleSocial)
	boxA := e.addBox("三江 村A", "sw")
	s := e.signIn("trainer")["trainer"]
	cat := upFile{"catalogue", "榕江商品.csv", gbkCatalogue(t)}
	const good = "scenario 小香鸡 · 第一课\nversion 1\n" +
		"card 1+5 | 阿英 | 1 | 30 | - | 小香鸡多少钱？ | 六十八块一只，山上散养的\n" +
		"card 9+5 | 小李 | 9 | 30 | - | 还有别的吗？\n"
	const flagged = "scenario 坏例子\nversion 1\n3 | 王姐 | 1 | 40 | PRICE | 是不是最便宜？ | 我们是全网最低价\n"
	const broken = "scenario 断了\nversion 1\n\n3 | 甲 | - | - | 你好\n"

	// Refused at upload: nothing kept.
	many := []upFile{cat}
	for i := range console.MaxScenarioFiles + 1 {
		many = append(many, upFile{"scenarios", strings.Repeat("a", i+1) + ".txt", []byte(good)})
	}
	for _, tc := range []struct {
		name  string
		files []upFile
		code  int
		want  string
	}{
		{"a Word file", []upFile{cat, {"scenarios", "练习.docx", []byte(good)}}, 400, "要以 .txt 结尾"},
		{"too many", many, 413, "最多 20 个"},
		{"too big", []upFile{cat, {"scenarios", "大.txt", bytes.Repeat([]byte("#\n"), 40<<10)}}, 413, "练习题“大.txt”太大了"},
	} {
		code, body, _ := e.uploadForm(s, "/console/provision/upload", nil, tc.files)
		if code != tc.code || !strings.Contains(body, tc.want) || !strings.Contains(body, "什么也没保存") {
			t.Errorf("%s: %d, want %d with %q:\n%.600s", tc.name, code, tc.code, tc.want, body)
		}
	}

	// Problems by line; the bundle is refused until they are fixed.
	code, _, h := e.uploadForm(s, "/console/provision/upload", nil,
		[]upFile{cat, {"scenarios", "坏例子.txt", []byte(flagged)}, {"scenarios", "断了.txt", []byte(broken)}, {"scenarios", "好.txt", []byte(good)}})
	if code != http.StatusSeeOther {
		t.Fatalf("upload with scenarios: %d", code)
	}
	draft := strings.TrimPrefix(h.Get("Location"), "/console/provision/d/")
	_, page, _ := e.send(s, "GET", h.Get("Location"), nil)
	for _, want := range []string{`id="scenario-count">3<`,
		"<b>第3行</b>：示范回答里有「全网最低价」，盒子会提醒，请换个说法",
		"<b>第4行</b>：要用 | 分成6或7段",
		"小香鸡 · 第一课，2 个问题", "榕江小香鸡（1）",
		"第4行：商品「9」不在这次的商品表里，盒子上不会问这一题"} {
		if !strings.Contains(page, want) {
			t.Errorf("draft page lacks %q", want)
		}
	}
	if t.Failed() {
		i := strings.Index(page, `id="scenarios"`)
		t.Fatalf("the scenarios on the page:\n%.3000s", page[max(i, 0):])
	}
	code, body, hh := e.send(s, "POST", "/console/provision/build", buildForm(draft, "download", boxA))
	if code != http.StatusSeeOther || strings.Contains(hh.Get("Content-Type"), "octet") {
		t.Fatalf("build with bad scenarios: %d, want 303 to the draft page\n%.1500s", code, body)
	}
	if code, body, _ = e.send(s, "GET", hh.Get("Location"), nil); code != 200 || !strings.Contains(body, "练习题“坏例子.txt”、“断了.txt”有要改的地方") {
		t.Fatalf("the draft page after the refused build: %d\n%.1500s", code, body)
	}

	// A clean set travels in the bundle.
	code, _, h = e.uploadForm(s, "/console/provision/upload", nil, []upFile{cat, {"scenarios", `C:\培训\好.txt`, []byte(good)}})
	if code != http.StatusSeeOther {
		t.Fatalf("upload: %d", code)
	}
	draft = strings.TrimPrefix(h.Get("Location"), "/console/provision/d/")
	code, body, _ = e.send(s, "POST", "/console/provision/build", buildForm(draft, "download", boxA))
	if code != 200 {
		t.Fatalf("build: %d\n%.1500s", code, body)
	}
	data := []byte(body)
	a := e.boxes["三江 村A"]
	v, err := bundle.Open(bytes.NewReader(data), int64(len(data)), bundle.Trust{Root: sg.rootPub}, a.priv.Public().(ed25519.PublicKey), 0, time.Now())
	if err != nil {
		t.Fatalf("the box opens: %v", err)
	}
	if got := v.Scenarios(); len(got) != 1 || string(got["好.txt"]) != good {
		t.Errorf("scenarios in the bundle: %q", got)
	}
}

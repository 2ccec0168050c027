package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSimRunsWithoutCardsItCannotShow: a catalogue that cannot be read,
// or whose only card breaks the advertising law, does not stop the
// simulator (it used to exit 2): it streams without the card and says why.
func TestSimRunsWithoutCardsItCannotShow(t *testing.T) {
	dir := t.TempDir()
	banned := filepath.Join(dir, "商品.csv")
	if err := os.WriteFile(banned, []byte("名称,价格\n全网最低价辣椒酱,39.9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		catalog string
		want    []string
	}{
		{"/nonexistent/商品.csv", []string{"商品表读不出来", "不显示商品卡片"}},
		{banned, []string{"第2行「全网最低价辣椒酱」", "全网最低", "不会出现在直播画面上", "没有一张卡片可以显示"}},
	} {
		t.Run(filepath.Base(filepath.Dir(tc.catalog)), func(t *testing.T) {
			stdout, stderr, code := runCLI(t, "", "sim", "--catalog", tc.catalog, "--duration", "3s", "--preview", "")
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if !strings.Contains(stdout, "直播已结束") {
				t.Errorf("the stream did not run to its end:\n%s", stdout)
			}
		})
	}
}

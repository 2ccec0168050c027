package overlay

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// tinyPNG returns a valid PNG of a solid colour.
func tinyPNG(t testing.TB, w, h int, c color.RGBA) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func testPhotos(t testing.TB) fstest.MapFS {
	good := tinyPNG(t, 40, 30, color.RGBA{200, 40, 30, 255})
	return fstest.MapFS{
		"lajiao.png":  {Data: good},
		"Honey.PNG":   {Data: good},
		"broken.jpg":  {Data: []byte("\xff\xd8\xff\xe0 this is not really a jpeg")},
		"notes.txt":   {Data: []byte("hello")},
		"truncat.png": {Data: good[:len(good)/2]},
	}
}

func TestParseCatalog(t *testing.T) {
	type wantProblem struct {
		row   int
		field string
	}
	tests := []struct {
		name      string
		csv       string
		wantNames []string
		wantProbs []wantProblem
		check     func(t *testing.T, cat *Catalog)
	}{
		{
			name:      "BOM, CRLF and Chinese headers",
			csv:       "\ufeff编号,名称,价格,规格,链接号,图片,卖点\r\nA1,辣椒酱,39.9,280克/瓶,3,lajiao.png,香辣下饭\r\nA2,腊肉,88,500克,5号链接,,\r\n",
			wantNames: []string{"辣椒酱", "腊肉"},
			check: func(t *testing.T, cat *Catalog) {
				p := cat.Products[0]
				if p.ID != "A1" || p.PriceFen != 3990 || p.Unit != "280克/瓶" || p.Link != 3 || p.Tagline != "香辣下饭" || p.Row != 2 {
					t.Errorf("first product = %+v", p)
				}
				if p.Photo == nil {
					t.Error("photo not loaded")
				}
				if got := p.PriceText(); got != "¥39.9" {
					t.Errorf("PriceText = %q", got)
				}
				if got := p.LinkText(); got != "3号链接" {
					t.Errorf("LinkText = %q", got)
				}
				if q := cat.Products[1]; q.Link != 5 || q.PriceText() != "¥88" || q.Photo != nil {
					t.Errorf("second product = %+v", q)
				}
			},
		},
		{
			name:      "English headers in any order, no BOM, LF",
			csv:       "Photo,Price,Name,ID,Link,Unit\nlajiao.png,¥12.50,Honey,h1,1,jar\n",
			wantNames: []string{"Honey"},
			check: func(t *testing.T, cat *Catalog) {
				if p := cat.Products[0]; p.PriceFen != 1250 || p.PriceText() != "¥12.5" || p.Photo == nil || p.ID != "h1" {
					t.Errorf("product = %+v", p)
				}
			},
		},
		{
			name:      "header variants with units in brackets and spaces",
			csv:       " 商品名称 ,价格（元）,链接 号\n蜂蜜,１２８,＃7\n",
			wantNames: []string{"蜂蜜"},
			check: func(t *testing.T, cat *Catalog) {
				if p := cat.Products[0]; p.PriceFen != 12800 || p.Link != 7 || p.ID != "row-2" {
					t.Errorf("product = %+v", p)
				}
			},
		},
		{
			name: "bad rows are reported by row and good rows still load",
			csv: "id,name,price,link\n" +
				"1,辣椒酱,39.9,1\n" + // row 2 good
				"2,,20,2\n" + // row 3 missing name
				"3,腊肉,三十,3\n" + // row 4 bad price
				"1,蜂蜜,50,4\n" + // row 5 duplicate id
				"5,苗绣,59\n" + // row 6 wrong column count
				"6,银饰,268,五号\n" + // row 7 bad link number
				"7,米酒,-5,7\n" + // row 8 negative price
				",,,\n" + // row 9 blank, ignored
				"8,糯米,12.345,8\n" + // row 10 three decimals
				"9,鸡蛋,1.5,9\n", // row 11 good
			wantNames: []string{"辣椒酱", "鸡蛋"},
			wantProbs: []wantProblem{{3, "名称"}, {4, "价格"}, {5, "编号"}, {6, ""}, {7, "链接号"}, {8, "价格"}, {10, "价格"}},
		},
		{
			name:      "missing, corrupt and truncated photos still load the product",
			csv:       "名称,价格,图片\n辣椒酱,10,missing.jpg\n腊肉,20,broken.jpg\n蜂蜜,30,honey.png\n苗绣,40,notes.txt\n银饰,50,../etc/passwd\n米酒,60,truncat.png\n",
			wantNames: []string{"辣椒酱", "腊肉", "蜂蜜", "苗绣", "银饰", "米酒"},
			wantProbs: []wantProblem{{2, "图片"}, {3, "图片"}, {5, "图片"}, {6, "图片"}, {7, "图片"}},
			check: func(t *testing.T, cat *Catalog) {
				for i, p := range cat.Products {
					if (p.Photo != nil) != (i == 2) {
						t.Errorf("%s: photo loaded = %v", p.Name, p.Photo != nil)
					}
				}
			},
		},
		{
			name:      "quoted cells with commas, quotes and line breaks",
			csv:       "名称,价格,卖点\n\"腊肉,五花\",\"88\",\"说\"\"香\"\"\n第二行\"\n",
			wantNames: []string{"腊肉,五花"},
			check: func(t *testing.T, cat *Catalog) {
				if got := cat.Products[0].Tagline; got != `说"香" 第二行` {
					t.Errorf("tagline = %q", got)
				}
			},
		},
		{
			name:      "unknown column is ignored and reported",
			csv:       "名称,价格,备注\n辣椒酱,10,随便\n",
			wantNames: []string{"辣椒酱"},
			wantProbs: []wantProblem{{1, "备注"}},
		},
		{
			name:      "trailing empty cells from a spreadsheet are tolerated",
			csv:       "名称,价格\n辣椒酱,10,,\n",
			wantNames: []string{"辣椒酱"},
		},
		{
			name:      "GBK file from Chinese Excel is converted",
			csv:       gbk(t, "名称,价格\r\n辣椒酱,10\r\n"),
			wantNames: []string{"辣椒酱"},
			wantProbs: []wantProblem{{0, ""}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cat, problems, err := ParseCatalog(strings.NewReader(tt.csv), testPhotos(t))
			if err != nil {
				t.Fatalf("ParseCatalog: %v", err)
			}
			var names []string
			for _, p := range cat.Products {
				names = append(names, p.Name)
			}
			if strings.Join(names, "|") != strings.Join(tt.wantNames, "|") {
				t.Errorf("products = %q, want %q", names, tt.wantNames)
			}
			if len(problems) != len(tt.wantProbs) {
				t.Fatalf("problems = %v, want rows %v", problems, tt.wantProbs)
			}
			for i, w := range tt.wantProbs {
				if problems[i].Row != w.row || problems[i].Field != w.field {
					t.Errorf("problem %d = %+v (%s), want row %d field %q", i, problems[i], problems[i], w.row, w.field)
				}
				if problems[i].Msg == "" || !strings.Contains(problems[i].String(), "：") {
					t.Errorf("problem %d has no readable message: %q", i, problems[i].String())
				}
			}
			if tt.check != nil && len(cat.Products) == len(tt.wantNames) {
				tt.check(t, cat)
			}
		})
	}
}

func gbk(t *testing.T, s string) string {
	b, err := simplifiedchinese.GBK.NewEncoder().String(s)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsRune(s, '辣') && strings.Contains(b, "辣") {
		t.Fatal("encoder did not convert")
	}
	return b
}

func TestParseCatalogFatal(t *testing.T) {
	tests := []struct {
		name, csv, wantInErr string
	}{
		{"empty file", "", "空"},
		{"only a BOM", "\ufeff", "空"},
		{"no price column", "名称,规格\n辣椒酱,1瓶\n", "价格"},
		{"no name column", "id,price\n1,2\n", "名称"},
		{"binary garbage", "\x00\xff\xfe\x81\x00\x7f\xff", "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ParseCatalog(strings.NewReader(tt.csv), nil)
			if err == nil || !strings.Contains(err.Error(), tt.wantInErr) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.wantInErr)
			}
		})
	}
}

func TestLoadCatalogFromDisk(t *testing.T) {
	dir := t.TempDir()
	photos := filepath.Join(dir, "图片")
	if err := os.Mkdir(photos, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(photos, "辣椒酱.PNG"), tinyPNG(t, 8, 8, color.RGBA{255, 0, 0, 255}), 0o644); err != nil {
		t.Fatal(err)
	}
	csvPath := filepath.Join(dir, "商品.csv")
	if err := os.WriteFile(csvPath, []byte("名称,价格,图片\r\n辣椒酱,39.9,辣椒酱.png\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cat, problems, err := LoadCatalog(csvPath, photos)
	if err != nil || len(problems) != 0 {
		t.Fatalf("LoadCatalog: %v %v", err, problems)
	}
	if cat.Len() != 1 || cat.Products[0].Photo == nil {
		t.Fatalf("photo with different case not found: %+v", cat.Products)
	}
	if _, _, err := LoadCatalog(filepath.Join(dir, "nope.csv"), photos); err == nil {
		t.Fatal("missing file: no error")
	}
	// No photo folder at all: products load, each photo is a problem.
	cat, problems, err = LoadCatalog(csvPath, "")
	if err != nil || cat.Len() != 1 || len(problems) != 1 || problems[0].Row != 2 {
		t.Fatalf("without photo dir: %v %v %v", cat, problems, err)
	}
}

func TestPhotoIsDownscaled(t *testing.T) {
	big := tinyPNG(t, 2000, 1000, color.RGBA{10, 200, 10, 255})
	cat, problems, err := ParseCatalog(strings.NewReader("名称,价格,图片\n茶,5,big.png\n"), fstest.MapFS{"big.png": {Data: big}})
	if err != nil || len(problems) > 0 {
		t.Fatal(err, problems)
	}
	b := cat.Products[0].Photo.Bounds()
	if b.Dx() != maxPhotoEdge || b.Dy() != maxPhotoEdge/2 {
		t.Fatalf("photo bounds %v, want %d×%d", b, maxPhotoEdge, maxPhotoEdge/2)
	}
}

func TestParsePriceFen(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"39.9", 3990, true},
		{"39.90", 3990, true},
		{"¥39.9", 3990, true},
		{"￥ 128", 12800, true},
		{"88元", 8800, true},
		{"RMB 9.95", 995, true},
		{"３９．９", 3990, true},
		{"0.01", 1, true},
		{"0", 0, false},
		{"", 0, false},
		{"abc", 0, false},
		{"1.234", 0, false},
		{"-3", 0, false},
		{"1e3", 0, false},
		{"3.", 0, false},
		{".5", 0, false},
		{"99999999999", 0, false},
		// What sellers type (issue 12 item 10).
		{"1,280", 128000, true},
		{"1，280", 128000, true},
		{"12,345.5", 1234550, true},
		{"￥1,280.00", 128000, true},
		{"￥38", 3800, true},
		{"¥38", 3800, true},
		{"38元", 3800, true},
		{"38 元", 3800, true},
		{"38块", 3800, true},
		{"38块钱", 3800, true},
		{"38元/瓶", 3800, true},
		{"￥38.5/斤", 3850, true},
		{"３８元", 3800, true},
		{"1,28", 0, false},
		{"1,2800", 0, false},
		{",280", 0, false},
		{"1,,280", 0, false},
		{"1280,", 0, false},
		{"38/42", 0, false},
		{"元", 0, false},
		{"/瓶", 0, false},
	}
	for _, tt := range tests {
		got, err := parsePriceFen(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parsePriceFen(%q) = %d, %v; want %d ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestParseLinkNumber(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"3", 3, true}, {"3号", 3, true}, {"3号链接", 3, true}, {"#12", 12, true}, {"１０", 10, true},
		{"0", 0, false}, {"三", 0, false}, {"12345", 0, false}, {"号", 0, false}, {"-1", 0, false},
	}
	for _, tt := range tests {
		got, err := parseLinkNumber(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseLinkNumber(%q) = %d, %v; want %d ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestFormatFen(t *testing.T) {
	for fen, want := range map[int64]string{3990: "39.9", 12800: "128", 995: "9.95", 1: "0.01", 10: "0.1", 100005: "1000.05"} {
		if got := formatFen(fen); got != want {
			t.Errorf("formatFen(%d) = %q, want %q", fen, got, want)
		}
	}
}

func TestDemoCatalog(t *testing.T) {
	cat, err := DemoCatalog()
	if err != nil {
		t.Fatal(err)
	}
	if cat.Len() < 4 || cat.Len() > 5 {
		t.Fatalf("demo has %d products", cat.Len())
	}
	for _, want := range []string{"辣椒酱", "腊肉", "蜂蜜", "苗绣", "银饰"} {
		found := false
		for _, p := range cat.Products {
			if strings.Contains(p.Name, want) {
				found = true
				if p.Photo == nil {
					t.Errorf("%s has no photo", p.Name)
				}
			}
		}
		if !found {
			t.Errorf("demo has no %s", want)
		}
	}
	// The same files on disk load the same way, and each photo is small.
	disk, problems, err := LoadCatalog("testdata/demo/catalog.csv", "testdata/demo/photos")
	if err != nil || len(problems) > 0 || disk.Len() != cat.Len() {
		t.Fatalf("on-disk demo: %v %v", err, problems)
	}
	entries, err := os.ReadDir("testdata/demo/photos")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if info.Size() > 60<<10 {
			t.Errorf("%s is %d bytes, want < 60 KB", e.Name(), info.Size())
		}
	}
}

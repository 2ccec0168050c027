package overlay

import (
	"bytes"
	"image/color"
	"testing"
	"testing/fstest"
	"unicode/utf8"
)

// FuzzCatalogParse feeds arbitrary bytes to the catalogue parser: it must
// never panic, and whatever loads must be usable on a card.
func FuzzCatalogParse(f *testing.F) {
	f.Add([]byte("\ufeff编号,名称,价格,规格,链接号,图片,卖点\r\nA1,辣椒酱,39.9,280克/瓶,3,ok.png,香辣\r\n"))
	f.Add([]byte("name,price\n\"a,b\",1\n\"unterminated,2\n"))
	f.Add([]byte("名称,价格,图片\n蜂蜜,１２８,bad.jpg\n腊肉,x,ok.png\n,,\n"))
	// The other forms a trainer's file arrives in: TSV, UTF-16, XLSX.
	f.Add([]byte("名称\t价格\t链接号\n蜂蜜\t1,280\t3号\n辣椒酱\t￥38元/瓶\t\n"))
	f.Add([]byte(utf16LE(f, "名称\t价格\r\n蜂蜜\t38块\r\n")))
	f.Add(xlsxBytes(f, map[string][][]any{"商品": {{"标题"}, {"名称", "价格", "图片"}, {"蜂蜜", 39.9, "ok.png"}, {"腊肉", "1,280"}}}, "商品"))
	photos := fstest.MapFS{
		"ok.png":  {Data: tinyPNG(f, 4, 4, color.RGBA{1, 2, 3, 255})},
		"bad.jpg": {Data: []byte("\xff\xd8\xff garbage")},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cat, problems, err := ParseCatalog(bytes.NewReader(data), photos)
		if err != nil {
			if cat != nil {
				t.Fatal("error with a catalogue")
			}
			return
		}
		ids := map[string]bool{}
		for _, p := range cat.Products {
			if p.Name == "" || p.PriceFen <= 0 || p.PriceFen > maxPriceFen || p.Link < 0 || p.Link > maxLinkNumber {
				t.Fatalf("unusable product loaded: %+v", p)
			}
			if ids[p.ID] {
				t.Fatalf("duplicate id %q loaded", p.ID)
			}
			ids[p.ID] = true
			if p.Row < firstDataRowLine {
				t.Fatalf("product row %d", p.Row)
			}
			for _, s := range []string{p.Name, p.Unit, p.Tagline, p.ID} {
				if !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxCellRunes+len("row-")+10 {
					t.Fatalf("bad text %q", s)
				}
			}
			_ = p.PriceText()
		}
		for _, pr := range problems {
			if pr.Row < 0 || pr.Msg == "" {
				t.Fatalf("bad problem %+v", pr)
			}
		}
	})
}

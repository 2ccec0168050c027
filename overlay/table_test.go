package overlay

import (
	"archive/zip"
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/unicode"
)

// xlsxBytes builds a workbook the way a trainer's Excel or WPS saves one:
// each sheet is a list of rows of cells (strings, numbers).
func xlsxBytes(t testing.TB, sheets map[string][][]any, order ...string) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	for i, name := range order {
		if i == 0 {
			if err := f.SetSheetName("Sheet1", name); err != nil {
				t.Fatal(err)
			}
		} else if _, err := f.NewSheet(name); err != nil {
			t.Fatal(err)
		}
		for r, row := range sheets[name] {
			cell, err := excelize.CoordinatesToCellName(1, r+1)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.SetSheetRow(name, cell, &row); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(order) > 0 {
		// A currency format on the price: the reader must see 1280, not
		// "￥1,280.00".
		style, err := f.NewStyle(&excelize.Style{NumFmt: 164, CustomNumFmt: ptr(`"￥"#,##0.00`)})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.SetColStyle(order[0], "C", style); err != nil {
			t.Fatal(err)
		}
	}
	buf, err := f.WriteToBuffer()
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func ptr[T any](v T) *T { return &v }

func utf16LE(t testing.TB, s string) string {
	t.Helper()
	b, err := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().String(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCatalogFormats: every form a trainer's spreadsheet arrives in loads
// the same products (issue 12 item 10).
func TestCatalogFormats(t *testing.T) {
	type want struct {
		name  string
		fen   int64
		link  int
		photo bool
	}
	honey := []want{{"野生蜂蜜", 128000, 3, true}, {"辣椒酱", 3800, 0, false}}
	tests := []struct {
		name     string
		data     string
		want     []want
		wantProb []string // substrings, one per expected problem, in order
		wantErr  string
	}{
		{
			name: "xlsx with numbers, a currency format, a title row and a second sheet",
			data: string(xlsxBytes(t, map[string][][]any{
				"商品": {
					{"榕江好物 直播商品表"},
					{"名称", "链接号", "价格（元）", "图片"},
					{"野生蜂蜜", 3, 1280, "Honey.PNG"},
					{"辣椒酱", nil, "￥38"},
				},
				"备用": {{"名称", "价格"}, {"腊肉", 88}},
			}, "商品", "备用")),
			want:     honey,
			wantProb: []string{"只读了第一张“商品”"},
		},
		{
			name: "xlsx with a float price and a bad row",
			data: string(xlsxBytes(t, map[string][][]any{
				"Sheet1": {{"name", "price"}, {"蜂蜜", 39.9}, {"腊肉", "三十"}, {}, {"米酒", "12元"}},
			}, "Sheet1")),
			want:     []want{{"蜂蜜", 3990, 0, false}, {"米酒", 1200, 0, false}},
			wantProb: []string{"第3行 价格"},
		},
		{
			name: "CSV UTF-8 with BOM and quoted thousands",
			data: "\ufeff名称,价格,链接号,图片\r\n野生蜂蜜,\"1,280\",3号,lajiao.png\r\n辣椒酱,38元,,\r\n",
			want: honey,
		},
		{
			name: "CSV UTF-8 without BOM",
			data: "名称,价格,链接号,图片\n野生蜂蜜,￥1280,3,lajiao.png\n辣椒酱,¥38,,\n",
			want: honey,
		},
		{
			name:     "CSV in GBK from Chinese Excel",
			data:     gbk(t, "名称,价格,链接号,图片\r\n野生蜂蜜,1280元,3,lajiao.png\r\n辣椒酱,38块,,\r\n"),
			want:     honey,
			wantProb: []string{"GBK"},
		},
		{
			name: "TSV with a comma inside the price",
			data: "名称\t价格\t链接号\t图片\n野生蜂蜜\t1,280\t3\tlajiao.png\n辣椒酱\t38.00元/瓶\t\t\n",
			want: honey,
		},
		{
			name: "UTF-16 TSV (Excel's \"Unicode text\")",
			data: utf16LE(t, "名称\t价格\t链接号\t图片\r\n野生蜂蜜\t\"1,280\"\t3\tlajiao.png\r\n辣椒酱\t38\t\t\r\n"),
			want: honey,
		},
		{
			name:    "old .xls",
			data:    "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + strings.Repeat("\x00", 504),
			wantErr: ".xlsx",
		},
		{
			name:    "JSON",
			data:    `[{"name": "蜂蜜", "price": 12}]`,
			wantErr: "JSON",
		},
		{
			name:    "zip that is no workbook",
			data:    "PK\x03\x04" + strings.Repeat("x", 100),
			wantErr: "Excel",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cat, problems, err := ParseCatalog(strings.NewReader(tt.data), testPhotos(t))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "UTF-8 编码") {
					t.Errorf("a spreadsheet is reported as an encoding problem: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseCatalog: %v", err)
			}
			if len(problems) != len(tt.wantProb) {
				t.Fatalf("problems %v, want %q", problems, tt.wantProb)
			}
			for i, w := range tt.wantProb {
				if !strings.Contains(problems[i].String(), w) {
					t.Errorf("problem %q lacks %q", problems[i], w)
				}
			}
			if cat.Len() != len(tt.want) {
				t.Fatalf("products %+v, want %+v", cat.Products, tt.want)
			}
			for i, w := range tt.want {
				p := cat.Products[i]
				if p.Name != w.name || p.PriceFen != w.fen || p.Link != w.link || (p.Photo != nil) != w.photo {
					t.Errorf("product %d = %q %d fen link %d photo %v, want %+v", i, p.Name, p.PriceFen, p.Link, p.Photo != nil, w)
				}
			}
		})
	}
}

func TestTidyNumber(t *testing.T) {
	for in, want := range map[string]string{
		"39.899999999999999": "39.9", "128": "128", "39.9": "39.9", "0.30000000000000004": "0.3",
		"1.2345678": "1.234568", "abc.1234567": "abc.1234567", "3号": "3号", "": "",
	} {
		if got := tidyNumber(in); got != want {
			t.Errorf("tidyNumber(%q) = %q, want %q", in, got, want)
		}
	}
}

// hugePNG writes a valid grayscale PNG of w×h pixels row by row, so the
// test never holds the picture: all zeros compress to a few hundred KB,
// exactly the kind of file that costs hundreds of MB to decode.
func hugePNG(t testing.TB, w, h int) []byte {
	t.Helper()
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&out, binary.BigEndian, uint32(len(data)))
		crc := crc32.NewIEEE()
		crc.Write([]byte(typ))
		crc.Write(data)
		out.WriteString(typ)
		out.Write(data)
		binary.Write(&out, binary.BigEndian, crc.Sum32())
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = 8, 0 // 8-bit grayscale
	chunk("IHDR", ihdr)
	var idat bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&idat, zlib.BestSpeed)
	row := make([]byte, 1+w) // filter byte 0, then black pixels
	for range h {
		zw.Write(row)
	}
	zw.Close()
	chunk("IDAT", idat.Bytes())
	chunk("IEND", nil)
	return out.Bytes()
}

// TestHugePhotoIsRefusedBeforeDecoding: a small file claiming 49
// megapixels is refused from its header, without the decoder's memory
// (issue 19 item 13).
func TestHugePhotoIsRefusedBeforeDecoding(t *testing.T) {
	huge := hugePNG(t, 7000, 7000)
	if len(huge) > 1<<20 {
		t.Fatalf("test PNG is %d bytes", len(huge))
	}
	photos := fstest.MapFS{"huge.png": {Data: huge}, "ok.png": {Data: tinyPNG(t, 4000, 3, color.RGBA{1, 2, 3, 255})}}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	cat, problems, err := ParseCatalog(strings.NewReader("名称,价格,图片\n蜂蜜,12,huge.png\n茶,5,ok.png\n"), photos)
	runtime.ReadMemStats(&after)
	if err != nil || cat.Len() != 2 {
		t.Fatalf("%v %v", cat, err)
	}
	if cat.Products[0].Photo != nil || cat.Products[1].Photo == nil {
		t.Fatalf("photos: huge %v, ok %v", cat.Products[0].Photo != nil, cat.Products[1].Photo != nil)
	}
	if len(problems) != 1 || problems[0].Row != 2 || !strings.Contains(problems[0].Msg, "7000×7000") || !strings.Contains(problems[0].Msg, "太大") {
		t.Fatalf("problems %v", problems)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("loading allocated %d MB; the huge picture was decoded", alloc>>20)
	}
}

// TestFIFOsNeverBlock: a named pipe in the photo folder, or given as the
// catalogue, is refused at once instead of hanging the box's start-up.
func TestFIFOsNeverBlock(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"pipe.png", "catalog.csv.fifo"} {
		if err := syscall.Mkfifo(filepath.Join(dir, name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	csvPath := filepath.Join(dir, "商品.csv")
	if err := os.WriteFile(csvPath, []byte("名称,价格,图片\n蜂蜜,12,pipe.png\n茶,5,PIPE.png\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	type result struct {
		cat      *Catalog
		problems []Problem
		err      error
	}
	load := func(csv string) result {
		done := make(chan result, 1)
		go func() {
			cat, problems, err := LoadCatalog(csv, dir)
			done <- result{cat, problems, err}
		}()
		select {
		case r := <-done:
			return r
		case <-time.After(20 * time.Second):
			t.Fatalf("LoadCatalog(%s) is blocked on a FIFO", csv)
			return result{}
		}
	}
	r := load(csvPath)
	if r.err != nil || r.cat.Len() != 2 || len(r.problems) != 2 {
		t.Fatalf("%+v", r)
	}
	for _, p := range r.problems {
		if p.Field != "图片" || !strings.Contains(p.Msg, "不是普通文件") {
			t.Errorf("problem %v", p)
		}
	}
	if r := load(filepath.Join(dir, "catalog.csv.fifo")); r.err == nil || !strings.Contains(r.err.Error(), "not a regular file") {
		t.Fatalf("FIFO as catalogue: %+v", r)
	}
}

// TestXLSXBombIsRefused: an .xlsx is a zip; one that unpacks to more than
// a catalogue ever needs is refused without unpacking it into memory.
func TestXLSXBombIsRefused(t *testing.T) {
	seed := xlsxBytes(t, map[string][][]any{"Sheet1": {{"名称", "价格"}, {"蜂蜜", 12}}}, "Sheet1")
	zr, err := zip.NewReader(bytes.NewReader(seed), int64(len(seed)))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, f := range zr.File {
		w, err := zw.Create(f.Name)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(rc)
		rc.Close()
		if strings.HasPrefix(f.Name, "xl/worksheets/") {
			// 40 MB of blanks inside the sheet, a few dozen KB zipped.
			i := bytes.Index(body, []byte("<sheetData>"))
			w.Write(body[:i])
			blank := bytes.Repeat([]byte(" "), 1<<20)
			for range 40 {
				w.Write(blank)
			}
			body = body[i:]
		}
		w.Write(body)
	}
	zw.Close()
	if out.Len() > 2<<20 {
		t.Fatalf("bomb is %d bytes", out.Len())
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, _, err = ParseCatalog(bytes.NewReader(out.Bytes()), nil)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "解压后超过") {
		t.Fatalf("a 40 MB sheet: %v", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("refusing it allocated %d MB", alloc>>20)
	}
	t.Logf("%d KB file: %v", out.Len()>>10, err)
}

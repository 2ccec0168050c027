package overlay

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
)

// Limits on what a spreadsheet may unpack to: an .xlsx is a zip, and a
// small one can expand to gigabytes.
const (
	maxXLSXUnzipBytes = 32 << 20
	maxTableRows      = 4 * maxProducts // rows read, blank ones included
	maxTableColumns   = 64

	kindXLSX = "Excel 表格"
)

// tableRow is one record with the row number a trainer sees in her
// spreadsheet (CSV: the line the record starts on).
type tableRow struct {
	line  int
	cells []string
}

// table is a catalogue file read into rows, whatever its format.
type table struct {
	// kind names the format in problem messages ("Excel 表格", "CSV").
	kind string
	rows []tableRow
	// broken, when set, is why reading stopped before the end; the rows
	// before it are good.
	broken *Problem
}

// readTable recognises a catalogue file by its content, not its name:
// Excel and WPS save .xlsx (a zip), CSV or TSV ("文本文件（制表符分隔）"),
// in UTF-8 with or without a BOM, UTF-16 ("Unicode 文本") or, on Chinese
// Windows, GBK. The problems are notes about the whole file (a conversion
// done); the error says why nothing could be read.
func readTable(data []byte) (*table, []Problem, error) {
	switch {
	case bytes.HasPrefix(data, []byte("PK\x03\x04")):
		return readXLSX(data)
	case bytes.HasPrefix(data, []byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")):
		// The OLE container: .xls from Excel 97-2003, or an .xlsx with a
		// password (Excel encrypts it into the same container).
		return nil, nil, errors.New("overlay: 商品表是旧版 Excel（.xls）或设了密码，请在 Excel/WPS 里“另存为” .xlsx 或 CSV UTF-8 (old .xls or password-protected workbook)")
	}
	var problems []Problem
	switch {
	case bytes.HasPrefix(data, []byte("\xff\xfe")), bytes.HasPrefix(data, []byte("\xfe\xff")):
		decoded, err := unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder().Bytes(data)
		if err != nil {
			return nil, nil, fmt.Errorf("overlay: 商品表是 UTF-16 编码但内容有误，请“另存为 CSV UTF-8” (bad UTF-16): %w", err)
		}
		data = decoded
	case bytes.HasPrefix(data, []byte("\xef\xbb\xbf")):
		data = data[3:]
	case !utf8.Valid(data):
		// Excel and WPS on Chinese Windows save "CSV" as GBK unless told
		// otherwise; GB18030 is its superset.
		decoded, err := simplifiedchinese.GB18030.NewDecoder().Bytes(data)
		if err != nil || bytes.ContainsRune(decoded, utf8.RuneError) {
			return nil, nil, errors.New("overlay: 商品表不是表格文件，也不是能识别的文字编码，请在 Excel/WPS 中“另存为” .xlsx 或 “CSV UTF-8” (catalogue is neither a spreadsheet nor UTF-8/GBK text)")
		}
		data = decoded
		problems = append(problems, Problem{Msg: "文件是 GBK 编码，已自动转换；建议另存为“CSV UTF-8”"})
	}
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && (t[0] == '{' || t[0] == '[') && json.Valid(t) {
		return nil, problems, errors.New("overlay: 商品表是 JSON 文件，盒子读的是表格：请用 Excel/WPS 做一张 .xlsx 或 CSV (catalogue is JSON, not a spreadsheet)")
	}
	t, err := readDelimited(data)
	return t, problems, err
}

func firstLine(b []byte) []byte {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i]
	}
	return b
}

// readDelimited reads CSV, or TSV when the header line has more tabs than
// commas (a comma inside a TSV cell, as in "1,280", is then just text).
func readDelimited(data []byte) (*table, error) {
	t := &table{kind: "CSV"}
	cr := csv.NewReader(bytes.NewReader(data))
	if head := firstLine(data); bytes.Count(head, []byte("\t")) > bytes.Count(head, []byte(",")) {
		cr.Comma = '\t'
		t.kind = "TSV"
	}
	cr.FieldsPerRecord = -1 // column-count mismatches are per-row problems, not fatal
	cr.LazyQuotes = true    // spreadsheets write stray quotes inside cells
	for len(t.rows) < maxTableRows {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			if len(t.rows) == 0 {
				return nil, fmt.Errorf("overlay: 商品表表头无法读取: %w", err)
			}
			// encoding/csv cannot resynchronise after a broken record, so
			// stop here and keep what loaded.
			t.broken = &Problem{Row: line, Msg: fmt.Sprintf("无法读取，之后的行都没有加载：%v", err)}
			break
		}
		if len(rec) > maxTableColumns && blankRecord(rec[maxTableColumns:]) {
			rec = rec[:maxTableColumns]
		}
		t.rows = append(t.rows, tableRow{line: line, cells: rec})
	}
	return t, nil
}

// readXLSX reads the first worksheet of an .xlsx. Cells are read raw
// (39.9, not a currency format's "￥39.90"), and a float Excel stored with
// binary noise (39.899999999999999) is written back the short way.
func readXLSX(data []byte) (t *table, problems []Problem, err error) {
	// A third-party parser sees untrusted bytes here: a panic in it is a
	// bad file, never a box that does not start.
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, fmt.Errorf("overlay: 商品表像是 Excel 表格但已损坏，请在 Excel/WPS 里重新保存为 .xlsx (workbook parser failed: %v)", r)
		}
	}()
	f, err := excelize.OpenReader(bytes.NewReader(data), excelize.Options{
		RawCellValue:   true,
		UnzipSizeLimit: maxXLSXUnzipBytes,
		// Never spill worksheets to temporary files on the SD card.
		UnzipXMLSizeLimit: maxXLSXUnzipBytes,
	})
	if err != nil && strings.Contains(err.Error(), "unzip size exceeds") {
		return nil, nil, fmt.Errorf("overlay: 商品表解压后超过 %d MB，商品表用不着这么大，请检查文件 (workbook unpacks too large): %w", maxXLSXUnzipBytes>>20, err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("overlay: 商品表像是 Excel 表格但打不开，请在 Excel/WPS 里重新保存为 .xlsx (cannot open workbook): %w", err)
	}
	defer f.Close()
	sheets := f.GetSheetList()
	if len(sheets) == 0 {
		return nil, nil, errors.New("overlay: Excel 表格里没有工作表 (workbook has no sheet)")
	}
	if len(sheets) > 1 {
		problems = append(problems, Problem{Msg: fmt.Sprintf("表格有 %d 张工作表，只读了第一张“%s”", len(sheets), sheets[0])})
	}
	rows, err := f.Rows(sheets[0])
	if err != nil {
		return nil, problems, fmt.Errorf("overlay: 读不出工作表“%s” (cannot read sheet): %w", sheets[0], err)
	}
	defer rows.Close()
	t = &table{kind: kindXLSX}
	for n := 1; n <= maxTableRows && rows.Next(); n++ {
		rec, err := rows.Columns()
		if err != nil {
			t.broken = &Problem{Row: n, Msg: fmt.Sprintf("无法读取，之后的行都没有加载：%v", err)}
			break
		}
		if len(rec) > maxTableColumns {
			rec = rec[:maxTableColumns]
		}
		for i, c := range rec {
			rec[i] = tidyNumber(c)
		}
		t.rows = append(t.rows, tableRow{line: n, cells: rec})
	}
	if err := rows.Error(); err != nil && t.broken == nil {
		t.broken = &Problem{Row: len(t.rows) + 1, Msg: fmt.Sprintf("无法读取，之后的行都没有加载：%v", err)}
	}
	if len(t.rows) == 0 {
		return nil, problems, errors.New("overlay: 商品表是空的 (catalogue is empty)")
	}
	return t, problems, nil
}

// tidyNumber rewrites a raw spreadsheet number with float noise in its
// shortest form; anything else is returned as it is.
func tidyNumber(s string) string {
	whole, frac, ok := strings.Cut(s, ".")
	if !ok || len(frac) <= 6 || whole == "" || !allDigits(strings.TrimPrefix(whole, "-")) || !allDigits(frac) {
		return s
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return s
	}
	return strconv.FormatFloat(math.Round(v*1e6)/1e6, 'f', -1, 64)
}

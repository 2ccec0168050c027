package overlay

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // trainers' photos arrive in whatever format the phone saved
	_ "image/jpeg"
	_ "image/png"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/image/draw"
	_ "golang.org/x/image/webp" // WeChat and many phones save WebP
)

// Limits that keep a hostile or careless catalogue from exhausting a Pi.
const (
	maxCatalogBytes = 4 << 20
	maxProducts     = 500
	maxCellRunes    = 200
	maxPhotoBytes   = 25 << 20
	// maxPhotoPixels bounds the decoded picture (4 bytes a pixel for a
	// PNG) before it is shrunk to maxPhotoEdge: 4096×4096, more than any
	// phone saves by default and ~64 MB at worst.
	maxPhotoPixels   = 4096 * 4096
	maxPhotoEdge     = 640 // photos are kept downscaled to this edge after loading
	maxPriceFen      = 100_000_000
	maxLinkNumber    = 9999
	firstDataRowLine = 2
)

// Product is one row of the catalogue.
type Product struct {
	// Row is the spreadsheet row number (the header is row 1).
	Row  int
	ID   string
	Name string
	// PriceFen is the price in fen (1/100 yuan) so prices never suffer
	// floating-point rounding.
	PriceFen int64
	// Unit is the unit or specification, e.g. "500克/瓶".
	Unit string
	// Link is the shop link number (3 for 3号链接); 0 means none.
	Link int
	// PhotoName is the file name given in the catalogue; Photo is the
	// decoded picture, downscaled for card use, or nil when missing or
	// unreadable.
	PhotoName string
	Photo     image.Image
	Tagline   string
}

// CardText is one piece of words a product card shows, with what the
// catalogue calls that column.
type CardText struct{ Label, Text string }

// Texts are the words p's card shows that an advertising rule can break:
// the box and the trainer's page check the same ones.
func (p Product) Texts() []CardText {
	return []CardText{{"名称", p.Name}, {"规格", p.Unit}, {"卖点", p.Tagline}}
}

// PriceText formats the price the way Chinese shops print it: ¥39.9,
// ¥128, ¥9.95.
func (p *Product) PriceText() string {
	return "¥" + formatFen(p.PriceFen)
}

// LinkText is the badge text, e.g. "3号链接", or "" when there is no link.
func (p *Product) LinkText() string {
	if p.Link <= 0 {
		return ""
	}
	return strconv.Itoa(p.Link) + "号链接"
}

func formatFen(fen int64) string {
	yuan, rest := fen/100, fen%100
	switch {
	case rest == 0:
		return strconv.FormatInt(yuan, 10)
	case rest%10 == 0:
		return fmt.Sprintf("%d.%d", yuan, rest/10)
	default:
		return fmt.Sprintf("%d.%02d", yuan, rest)
	}
}

// Catalog is the list of products the streamer switches between, in
// spreadsheet order.
type Catalog struct {
	Products []Product
}

// Len reports the number of products; a nil catalogue is empty.
func (c *Catalog) Len() int {
	if c == nil {
		return 0
	}
	return len(c.Products)
}

// Problem is one thing wrong in the catalogue, addressed so a trainer can
// find it in the spreadsheet. Row 0 concerns the whole file.
type Problem struct {
	Row   int
	Field string
	Msg   string
}

// String renders the problem in Chinese for the trainer, e.g.
// "第3行 价格：无法识别“abc”".
func (p Problem) String() string {
	var b strings.Builder
	if p.Row > 0 {
		fmt.Fprintf(&b, "第%d行", p.Row)
	} else {
		b.WriteString("整个文件")
	}
	if p.Field != "" {
		b.WriteString(" " + p.Field)
	}
	b.WriteString("：" + p.Msg)
	return b.String()
}

// column identifies a catalogue column independent of the header language.
type column int

const (
	colID column = iota
	colName
	colPrice
	colUnit
	colLink
	colPhoto
	colTagline
	numColumns
)

// columnLabel is the Chinese column name used in problem reports.
var columnLabel = [numColumns]string{"编号", "名称", "价格", "规格", "链接号", "图片", "卖点"}

// headerAliases maps normalised header names (see normaliseHeader) to columns.
var headerAliases = map[string]column{
	"id": colID, "编号": colID, "序号": colID, "货号": colID, "商品编号": colID,
	"name": colName, "名称": colName, "商品名称": colName, "商品名": colName, "品名": colName, "产品名称": colName,
	"price": colPrice, "价格": colPrice, "售价": colPrice, "单价": colPrice, "直播价": colPrice,
	"unit": colUnit, "spec": colUnit, "unit/spec": colUnit, "规格": colUnit, "单位": colUnit, "规格/单位": colUnit,
	"link": colLink, "linkno": colLink, "linknumber": colLink, "link_number": colLink, "link_no": colLink,
	"链接号": colLink, "链接": colLink, "链接编号": colLink,
	"photo": colPhoto, "image": colPhoto, "picture": colPhoto, "图片": colPhoto, "照片": colPhoto, "主图": colPhoto, "图片文件": colPhoto,
	"tagline": colTagline, "slogan": colTagline, "卖点": colTagline, "宣传语": colTagline,
}

// normaliseHeader folds case, spaces and a trailing unit in brackets, so
// "价格（元）" and " Price " both name the price column.
func normaliseHeader(h string) string {
	h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
	if i := strings.IndexAny(h, "(（"); i > 0 {
		h = h[:i]
	}
	h = strings.ToLower(strings.Join(strings.Fields(h), ""))
	return h
}

// LoadCatalog reads a catalogue CSV and its folder of photos. The error is
// non-nil only when nothing can be loaded (file unreadable, no header, no
// name or price column); row-level trouble is returned as problems while
// the good rows still load.
func LoadCatalog(csvPath, photoDir string) (*Catalog, []Problem, error) {
	f, err := openRegular(csvPath)
	if err != nil {
		return nil, nil, fmt.Errorf("overlay: 无法打开商品表 %s: %w", csvPath, err)
	}
	defer f.Close()
	var photos fs.FS
	if photoDir != "" {
		photos = regularDir(photoDir)
	}
	return ParseCatalog(f, photos)
}

// ParseCatalog reads a catalogue from r (XLSX, CSV or TSV; see readTable);
// photo file names are looked up in photos, which may be nil when the
// catalogue has no pictures.
func ParseCatalog(r io.Reader, photos fs.FS) (*Catalog, []Problem, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxCatalogBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("overlay: 读取商品表失败: %w", err)
	}
	if len(data) > maxCatalogBytes {
		return nil, nil, fmt.Errorf("overlay: 商品表超过 %d MB，请检查文件 (catalogue too large)", maxCatalogBytes>>20)
	}
	tab, problems, err := readTable(data)
	if err != nil {
		return nil, problems, err
	}
	rows := tab.rows
	// A title row or two above the header ("榕江好物直播商品表") is common
	// in spreadsheets: the header is the first row naming a column.
	for len(rows) > 0 && blankRecord(rows[0].cells) {
		rows = rows[1:]
	}
	if len(rows) == 0 {
		return nil, problems, errors.New("overlay: 商品表是空的 (catalogue is empty)")
	}
	for i := 0; i < len(rows) && i < 5; i++ {
		if idx, _ := headerColumns(rows[i]); idx[colName] >= 0 && idx[colPrice] >= 0 {
			rows = rows[i:]
			break
		}
	}
	header := rows[0]
	colIndex, headerProblems := headerColumns(header)
	problems = append(problems, headerProblems...)
	for _, c := range []column{colName, colPrice} {
		if colIndex[c] < 0 {
			return nil, problems, fmt.Errorf("overlay: 商品表缺少“%s”列 (missing %s column)", columnLabel[c], [...]string{colName: "name", colPrice: "price"}[c])
		}
	}
	width := len(header.cells)
	for width > 0 && strings.TrimSpace(header.cells[width-1]) == "" {
		width--
	}

	cat := &Catalog{}
	seenIDs := map[string]int{}
	photoLoader := newPhotoLoader(photos)
	for _, row := range rows[1:] {
		rec, line := row.cells, row.line
		if blankRecord(rec) {
			continue
		}
		// Cells past the header's last named column are ignored when empty:
		// spreadsheets pad rows, and XLSX rows stop at their last value.
		// An XLSX row simply ends at its last value; a CSV row with too few
		// or too many cells has lost a separator and its cells are shifted.
		if tab.kind != kindXLSX && (len(rec) < width || len(rec) > width && !blankRecord(rec[width:])) {
			problems = append(problems, Problem{Row: line, Msg: fmt.Sprintf("有 %d 列，表头有 %d 列，这一行没有加载", len(rec), len(header.cells))})
			continue
		}
		if len(cat.Products) >= maxProducts {
			problems = append(problems, Problem{Row: line, Msg: fmt.Sprintf("商品超过 %d 个，后面的没有加载", maxProducts)})
			break
		}
		cell := func(c column) string {
			if colIndex[c] < 0 || colIndex[c] >= len(rec) {
				return ""
			}
			return cleanCell(rec[colIndex[c]])
		}
		p, rowProblems := parseRow(line, cell)
		problems = append(problems, rowProblems...)
		if p == nil {
			continue
		}
		if first, dup := seenIDs[p.ID]; dup {
			problems = append(problems, Problem{Row: line, Field: columnLabel[colID], Msg: fmt.Sprintf("编号“%s”和第%d行重复，这一行没有加载", p.ID, first)})
			continue
		}
		seenIDs[p.ID] = line
		if p.PhotoName != "" {
			img, msg := photoLoader.load(p.PhotoName)
			if msg != "" {
				problems = append(problems, Problem{Row: line, Field: columnLabel[colPhoto], Msg: msg + "，商品卡不带图片"})
			}
			p.Photo = img
		}
		cat.Products = append(cat.Products, *p)
	}
	if tab.broken != nil && len(cat.Products) < maxProducts {
		problems = append(problems, *tab.broken)
	}
	return cat, problems, nil
}

// headerColumns finds each known column in a header row; -1 when absent.
func headerColumns(header tableRow) ([numColumns]int, []Problem) {
	var problems []Problem
	colIndex := [numColumns]int{}
	for i := range colIndex {
		colIndex[i] = -1
	}
	for i, h := range header.cells {
		norm := normaliseHeader(h)
		if norm == "" {
			continue
		}
		c, ok := headerAliases[norm]
		if !ok {
			problems = append(problems, Problem{Row: header.line, Field: cleanCell(h), Msg: "不认识这一列，已忽略"})
			continue
		}
		if colIndex[c] >= 0 {
			problems = append(problems, Problem{Row: header.line, Field: cleanCell(h), Msg: fmt.Sprintf("“%s”列重复，只用第一列", columnLabel[c])})
			continue
		}
		colIndex[c] = i
	}
	return colIndex, problems
}

// parseRow validates one record; it returns nil when the row cannot be
// used, along with the reasons.
func parseRow(line int, cell func(column) string) (*Product, []Problem) {
	var problems []Problem
	bad := func(c column, msg string) {
		problems = append(problems, Problem{Row: line, Field: columnLabel[c], Msg: msg})
	}
	p := &Product{
		Row:       line,
		ID:        cell(colID),
		Name:      cell(colName),
		Unit:      cell(colUnit),
		PhotoName: cell(colPhoto),
		Tagline:   cell(colTagline),
	}
	if p.ID == "" {
		// Trainers often leave the id blank; the row number is stable
		// enough to tell products apart.
		p.ID = "row-" + strconv.Itoa(line)
	}
	if p.Name == "" {
		bad(colName, "没有填商品名称，这一行没有加载")
	}
	priceText := cell(colPrice)
	fen, err := parsePriceFen(priceText)
	if err != nil {
		bad(colPrice, fmt.Sprintf("无法识别“%s”（%v），这一行没有加载", priceText, err))
	}
	p.PriceFen = fen
	if linkText := cell(colLink); linkText != "" {
		n, err := parseLinkNumber(linkText)
		if err != nil {
			bad(colLink, fmt.Sprintf("无法识别“%s”（请填数字，如 3），这一行没有加载", linkText))
		}
		p.Link = n
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return p, nil
}

func blankRecord(rec []string) bool {
	for _, s := range rec {
		if strings.TrimSpace(s) != "" {
			return false
		}
	}
	return true
}

// cleanCell trims whitespace (including the full-width space), drops
// control characters that would render as boxes, and bounds the length.
func cleanCell(s string) string {
	s = strings.TrimFunc(s, unicode.IsSpace)
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			return ' '
		case unicode.IsControl(r), r == '\ufeff', r == utf8.RuneError:
			return -1
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) > maxCellRunes {
		s = string([]rune(s)[:maxCellRunes])
	}
	return s
}

// foldWidth turns full-width digits and punctuation (typed with a Chinese
// IME) into ASCII.
func foldWidth(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '！' && r <= '～' {
			return r - '！' + '!'
		}
		if r == '\u3000' {
			return ' '
		}
		return r
	}, s)
}

var errEmpty = errors.New("空的")

// parsePriceFen accepts the ways sellers type a price: "39.9", "¥39.9",
// "￥39.90", "38元", "38块", "38元/瓶", "RMB 39", thousands separators
// ("1,280", "1，280.50") and full-width digits; it returns the price in fen.
func parsePriceFen(s string) (int64, error) {
	s = strings.ToUpper(strings.Join(strings.Fields(foldWidth(s)), ""))
	// "38元/瓶": the unit after the slash belongs to the unit column; a
	// second number after it ("38/42") is two prices and stays an error.
	if before, after, ok := strings.Cut(s, "/"); ok && !strings.ContainsAny(after, "0123456789") {
		s = before
	}
	for _, prefix := range []string{"¥", "￥", "RMB", "CNY"} {
		s = strings.TrimPrefix(s, prefix)
	}
	for _, suffix := range []string{"块钱", "元", "块", "RMB"} {
		s = strings.TrimSuffix(s, suffix)
	}
	if s == "" {
		return 0, errEmpty
	}
	if strings.Contains(s, ",") {
		// Only a real thousands separator: groups of exactly three digits.
		whole, frac, hasDot := strings.Cut(s, ".")
		groups := strings.Split(whole, ",")
		for i, g := range groups {
			if g == "" || !allDigits(g) || (i > 0 && len(g) != 3) || (i == 0 && len(g) > 3) {
				return 0, errors.New("不是数字（有千位分隔时写成 1,280）")
			}
		}
		s = strings.Join(groups, "")
		if hasDot {
			s += "." + frac
		}
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || !allDigits(whole) || (hasDot && (frac == "" || !allDigits(frac))) {
		return 0, errors.New("不是数字")
	}
	if len(frac) > 2 {
		return 0, errors.New("最多两位小数")
	}
	if len(whole) > 9 {
		return 0, errors.New("价格太高")
	}
	yuan, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, errors.New("不是数字")
	}
	for len(frac) < 2 {
		frac += "0"
	}
	fenPart, _ := strconv.ParseInt(frac, 10, 64)
	fen := yuan*100 + fenPart
	switch {
	case fen <= 0:
		return 0, errors.New("价格必须大于 0")
	case fen > maxPriceFen:
		return 0, errors.New("价格太高")
	}
	return fen, nil
}

// parseLinkNumber accepts "3", "3号", "3号链接", "#3" and full-width digits.
func parseLinkNumber(s string) (int, error) {
	s = strings.Join(strings.Fields(foldWidth(s)), "")
	s = strings.TrimPrefix(s, "#")
	s = strings.TrimSuffix(s, "链接")
	s = strings.TrimSuffix(s, "号")
	if s == "" || len(s) > 4 || !allDigits(s) {
		return 0, errors.New("不是数字")
	}
	n, _ := strconv.Atoi(s)
	if n < 1 || n > maxLinkNumber {
		return 0, errors.New("超出范围")
	}
	return n, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// photoLoader opens photos from the catalogue's folder, matching file
// names case-insensitively as a fallback because Windows hides the
// difference between 辣椒酱.JPG and 辣椒酱.jpg.
type photoLoader struct {
	fsys    fs.FS
	byLower map[string]string // lazily listed
}

func newPhotoLoader(fsys fs.FS) *photoLoader { return &photoLoader{fsys: fsys} }

// load returns the decoded photo or a Chinese message saying why not.
func (l *photoLoader) load(name string) (image.Image, string) {
	name = strings.ReplaceAll(name, "\\", "/")
	if l.fsys == nil {
		return nil, fmt.Sprintf("没有图片文件夹，找不到“%s”", name)
	}
	if !fs.ValidPath(name) || strings.Contains(name, "/") {
		return nil, fmt.Sprintf("“%s”不是图片文件夹里的文件名", name)
	}
	data, err := l.read(name)
	if errors.Is(err, fs.ErrNotExist) {
		if real, ok := l.lookupFold(name); ok {
			data, err = l.read(real)
		}
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Sprintf("图片文件夹里没有“%s”", name)
		}
		return nil, fmt.Sprintf("读不出图片“%s”：%v", name, err)
	}
	img, err := decodePhoto(data)
	if err != nil {
		return nil, fmt.Sprintf("图片“%s”%v", name, err)
	}
	return img, ""
}

func (l *photoLoader) read(name string) ([]byte, error) {
	// Ask before opening: an fs.FS cannot be told not to block on a FIFO
	// (regularDir also refuses one itself).
	if fi, err := fs.Stat(l.fsys, name); err == nil && !fi.Mode().IsRegular() {
		return nil, errNotRegular
	}
	f, err := l.fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPhotoBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxPhotoBytes {
		return nil, fmt.Errorf("文件超过 %d MB", maxPhotoBytes>>20)
	}
	return data, nil
}

func (l *photoLoader) lookupFold(name string) (string, bool) {
	if l.byLower == nil {
		l.byLower = map[string]string{}
		entries, _ := fs.ReadDir(l.fsys, ".")
		for _, e := range entries {
			if !e.IsDir() {
				l.byLower[strings.ToLower(e.Name())] = e.Name()
			}
		}
	}
	real, ok := l.byLower[strings.ToLower(name)]
	return real, ok
}

// decodePhoto decodes and downscales a photo. Third-party decoders see
// untrusted bytes here, so a decoder panic is turned into an error: a bad
// picture must never take the stream down.
func decodePhoto(data []byte) (img image.Image, err error) {
	defer func() {
		if r := recover(); r != nil {
			img, err = nil, errors.New("已损坏，无法解码")
		}
	}()
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return nil, errors.New("格式不支持（请用 JPG 或 PNG）")
		}
		return nil, errors.New("已损坏，无法解码")
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, errors.New("已损坏，无法解码")
	}
	if int64(cfg.Width)*int64(cfg.Height) > maxPhotoPixels {
		return nil, fmt.Errorf("太大（%d×%d 像素），商品卡用不了这么大：请缩小到 4000×4000 以内（用微信发给自己再保存就会变小）", cfg.Width, cfg.Height)
	}
	src, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, errors.New("已损坏，无法解码")
	}
	return downscale(src, maxPhotoEdge), nil
}

// downscale bounds the longer edge so a catalogue of 12-megapixel phone
// photos fits in a Pi's memory; smaller pictures are copied to RGBA.
func downscale(src image.Image, maxEdge int) *image.RGBA {
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	if w > maxEdge || h > maxEdge {
		if w >= h {
			w, h = maxEdge, max(1, h*maxEdge/w)
		} else {
			w, h = max(1, w*maxEdge/h), maxEdge
		}
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.CatmullRom.Scale(dst, dst.Bounds(), src, b, draw.Src, nil)
	return dst
}

package practice

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cunbo/cunbo/lint"
)

// FormatVersion is the only scenario format version.
const FormatVersion = 1

// Limits of a scenario file.
const (
	MaxScenarioBytes = 64 << 10
	MaxQuestions     = 200
	MaxNameRunes     = 12
	MaxTextRunes     = 80
	MaxTitleRunes    = 40
	MinWithin        = 5 * time.Second
	MaxWithin        = 10 * time.Minute
	MaxAt            = 2 * time.Hour
)

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("practice: invalid scenario")

// Scenario is a parsed scenario file.
type Scenario struct {
	Name      string     `json:"name"`
	Questions []Question `json:"questions"`
}

// Question is one simulated customer's comment or question.
type Question struct {
	Line int    `json:"line"`
	From string `json:"from"` // the customer's name
	// At is when it appears: after the start, or, when AfterCard is set,
	// after that card is first shown.
	At        time.Duration `json:"at"`
	AfterCard string        `json:"after_card,omitempty"`
	Product   string        `json:"product,omitempty"` // catalogue id; "" for none
	// Within is how long she has to answer; 0 for a comment that needs no
	// answer.
	Within time.Duration `json:"within,omitempty"`
	Tempts string        `json:"tempts,omitempty"` // a lint category code
	Text   string        `json:"text"`
	Sample string        `json:"sample,omitempty"`
}

// LineError is a problem on one line, in Chinese for the trainer and English
// for the log.
type LineError struct {
	Line int
	Zh   string
	En   string
}

func (e *LineError) Error() string {
	return fmt.Sprintf("第%d行：%s (line %d: %s)", e.Line, e.Zh, e.Line, e.En)
}

func (e *LineError) Unwrap() error { return ErrInvalid }

var idRe = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z_-]{0,31}$`)

// ParseScenario reads and validates a scenario. products, when not nil, are
// the catalogue ids a question may name; nil accepts any well-formed id (the
// review service, which has no catalogue).
func ParseScenario(data []byte, products []string) (*Scenario, error) {
	bad := func(line int, zh, en string, a ...any) error {
		return &LineError{Line: line, Zh: fmt.Sprintf(zh, a...), En: fmt.Sprintf(en, a...)}
	}
	if len(data) > MaxScenarioBytes {
		return nil, bad(0, "文件太大（%d字节，最多%d）", "file is %d bytes, over %d", len(data), MaxScenarioBytes)
	}
	if !utf8.Valid(data) {
		return nil, bad(0, "文件不是UTF-8文字", "file is not UTF-8")
	}
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	var s Scenario
	version := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), MaxScenarioBytes)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		switch {
		case key == "scenario" && !strings.Contains(line, "|"):
			if s.Name != "" {
				return nil, bad(n, "名称写了两次", "scenario named twice")
			}
			if rest == "" || utf8.RuneCountInString(rest) > MaxTitleRunes {
				return nil, bad(n, "名称要有，最多%d个字", "name must have 1 to %d characters", MaxTitleRunes)
			}
			s.Name = rest
		case key == "version" && !strings.Contains(line, "|"):
			if version != 0 {
				return nil, bad(n, "版本写了两次", "version given twice")
			}
			v, err := strconv.Atoi(rest)
			if err != nil || v != FormatVersion {
				return nil, bad(n, "版本应该是 %d", "version must be %d", FormatVersion)
			}
			version = v
		default:
			if s.Name == "" || version == 0 {
				return nil, bad(n, "文件开头要先写 scenario 名称 和 version 1", "the header (scenario, version) must come first")
			}
			q, err := parseQuestion(n, line, products)
			if err != nil {
				return nil, err
			}
			if len(s.Questions) == MaxQuestions {
				return nil, bad(n, "问题太多（最多%d个）", "more than %d questions", MaxQuestions)
			}
			s.Questions = append(s.Questions, q)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, bad(n+1, "读不下去：%v", "cannot read: %v", err)
	}
	switch {
	case s.Name == "":
		return nil, bad(n, "没有名称（scenario 行）", "no scenario line")
	case version == 0:
		return nil, bad(n, "没有版本（version 1 行）", "no version line")
	case len(s.Questions) == 0:
		return nil, bad(n, "一个问题也没有", "no questions")
	}
	return &s, nil
}

func parseQuestion(n int, line string, products []string) (Question, error) {
	bad := func(zh, en string, a ...any) error {
		return &LineError{Line: n, Zh: fmt.Sprintf(zh, a...), En: fmt.Sprintf(en, a...)}
	}
	f := strings.Split(line, "|")
	for i := range f {
		f[i] = strings.TrimSpace(f[i])
	}
	if len(f) < 6 || len(f) > 7 {
		return Question{}, bad("要用 | 分成6或7段：时间|名字|商品|限时|规则|话，现在是%d段",
			"want 6 or 7 fields split by | (when|name|product|within|tempts|text), got %d", len(f))
	}
	q := Question{Line: n, From: f[1], Text: f[5]}
	when := f[0]
	if c, ok := strings.CutPrefix(when, "card "); ok {
		id, off, found := strings.Cut(strings.TrimSpace(c), "+")
		if !found {
			off = "0"
		}
		id = strings.TrimSpace(id)
		if !validProduct(id, products) {
			return Question{}, bad("时间里的卡片 %q 不在商品目录里", "card %q in when is not in the catalogue", id)
		}
		q.AfterCard = id
		when = strings.TrimSpace(off)
	}
	at, ok := parseSeconds(when)
	if !ok || at > MaxAt {
		return Question{}, bad("时间 %q 看不懂，写秒数（如 30）或 分:秒（如 1:05）", "bad time %q: write seconds (30) or m:ss (1:05)", f[0])
	}
	q.At = at
	if q.From == "" || utf8.RuneCountInString(q.From) > MaxNameRunes {
		return Question{}, bad("名字要有，最多%d个字", "name must have 1 to %d characters", MaxNameRunes)
	}
	if f[2] != "-" {
		if !validProduct(f[2], products) {
			return Question{}, bad("商品 %q 不在商品目录里（不关商品就写 -）", "product %q is not in the catalogue (- for none)", f[2])
		}
		q.Product = f[2]
	}
	if f[3] != "-" {
		w, ok := parseSeconds(f[3])
		if !ok || w < MinWithin || w > MaxWithin {
			return Question{}, bad("限时 %q 要在%d到%d秒之间（不用回答就写 -）", "within %q must be %d to %d seconds (- for none)",
				f[3], int(MinWithin.Seconds()), int(MaxWithin.Seconds()))
		}
		q.Within = w
	}
	if f[4] != "-" {
		if lint.CategoryName(f[4]) == "" {
			return Question{}, bad("规则 %q 不认识，可以写：%s（不考规则就写 -）", "unknown rule category %q, known: %s (- for none)",
				f[4], strings.Join(lint.Categories(), " "))
		}
		q.Tempts = f[4]
	}
	if q.Text == "" || utf8.RuneCountInString(q.Text) > MaxTextRunes {
		return Question{}, bad("话要有，最多%d个字", "text must have 1 to %d characters", MaxTextRunes)
	}
	if len(f) == 7 {
		if f[6] == "" || utf8.RuneCountInString(f[6]) > 2*MaxTextRunes {
			return Question{}, bad("示范回答最多%d个字，不写就去掉最后的 |", "sample answer must have 1 to %d characters", 2*MaxTextRunes)
		}
		q.Sample = f[6]
	}
	return q, nil
}

func validProduct(id string, products []string) bool {
	if !idRe.MatchString(id) {
		return false
	}
	return products == nil || slices.Contains(products, id)
}

// parseSeconds reads 30, 30s or m:ss.
func parseSeconds(s string) (time.Duration, bool) {
	s = strings.TrimSuffix(s, "s")
	if m, sec, ok := strings.Cut(s, ":"); ok {
		mi, err1 := strconv.Atoi(m)
		si, err2 := strconv.Atoi(sec)
		if err1 != nil || err2 != nil || mi < 0 || si < 0 || si > 59 || len(sec) != 2 || mi > 999 {
			return 0, false
		}
		return time.Duration(mi)*time.Minute + time.Duration(si)*time.Second, true
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 || v > 1<<20 {
		return 0, false
	}
	return time.Duration(v) * time.Second, true
}

package lint

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Categories are the finding codes of COMPLIANCE.md, used everywhere.
var categoryNames = map[string]string{
	"ABS":       "绝对化用语",
	"STATE":     "使用国家名义",
	"MED":       "疾病治疗功效",
	"HEALTH":    "保健功效",
	"UNVERIF":   "保证性、无法证实的承诺",
	"DATA":      "无来源的数据",
	"PRICE":     "虚构原价、虚假促销",
	"OFFPLAT":   "引导站外交易",
	"INDUCE":    "诱导互动",
	"SUPERST":   "封建迷信",
	"DISPARAGE": "贬低同行",
}

// Categories returns the category codes in COMPLIANCE.md order.
func Categories() []string {
	return []string{"ABS", "STATE", "MED", "HEALTH", "UNVERIF", "DATA", "PRICE", "OFFPLAT", "INDUCE", "SUPERST", "DISPARAGE"}
}

// CategoryName returns the plain-Chinese name of a category code.
func CategoryName(code string) string { return categoryNames[code] }

// Pack is a parsed rule pack: a versioned, human-editable text file that a
// trainer can extend with local words and allow-phrases without touching
// Go code. See rules/default.pack for the format.
type Pack struct {
	Source  string // file name used in error messages
	Version string
	Name    string
	// Model names the built-in model that catches claims in words no
	// pattern lists ("category"), or is empty for rules alone.
	Model string

	Fillers      []Phrase
	Folds        []Fold
	Stutters     []Phrase
	Negations    []Phrase
	NotNegations []Phrase
	Disclaimers  []Phrase
	ClauseBreaks []Phrase
	OwnRange     []Phrase
	// Topics are words that turn a risky phrase into the topic of what
	// follows (开光这些, 特供两个字, 国家推荐这种说法): a negated speech or
	// trade verb after them (我们不搞, 我说不出口) disowns the phrase.
	Topics []Phrase
	// DisclaimVerbs are the verbs a negation must govern, after a topic,
	// to disown the phrase before it (不说, 不卖, 不敢保证).
	DisclaimVerbs []Phrase
	// Doubts are negations whose scope is a whole reported claim (不要相信
	// 那种说戴银子能辟邪的): they reach to the end of the clause.
	Doubts []Phrase
	// Wishes mark her own goals and plans (我的目标是, 争取), which are not
	// claims about the product.
	Wishes []Phrase
	// Referrals send viewers to a doctor (还是得看医生); anywhere in the
	// utterance they clear a health or medical claim, unless negated
	// (不用去医院).
	Referrals []Phrase
	// SpeechVerbs are the verbs of saying and promising: a negation that
	// governs one (我们不敢跟大家说…) reaches over the whole claim it
	// introduces, not just the next few characters.
	SpeechVerbs []Phrase
	// Heads are nouns that, right after an absolute word and its 的, show
	// that the word qualifies something other than the product (最好吃的
	// 吃法, 最佳的冲泡温度).
	Heads []Phrase
	// Subjects are people, teams and things that are not the product; an
	// absolute word whose nearest subject is one of them is not about the
	// product (篮球队拿过县里第一名). Products are the nouns that are.
	Subjects []Phrase
	Products []Phrase
	// Services are delivery and after-sales outcomes (发错, 摔碎, 给您补发):
	// a guarantee whose outcome they are promises the seller's own work,
	// which she can keep, not an unprovable quality of the goods.
	Services []Phrase
	// Reports introduce what someone else says (有人讲, 网上说, 评论里有人
	// 讲): a claim they introduce is cleared by a doubt or disclaimer after
	// it (有人讲这个茶能治胃病，莫信), which on her own claim would be a
	// shrug she speaks over.
	Reports []Phrase
	Allow   []Phrase
	Words   []Phrase
	Rules   []Rule
	// Explained are the categories' own law, explanation and safer
	// phrasing, told for a finding no single rule made (the category
	// model's, whose words no pattern lists): a rule's explanation quotes
	// its own words, which she may not have said.
	Explained []CategoryText
}

// CategoryText is what the streamer and her social worker are told about
// a category as a whole.
type CategoryText struct {
	Category string
	Law      string
	Explain  string
	Suggest  string
	Line     int
}

// Phrase is one word or pattern with the line it came from.
type Phrase struct {
	Text string
	Line int
}

// Fold rewrites a homophone, disguise or dialect word before matching.
type Fold struct {
	From, To string
	Line     int
}

// Rule is one compliance rule.
type Rule struct {
	ID       string
	Category string
	Patterns []Phrase
	Except   []Phrase
	// Boundary is "start" (default: the match must begin at a word
	// boundary), "both", or "none".
	Boundary  string
	Negatable bool // a negation earlier in the clause clears it
	OwnRange  bool // a comparison inside her own range clears it
	// AboutProduct marks a claim that is one only when it qualifies the
	// product: a head noun after it or a subject before it that is not the
	// product clears it.
	AboutProduct bool
	// AboutGoods marks a guarantee that is one only when it promises
	// something of the goods: a service outcome right after it clears it
	// (绝对不会发错, 百分百给您补发).
	AboutGoods bool
	Law        string
	Explain    string
	Suggest    string
	Line       int
}

// PackError lists every problem found in a rule pack, each with its line.
type PackError struct {
	Source   string
	Problems []LineError
}

// LineError is one problem at one line of a rule pack.
type LineError struct {
	Line int
	Msg  string
}

func (e *PackError) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%s:%d: %s", e.Source, p.Line, p.Msg)
	}
	return b.String()
}

const maxPackBytes = 4 << 20

// ParsePack reads a rule pack. Every problem is reported with its line
// number; a pack with any problem is rejected as a whole so a half-valid
// pack never replaces a good one.
func ParsePack(source string, r io.Reader) (*Pack, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxPackBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read rule pack %s: %w", source, err)
	}
	if len(data) > maxPackBytes {
		return nil, fmt.Errorf("rule pack %s: larger than %d bytes", source, maxPackBytes)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	p := &Pack{Source: source}
	pe := &PackError{Source: source}
	fail := func(line int, format string, args ...any) {
		if len(pe.Problems) < 50 {
			pe.Problems = append(pe.Problems, LineError{line, fmt.Sprintf(format, args...)})
		}
	}
	section := ""
	var rule *Rule
	var cat *CategoryText
	seenRule := map[string]int{}
	seenCat := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), maxPackBytes)
	line := 0
	for sc.Scan() {
		line++
		raw := sc.Text()
		if !utf8.ValidString(raw) {
			fail(line, "not valid UTF-8 (save the file as UTF-8)")
			continue
		}
		text := strings.TrimSpace(stripComment(raw))
		if text == "" {
			continue
		}
		if strings.HasPrefix(text, "[") {
			if !strings.HasSuffix(text, "]") {
				fail(line, "section header %q is missing the closing ]", text)
				continue
			}
			head := strings.TrimSpace(text[1 : len(text)-1])
			rule, cat = nil, nil
			switch {
			case head == "normalize" || head == "allow" || head == "words":
				section = head
			case strings.HasPrefix(head, "rule "):
				id := strings.TrimSpace(strings.TrimPrefix(head, "rule "))
				if !validRuleID(id) {
					fail(line, "rule id %q: use letters, digits, '-', '_' or '.'", id)
					section = "bad"
					continue
				}
				if prev, dup := seenRule[id]; dup {
					fail(line, "rule %q is already defined at line %d", id, prev)
				}
				seenRule[id] = line
				p.Rules = append(p.Rules, Rule{ID: id, Boundary: "start", Negatable: true, Line: line})
				rule = &p.Rules[len(p.Rules)-1]
				section = "rule"
			case strings.HasPrefix(head, "category "):
				code := strings.TrimSpace(strings.TrimPrefix(head, "category "))
				if _, ok := categoryNames[code]; !ok {
					fail(line, "unknown category %q (want one of %s)", code, strings.Join(Categories(), " "))
					section = "bad"
					continue
				}
				if prev, dup := seenCat[code]; dup {
					fail(line, "category %s is already explained at line %d", code, prev)
				}
				seenCat[code] = line
				p.Explained = append(p.Explained, CategoryText{Category: code, Line: line})
				cat = &p.Explained[len(p.Explained)-1]
				section = "category"
			default:
				fail(line, "unknown section [%s] (want [normalize], [allow], [words], [rule ID] or [category CODE])", head)
				section = "bad"
			}
			continue
		}
		key, val, ok := strings.Cut(text, "=")
		if !ok {
			fail(line, "expected \"key = value\", got %q", text)
			continue
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		if val == "" {
			fail(line, "%s: empty value", key)
			continue
		}
		words := func() []Phrase {
			var out []Phrase
			for _, w := range strings.Fields(val) {
				out = append(out, Phrase{w, line})
			}
			return out
		}
		switch section {
		case "":
			switch key {
			case "version":
				p.Version = val
			case "name":
				p.Name = val
			case "model":
				if val != "category" {
					fail(line, "model: want category, got %q", val)
				}
				p.Model = val
			default:
				fail(line, "unknown key %q before the first section (want version, name or model)", key)
			}
		case "normalize":
			switch key {
			case "filler":
				p.Fillers = append(p.Fillers, words()...)
			case "fold":
				from, to, ok := strings.Cut(val, "->")
				from, to = strings.TrimSpace(from), strings.TrimSpace(to)
				if !ok || from == "" || to == "" {
					fail(line, "fold: want \"from -> to\", got %q", val)
					continue
				}
				for _, f := range strings.Fields(from) {
					p.Folds = append(p.Folds, Fold{f, to, line})
				}
			case "stutter":
				p.Stutters = append(p.Stutters, words()...)
			case "negation":
				p.Negations = append(p.Negations, words()...)
			case "not-negation":
				p.NotNegations = append(p.NotNegations, words()...)
			case "disclaimer":
				p.Disclaimers = append(p.Disclaimers, words()...)
			case "clause-break":
				p.ClauseBreaks = append(p.ClauseBreaks, words()...)
			case "own-range":
				p.OwnRange = append(p.OwnRange, words()...)
			case "topic":
				p.Topics = append(p.Topics, words()...)
			case "disclaim-verb":
				p.DisclaimVerbs = append(p.DisclaimVerbs, words()...)
			case "doubt":
				p.Doubts = append(p.Doubts, words()...)
			case "referral":
				p.Referrals = append(p.Referrals, words()...)
			case "speech-verb":
				p.SpeechVerbs = append(p.SpeechVerbs, words()...)
			case "wish":
				p.Wishes = append(p.Wishes, words()...)
			case "head":
				p.Heads = append(p.Heads, words()...)
			case "subject":
				p.Subjects = append(p.Subjects, words()...)
			case "product":
				p.Products = append(p.Products, words()...)
			case "service":
				p.Services = append(p.Services, words()...)
			case "report":
				p.Reports = append(p.Reports, words()...)
			default:
				fail(line, "unknown key %q in [normalize]", key)
			}
		case "allow":
			if key != "phrase" {
				fail(line, "unknown key %q in [allow] (want phrase)", key)
				continue
			}
			for _, w := range words() {
				if err := checkPattern(w.Text); err != nil {
					fail(line, "allow phrase %q: %v", w.Text, err)
					continue
				}
				p.Allow = append(p.Allow, w)
			}
		case "words":
			if key != "word" {
				fail(line, "unknown key %q in [words] (want word)", key)
				continue
			}
			p.Words = append(p.Words, words()...)
		case "rule":
			switch key {
			case "category":
				if _, ok := categoryNames[val]; !ok {
					fail(line, "unknown category %q (want one of %s)", val, strings.Join(Categories(), " "))
				}
				rule.Category = val
			case "pattern", "except":
				for _, w := range words() {
					if err := checkPattern(w.Text); err != nil {
						fail(line, "%s %q: %v", key, w.Text, err)
						continue
					}
					if key == "except" && strings.Contains(w.Text, "~") {
						fail(line, "except %q: '~' joins parts of a pattern only", w.Text)
						continue
					}
					if key == "pattern" {
						rule.Patterns = append(rule.Patterns, w)
					} else {
						rule.Except = append(rule.Except, w)
					}
				}
			case "boundary":
				if val != "start" && val != "both" && val != "none" {
					fail(line, "boundary: want start, both or none, got %q", val)
				}
				rule.Boundary = val
			case "negatable", "own-range", "about-product", "about-goods":
				b, ok := parseYesNo(val)
				if !ok {
					fail(line, "%s: want yes or no, got %q", key, val)
				}
				switch key {
				case "negatable":
					rule.Negatable = b
				case "own-range":
					rule.OwnRange = b
				case "about-goods":
					rule.AboutGoods = b
				default:
					rule.AboutProduct = b
				}
			default:
				if !setTold(key, val, &rule.Law, &rule.Explain, &rule.Suggest) {
					fail(line, "unknown key %q in rule %s", key, rule.ID)
				}
			}
		case "category":
			if !setTold(key, val, &cat.Law, &cat.Explain, &cat.Suggest) {
				fail(line, "unknown key %q in category %s (want law, explain or suggest)", key, cat.Category)
			}
		case "bad":
			// already reported at the section header
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("rule pack %s: line %d: %w", source, line+1, err)
	}
	if p.Version == "" {
		fail(1, "missing \"version = ...\" at the top")
	}
	for _, r := range p.Rules {
		if r.Category == "" {
			fail(r.Line, "rule %s has no category", r.ID)
		}
		if len(r.Patterns) == 0 {
			fail(r.Line, "rule %s has no pattern", r.ID)
		}
		if r.Law == "" || r.Explain == "" || r.Suggest == "" {
			fail(r.Line, "rule %s needs law, explain and suggest (the streamer is told all three)", r.ID)
		}
	}
	for _, c := range p.Explained {
		if c.Law == "" || c.Explain == "" || c.Suggest == "" {
			fail(c.Line, "category %s needs law, explain and suggest (the streamer is told all three)", c.Category)
		}
	}
	if len(pe.Problems) > 0 {
		return nil, pe
	}
	return p, nil
}

// setTold sets what the streamer is told (law, explain, suggest) from a
// rule's or a category's key, reporting false for any other key.
func setTold(key, val string, law, explain, suggest *string) bool {
	switch key {
	case "law":
		*law = val
	case "explain":
		*explain = val
	case "suggest":
		*suggest = val
	default:
		return false
	}
	return true
}

// stripComment drops a comment: a line starting with '#', or " # ..." at
// the end of a line. A '#' glued to text is the pattern's number sign.
func stripComment(s string) string {
	if strings.HasPrefix(strings.TrimLeft(s, " \t"), "#") {
		return ""
	}
	for i := 1; i < len(s); i++ {
		if s[i] == '#' && (s[i-1] == ' ' || s[i-1] == '\t') && (i+1 == len(s) || s[i+1] == ' ' || s[i+1] == '\t') {
			return s[:i]
		}
	}
	return s
}

func validRuleID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

func parseYesNo(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "yes", "true", "是":
		return true, true
	case "no", "false", "否":
		return false, true
	}
	return false, false
}

// maxExpansions bounds how many literal phrases one pattern may stand for.
const maxExpansions = 4096

var errUnbalanced = errors.New("unbalanced parentheses")

// checkPattern validates pattern syntax: literal text, alternation groups
// (a|b|) where an empty branch makes the group optional, and # for a number.
func checkPattern(p string) error {
	for i, part := range strings.Split(p, "~") {
		out, err := expandPattern(part)
		if err != nil {
			return err
		}
		for _, s := range out {
			// a later part may be just a number (回购率~#); the first
			// part must say something
			if s == "" || i == 0 && strings.Trim(s, "#") == "" {
				return errors.New("matches only a number or nothing; add words")
			}
		}
	}
	return nil
}

// expandPattern turns a pattern into the literal phrases it stands for.
func expandPattern(p string) ([]string, error) {
	rs := []rune(p)
	pos := 0
	out, err := expandSeq(rs, &pos, 0)
	if err != nil {
		return nil, err
	}
	if pos != len(rs) {
		return nil, errUnbalanced
	}
	return out, nil
}

func expandSeq(rs []rune, pos *int, depth int) ([]string, error) {
	if depth > 8 {
		return nil, errors.New("groups nested too deeply")
	}
	acc := []string{""}
	for *pos < len(rs) {
		r := rs[*pos]
		switch r {
		case ')', '|':
			return acc, nil
		case '(':
			*pos++
			var alts []string
			for {
				branch, err := expandSeq(rs, pos, depth+1)
				if err != nil {
					return nil, err
				}
				alts = append(alts, branch...)
				if *pos >= len(rs) {
					return nil, errUnbalanced
				}
				if rs[*pos] == ')' {
					*pos++
					break
				}
				*pos++ // '|'
			}
			if len(acc)*len(alts) > maxExpansions {
				return nil, fmt.Errorf("expands to more than %d phrases; split it", maxExpansions)
			}
			next := make([]string, 0, len(acc)*len(alts))
			for _, a := range acc {
				for _, b := range alts {
					next = append(next, a+b)
				}
			}
			acc = next
		default:
			// a run of literal runes is appended to every phrase at once
			from := *pos
			for *pos < len(rs) && !strings.ContainsRune("()|", rs[*pos]) {
				*pos++
			}
			run := string(rs[from:*pos])
			for i := range acc {
				acc[i] += run
			}
		}
	}
	if depth > 0 {
		return nil, errUnbalanced
	}
	return acc, nil
}

package lint

import (
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"unicode/utf8"
)

// The category model catches what the rules cannot list: a claim said in
// words no pattern has (农科院的老师说…是别的姜的四倍). It is one logistic
// regression per category over hashed character 1- to 3-grams of the
// normalised text, trained by TestCategoryModelIsReproducible on the
// labelled sets that may be tuned on (never final.tsv or a frozen set).
//
// It speaks only when the rules found nothing in the utterance and the
// utterance holds none of the words that take a claim back or show it is
// about something else (negations, disclaimers, doubts, wishes, doctor
// referrals, allow-phrases, rule exceptions, own-range words, heads and
// subjects): those are the lines where a bag of characters cannot tell a
// claim from its denial, and the rules have already decided them.
//
//go:embed model/category.bin
var categoryModelBin []byte

const (
	modelMagic = "CBM1"
	// modelDim is the number of hash buckets per category.
	modelDim = 1 << 15
	// modelMaxN is the longest character n-gram.
	modelMaxN = 3
	// modelMinRunes is the shortest normalised utterance the model judges:
	// a recogniser's partial caption (我们家是全网) is too short to be a
	// claim on its own, and the rules catch the phrase once it is whole.
	modelMinRunes = 8
)

// catModel is a decoded category model: int8 weights with one scale per
// category, which keeps the model under 400 KB.
type catModel struct {
	cats  []string
	bias  []float32
	scale []float32
	// w holds the weights feature-major, w[f*len(cats)+k], so the
	// categories of one n-gram share a cache line.
	w []int8
	// logit is the score a category must exceed to be reported.
	logit float32
}

var defaultModel = sync.OnceValues(func() (*catModel, error) {
	return decodeModel(categoryModelBin)
})

func decodeModel(b []byte) (*catModel, error) {
	if len(b) < 16 || string(b[:4]) != modelMagic {
		return nil, errors.New("category model: bad header")
	}
	dim := binary.LittleEndian.Uint32(b[4:])
	ncat := binary.LittleEndian.Uint32(b[8:])
	logit := math.Float32frombits(binary.LittleEndian.Uint32(b[12:]))
	if dim != modelDim || ncat == 0 || ncat > 64 {
		return nil, fmt.Errorf("category model: dimension %d, %d categories", dim, ncat)
	}
	cm := &catModel{logit: logit, w: make([]int8, int(dim)*int(ncat))}
	p := 16
	for range ncat {
		if p+1 > len(b) {
			return nil, errors.New("category model: truncated")
		}
		n := int(b[p])
		p++
		if p+n+8+int(dim) > len(b) {
			return nil, errors.New("category model: truncated")
		}
		cat := string(b[p : p+n])
		if CategoryName(cat) == "" {
			return nil, fmt.Errorf("category model: unknown category %q", cat)
		}
		p += n
		cm.cats = append(cm.cats, cat)
		cm.bias = append(cm.bias, math.Float32frombits(binary.LittleEndian.Uint32(b[p:])))
		cm.scale = append(cm.scale, math.Float32frombits(binary.LittleEndian.Uint32(b[p+4:])))
		p += 8
		k := len(cm.cats) - 1
		for f := range int(dim) {
			cm.w[f*int(ncat)+k] = int8(b[p+f])
		}
		p += int(dim)
	}
	if p != len(b) {
		return nil, errors.New("category model: trailing bytes")
	}
	return cm, nil
}

// modelFeatures calls emit with the bucket of every 1- to 3-gram of rs,
// framed by start and end marks, without allocating.
func modelFeatures(rs []rune, emit func(uint32)) {
	const (
		offset = 2166136261
		prime  = 16777619
	)
	n := len(rs) + 2
	at := func(i int) rune {
		switch i {
		case 0:
			return '^'
		case n - 1:
			return '$'
		}
		return rs[i-1]
	}
	var buf [utf8.UTFMax]byte
	for size := 1; size <= modelMaxN; size++ {
		for i := 0; i+size <= n; i++ {
			h := uint32(offset)
			h = (h ^ uint32(size)) * prime
			for j := i; j < i+size; j++ {
				k := utf8.EncodeRune(buf[:], at(j))
				for _, c := range buf[:k] {
					h = (h ^ uint32(c)) * prime
				}
			}
			emit(h % modelDim)
		}
	}
}

// scores writes each category's logit for the normalised runes rs.
func (cm *catModel) scores(rs []rune, out []float32) {
	var sums [64]int32
	n := len(cm.cats)
	modelFeatures(rs, func(f uint32) {
		row := cm.w[int(f)*n : int(f)*n+n]
		for k, v := range row {
			sums[k] += int32(v)
		}
	})
	for k := range n {
		out[k] = cm.bias[k] + cm.scale[k]*float32(sums[k])
	}
}

// hedged reports whether the utterance holds any word that makes a bag of
// characters unreliable (see the comment on categoryModelBin).
func (m *matcher) hedged(sc *scratch) bool {
	for _, ng := range sc.neg {
		if m.realNegation(sc, ng) {
			return true
		}
	}
	// an exception that matched means a rule has already judged the line
	// (这一个号其他的都是假的 is about her accounts, not her rivals)
	return len(sc.except) > 0 || len(sc.discl) > 0 || len(sc.doubt) > 0 || len(sc.wish) > 0 ||
		len(sc.refer) > 0 || len(sc.allow) > 0 || len(sc.own) > 0 || len(sc.head) > 0 || len(sc.subj) > 0
}

// modelFindings adds a finding for every category the model is sure of,
// over the whole utterance, explained by the pack's first rule of that
// category. It runs only when the rules found nothing.
func (m *matcher) modelFindings(nt *normText, sc *scratch, into []Finding) []Finding {
	cm := m.model
	if cm == nil || len(nt.runes) < modelMinRunes || m.hedged(sc) || m.endsPending(nt.runes) {
		return into
	}
	var s [64]float32
	cm.scores(nt.runes, s[:len(cm.cats)])
	for k, cat := range cm.cats {
		if s[k] <= cm.logit {
			continue
		}
		r := m.firstRule(cat)
		if r == nil {
			continue
		}
		sp := nt.spanOf(0, len(nt.runes))
		into = append(into, Finding{
			Category: cat, Rule: "model-" + cat,
			Start: int(sp.start), End: int(sp.end), Match: string(sc.orig[sp.start:sp.end]),
			Law: r.Law, Explain: r.Explain, Suggest: r.Suggest,
		})
	}
	return into
}

// endsPending reports whether rs ends with the beginning of a rule
// pattern (今天的辣椒酱全网 …): a partial caption the rules will judge once
// the speaker finishes the phrase.
func (m *matcher) endsPending(rs []rune) bool {
	var buf [8 * utf8.UTFMax]byte
	for k := 2; k <= 8 && k <= len(rs); k++ {
		b := buf[:0]
		for _, r := range rs[len(rs)-k:] {
			b = utf8.AppendRune(b, r)
		}
		if m.pending[string(b)] {
			return true
		}
	}
	return false
}

func (m *matcher) firstRule(cat string) *Rule {
	for i := range m.rules {
		if m.rules[i].Category == cat {
			return &m.rules[i]
		}
	}
	return nil
}

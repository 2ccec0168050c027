package lint

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzNormalize checks that normalising and linting arbitrary text never
// panics and every finding points inside the original text.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"今天的辣椒酱全网最低价", "百分之百", "三十九块九", "１００％", "最最最呃香", "加 V 我", "\xff\x00全网", "\xff全网最低\xfe价", "第壹第1第一", "八百八十万亿", "百分之", "一点点点"} {
		f.Add(s)
	}
	l, err := NewDefault()
	if err != nil {
		f.Fatal(err)
	}
	m := l.m.Load()
	f.Fuzz(func(t *testing.T, s string) {
		rs := []rune(s)
		var sc normalizeScratch
		nt := m.norm.normalize(rs, &sc)
		if len(nt.runes) != len(nt.spans) {
			t.Fatalf("runes and spans differ in length")
		}
		for _, sp := range nt.spans {
			if sp.start < 0 || sp.end > int32(len(rs)) || sp.start >= sp.end {
				t.Fatalf("span %v outside %d runes", sp, len(rs))
			}
		}
		n := utf8.RuneCountInString(s)
		for _, fd := range append(l.Check(s), l.CheckFinal(s)...) {
			if fd.Start < 0 || fd.End > n || fd.Start >= fd.End {
				t.Fatalf("finding %+v outside %d runes", fd, n)
			}
			// Match is what she said there, bad bytes as U+FFFD
			if want := string(rs[fd.Start:fd.End]); fd.Match != want {
				t.Fatalf("finding %+v matches %q, the text there is %q", fd, fd.Match, want)
			}
		}
	})
}

// FuzzParsePack checks the rule-pack parser never panics and anything it
// accepts compiles or is refused with an error.
func FuzzParsePack(f *testing.F) {
	f.Add(defaultPack)
	f.Add("version = 1\n[rule A]\ncategory = ABS\npattern = 最(好|香|)~#\nlaw = x\nexplain = y\nsuggest = z\n")
	f.Add("version = 1\n[normalize]\nfold = a b -> c\nfiller = 嗯\n[allow]\nphrase = ((((\n")
	f.Add("version = 1\nmodel = category\n[category MED]\nlaw = x\nexplain = y\nsuggest = z\n[rule A]\ncategory = MED\npattern = 治病\nlaw = x\nexplain = y\nsuggest = z\n")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePack("fuzz", strings.NewReader(s))
		if err != nil {
			return
		}
		if len(s) > 4096 {
			return // compiling huge random packs is slow and tests nothing new
		}
		if l, err := New(p); err == nil {
			l.Check("全网最低价加微信")
		}
	})
}

// FuzzParseSubtitles checks the SRT/WebVTT parser never panics and cues
// are well-formed.
func FuzzParseSubtitles(f *testing.F) {
	f.Add("1\n00:00:01,200 --> 00:00:03,900\n全网最\n\n", false)
	f.Add("WEBVTT\n\n00:01.000 --> 00:02.500 align:start\n<v a>今天</v>\n", true)
	f.Add("1\n99:99:99,999 --> 00:00:00,000\n\n", false)
	f.Fuzz(func(t *testing.T, s string, vtt bool) {
		cues, _ := ParseSubtitles("fuzz", strings.NewReader(s), vtt)
		for _, c := range cues {
			if c.End < c.Start || c.Start < 0 || !utf8.ValidString(c.Text) {
				t.Fatalf("bad cue %+v", c)
			}
		}
	})
}

package practice

import (
	"slices"
	"strings"
	"testing"

	"github.com/cunbo/cunbo/lint"
)

func TestValidate(t *testing.T) {
	lt, err := lint.NewDefault()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		in    string
		ok    bool     // parses
		lines []int    // problem lines
		zh    []string // in the problems, in order
	}{
		{name: "clean samples", in: header + "3 | 甲 | lajiao | 30 | - | 多少钱？ | 三十九块九一瓶\n", ok: true},
		{name: "no sample", in: header + "3 | 甲 | - | - | - | 你好\n", ok: true},
		{name: "sample says lowest price", ok: true, lines: []int{4},
			in: header + "\n3 | 甲 | lajiao | 30 | PRICE | 便宜吗？ | 我们是全网最低价\n",
			zh: []string{"示范回答里有「全网最低价」，盒子会提醒，请换个说法"}},
		{name: "sample claims a cure, one per line", ok: true, lines: []int{3, 4},
			in: header + "3 | 甲 | fengmi | 30 | MED | 能治病吗？ | 蜂蜜能治高血压\n" +
				"9 | 乙 | lajiao | 30 | - | 好吃吗 | 全国第一好吃\n",
			zh: []string{"示范回答里有「", "示范回答里有「"}},
		{name: "does not parse", in: header + "3 | 甲 | - | - | 你好\n", lines: []int{3}, zh: []string{"6或7段"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, problems := Validate([]byte(tt.in), lt)
			if (s != nil) != tt.ok {
				t.Fatalf("scenario %v, want parsed %v (problems %v)", s, tt.ok, problems)
			}
			var lines []int
			for _, p := range problems {
				lines = append(lines, p.Line)
			}
			if !slices.Equal(lines, tt.lines) {
				t.Fatalf("problem lines %v, want %v: %s", lines, tt.lines, JoinLines(problems))
			}
			for i, zh := range tt.zh {
				if !strings.Contains(problems[i].Zh, zh) || !strings.HasPrefix(problems[i].Error(), "第") {
					t.Errorf("problem %d = %q, want %q", i, problems[i].Error(), zh)
				}
			}
		})
	}
}

// TestDefaultSamplesPass: the built-in set's sample answers, which `cunbo
// sim --practice` speaks as her captions, never make the box warn.
func TestDefaultSamplesPass(t *testing.T) {
	lt, err := lint.NewDefault()
	if err != nil {
		t.Fatal(err)
	}
	set, err := Default(nil)
	if err != nil || len(set) == 0 {
		t.Fatalf("Default: %d scenarios, %v", len(set), err)
	}
	samples := 0
	for _, s := range set {
		for _, q := range s.Questions {
			if q.Sample != "" {
				samples++
			}
		}
		if p := CheckSamples(s, lt); len(p) > 0 {
			t.Errorf("%s:\n%s", s.Name, JoinLines(p))
		}
	}
	if samples < 5 {
		t.Errorf("only %d sample answers checked", samples)
	}
}

func TestFitAndProducts(t *testing.T) {
	s, err := ParseScenario([]byte(header+
		"3 | 甲 | - | - | - | 你好\n"+
		"card lajiao+5 | 乙 | lajiao | 30 | - | 多少钱\n"+
		"card yinshi+5 | 丙 | yinshi | 30 | - | 纯银吗\n"+
		"card lajiao+9 | 丁 | miaoxiu | 30 | - | 绣的什么\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Products(); !slices.Equal(got, []string{"lajiao", "miaoxiu", "yinshi"}) {
		t.Errorf("Products = %v", got)
	}
	if got := s.Missing([]string{"lajiao", "larou"}); !slices.Equal(got, []string{"miaoxiu", "yinshi"}) {
		t.Errorf("Missing = %v", got)
	}
	fit, dropped := s.Fit([]string{"lajiao", "larou"})
	if len(fit.Questions) != 2 || fit.Questions[1].From != "乙" || !slices.Equal(dropped, []int{5, 6}) || fit.Name != s.Name {
		t.Errorf("Fit = %+v, dropped %v", fit, dropped)
	}
	if len(s.Questions) != 4 {
		t.Error("Fit changed the scenario it was given")
	}
}

// FuzzValidate: whatever a trainer uploads, Validate returns a scenario or
// problems on lines of the file, never a panic; a parsed scenario's
// problems are its sample answers' lines.
func FuzzValidate(f *testing.F) {
	data, _ := defaultFiles.ReadFile("scenarios/rongjiang.scn")
	f.Add(data)
	f.Add([]byte(header + "3 | 甲 | lajiao | 30 | PRICE | 便宜吗？ | 我们是全网最低价，包治百病\n"))
	f.Add([]byte(header + "3 | 甲 | - | - | 你好\n"))
	lt, err := lint.NewDefault()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, problems := Validate(data, lt)
		lines := strings.Count(string(data), "\n") + 1
		for _, p := range problems {
			if p.Zh == "" || p.En == "" || p.Line < 0 || p.Line > lines+1 {
				t.Fatalf("problem %+v in a file of %d lines", p, lines)
			}
		}
		if s == nil {
			if len(problems) != 1 {
				t.Fatalf("unparsed with %d problems", len(problems))
			}
			return
		}
		samples := map[int]bool{}
		for _, q := range s.Questions {
			samples[q.Line] = q.Sample != ""
		}
		for _, p := range problems {
			if !samples[p.Line] || !strings.Contains(p.Zh, "示范回答") {
				t.Fatalf("problem %+v is not a sample answer's line", p)
			}
		}
	})
}

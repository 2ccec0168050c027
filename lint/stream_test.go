package lint

import (
	"strings"
	"testing"
	"time"
)

func TestStreamCatchesStraddlingPhraseOnce(t *testing.T) {
	l := defaultLinter(t)
	tests := []struct {
		name string
		segs []Segment
		want []string // "segment:category:match"
	}{
		{
			name: "phrase split across segments",
			segs: []Segment{{Text: "今天的辣椒酱全网", Start: 0, End: 2 * time.Second}, {Text: "最低价", Start: 2100 * time.Millisecond, End: 3 * time.Second}},
			want: []string{"0:ABS:全网最低价"},
		},
		{
			name: "first part already a finding is not reported again",
			segs: []Segment{{Text: "今天全网最"}, {Text: "低价家人们"}},
			want: []string{"0:ABS:全网最"},
		},
		{
			name: "long silence does not join",
			segs: []Segment{{Text: "大家看全网", Start: 0, End: time.Second}, {Text: "最低价", Start: 10 * time.Second, End: 11 * time.Second}},
			want: []string{"1:ABS:最低价"},
		},
		{
			name: "negation does not carry over a pause",
			segs: []Segment{{Text: "这个不能说", Start: 0, End: time.Second}, {Text: "能降血压", Start: 1500 * time.Millisecond, End: 2 * time.Second}},
			want: []string{"1:MED:降血压"},
		},
		{
			// the model leaves a segment that ends in the start of a
			// phrase to the rules: more of it may come
			name: "segment ending in the start of a phrase",
			segs: []Segment{{Text: "吃了这个酸汤 你家里的胃药就可以扔掉了"}},
		},
		{
			name: "final caption judged whole",
			segs: []Segment{{Text: "吃了这个酸汤 你家里的胃药就可以扔掉了", Final: true}},
			want: []string{"0:MED:吃了这个酸汤 你家里的胃药就可以扔掉了"},
		},
		{
			name: "findings in separate segments",
			segs: []Segment{{Text: "加我威信"}, {Text: "扣1送辣椒面"}, {Text: "最好放冰箱"}},
			want: []string{"0:OFFPLAT:加我威信", "1:INDUCE:扣1送"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := l.NewStream()
			var transcript []rune
			var got []string
			for _, seg := range tt.segs {
				transcript = append(transcript, []rune(seg.Text)...)
				for _, f := range st.Push(seg) {
					if string(transcript[f.Start:f.End]) != f.Match {
						t.Errorf("offsets [%d,%d) do not cut %q from the transcript", f.Start, f.End, f.Match)
					}
					if f.EndTime < f.StartTime {
						t.Errorf("times go backwards: %+v", f)
					}
					got = append(got, itoa(f.Segment)+":"+f.Category+":"+f.Match)
				}
			}
			if strings.Join(got, " | ") != strings.Join(tt.want, " | ") {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestStreamTimesInterpolate(t *testing.T) {
	l := defaultLinter(t)
	st := l.NewStream()
	fs := st.Push(Segment{Text: "一二三四五全网最低价", Start: 10 * time.Second, End: 20 * time.Second})
	if len(fs) != 1 {
		t.Fatalf("got %+v", fs)
	}
	if fs[0].StartTime != 15*time.Second || fs[0].EndTime != 20*time.Second {
		t.Fatalf("times %v–%v, want 15s–20s", fs[0].StartTime, fs[0].EndTime)
	}
}

func TestParseSubtitles(t *testing.T) {
	srt := "1\n00:00:01,200 --> 00:00:03,900\n全网最\n\n2\r\n00:00:04,000 --> 00:00:05,500\r\n低价\r\n第二行\r\n\r\n"
	cues, err := ParseSubtitles("a.srt", strings.NewReader(srt), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(cues) != 2 || cues[0].Start != 1200*time.Millisecond || cues[1].End != 5500*time.Millisecond || cues[1].Text != "低价 第二行" {
		t.Fatalf("cues = %+v", cues)
	}
	vtt := "WEBVTT\n\nNOTE a note\n\nid1\n00:01.000 --> 00:02.500 align:start\n<v 阿妹>今天<b>全网</b>最低价\n\n01:00:00.000 --> 01:00:01.000\n好\n"
	cues, err = ParseSubtitles("a.vtt", strings.NewReader(vtt), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(cues) != 2 || cues[0].Text != "今天全网最低价" || cues[0].End != 2500*time.Millisecond || cues[1].Start != time.Hour {
		t.Fatalf("cues = %+v", cues)
	}
	bad := []struct {
		name, text string
		vtt        bool
		line       int
	}{
		{"bad timestamp", "1\n00:00:01,2x0 --> 00:00:03,900\n好\n\n2\n00:00:04,000 --> 00:00:05,000\n好\n", false, 2},
		{"end before start", "1\n00:00:05,000 --> 00:00:03,900\n好\n", false, 2},
		{"no timing", "1\n好\n", false, 2},
		{"no text", "1\n00:00:01,000 --> 00:00:02,000\n", false, 2},
		{"missing header", "00:01.000 --> 00:02.000\n好\n", true, 1},
		{"minutes over 59", "1\n00:61:01,000 --> 00:62:02,000\n好\n", false, 2},
		{"invalid utf8", "1\n00:00:01,000 --> 00:00:02,000\n\xff\n", false, 3},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			cues, err := ParseSubtitles("x", strings.NewReader(tt.text), tt.vtt)
			se, ok := err.(*SubtitleError)
			if !ok {
				t.Fatalf("err = %v, want *SubtitleError", err)
			}
			if se.Problems[0].Line != tt.line {
				t.Fatalf("error %q at line %d, want %d", err, se.Problems[0].Line, tt.line)
			}
			if tt.name == "bad timestamp" && len(cues) != 1 {
				t.Fatalf("good cue lost: %+v", cues)
			}
		})
	}
}

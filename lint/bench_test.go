package lint

import "testing"

var benchUtterances = map[string]string{
	// ~25 characters each, as a recogniser emits them
	"violation": "家人们今天这个辣椒酱全网最低价只要三十九块九",
	"tricky":    "最好放阴凉处第一次买的宝宝拍二号链接就可以了",
	"clean":     "我们这个腊肉是用柴火熏了两个月的肥瘦刚刚好",
	// ends in the start of a rule phrase: a partial skips the model, a
	// final caption pays for it
	"pending": "吃了这个酸汤你家里的胃药就可以扔掉了",
}

func BenchmarkCheck(b *testing.B) {
	l, err := NewDefault()
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"violation", "tricky", "clean", "pending"} {
		text := benchUtterances[name]
		// One check of each kind before the timer starts: the scratch's
		// first growth and, under emulation (qemu), the translation of
		// every code path the line takes belong to the cold start
		// (BenchmarkLintColdStart in cmd/cunbo). Timed with them, 3000
		// checks of a violation under qemu read 3–5 µs slower each.
		l.Check(text)
		l.CheckFinal(text)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				l.Check(text)
			}
		})
		b.Run(name+"-final", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				l.CheckFinal(text)
			}
		})
	}
}

// BenchmarkLoad is the cost of a reload: compiling the built-in pack into a
// new matcher (the shared segmentation dictionary is parsed once per
// process; BenchmarkLintColdStart in cmd/cunbo measures a whole cold start).
func BenchmarkLoad(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewDefault(); err != nil {
			b.Fatal(err)
		}
	}
}

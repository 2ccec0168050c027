package practice

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cunbo/cunbo/segment"
)

// Point is one line of her report: an icon and plain words.
type Point struct {
	Icon string `json:"icon"`
	Text string `json:"text"`
}

// Report is what her phone shows right after a practice.
type Report struct {
	Good []Point `json:"good"` // 做得好的, at most MaxPoints
	Next []Point `json:"next"` // 下次注意, at most MaxPoints
	// Missing says, in plain words, what could not be checked; "" when
	// everything was.
	Missing string `json:"missing,omitempty"`
}

// MaxPoints is how many points each half of the report shows: a few she
// remembers, not a list she skims.
const MaxPoints = 3

// PlainReport turns check results into her report, most important first.
// The point texts are short and plain for a reader with little schooling.
func PlainReport(c *segment.Checks) Report {
	var good, next []Point
	skipped := func(name string) bool { return slices.Contains(c.Skipped, name) }
	quote := func(q segment.QuestionCheck) string { return "“" + q.Text + "”" }

	var toAnswer, answered, broke, wrongCard, tempting, keptRules int
	var firstMissed, firstBroke, firstWrong, firstKept *segment.QuestionCheck
	// Questions that never came: she cannot have answered them, and the
	// report says why (a card she never showed, or the end came first).
	var noCard, tooSoon int
	var unshown []string
	for i := range c.Questions {
		q := &c.Questions[i]
		if !q.Asked && q.Within > 0 {
			if q.NoCard {
				noCard++
				if n := c.Name(q.AfterCard); !slices.Contains(unshown, n) {
					unshown = append(unshown, n)
				}
			} else {
				tooSoon++
			}
		}
		if !q.Asked || q.Within == 0 {
			continue
		}
		toAnswer++
		if q.Answered {
			answered++
		} else if firstMissed == nil {
			firstMissed = q
		}
		if q.Tempts != "" {
			tempting++
			if q.Broke {
				broke++
				if firstBroke == nil {
					firstBroke = q
				}
			} else {
				keptRules++
				if firstKept == nil {
					firstKept = q
				}
			}
		}
		if !q.RightCard {
			wrongCard++
			if firstWrong == nil {
				firstWrong = q
			}
		}
	}

	if !skipped(segment.CheckAnswered) {
		if firstBroke != nil {
			next = append(next, Point{"⚠️", fmt.Sprintf("顾客问%s，你的回答违规了", quote(*firstBroke))})
		}
		switch {
		case toAnswer > 0 && answered == toAnswer && noCard+tooSoon == 0:
			good = append(good, Point{"✅", "顾客的问题，你都及时回答了"})
		case toAnswer > 0 && answered == toAnswer:
			good = append(good, Point{"✅", fmt.Sprintf("来了的%d个问题，你都及时回答了", toAnswer)})
		case firstMissed != nil:
			if answered > 0 {
				good = append(good, Point{"✅", fmt.Sprintf("回答了%d个问题", answered)})
			}
			next = append(next, Point{"❓", fmt.Sprintf("%s没有及时回答，要在%d秒内回答", quote(*firstMissed), int(firstMissed.Within))})
		}
		if tempting > 0 && broke == 0 && firstKept != nil {
			good = append(good, Point{"🛡️", fmt.Sprintf("有人问%s，你没有乱说", quote(*firstKept))})
		}
	}
	if !skipped(segment.CheckCard) {
		if wrongCard > 0 {
			next = append(next, Point{"🖼️", fmt.Sprintf("顾客问%s时，要翻到这个商品的卡片", quote(*firstWrong))})
		} else if toAnswer > 0 {
			good = append(good, Point{"🖼️", "讲到哪个商品，就放了哪张卡片"})
		}
	}
	if !skipped(segment.CheckWarnings) {
		if c.Warnings == 0 {
			good = append(good, Point{"👍", "没有说违规的话"})
		} else if firstBroke == nil {
			next = append(next, Point{"⚠️", fmt.Sprintf("有%d次说了违规的话，看看提醒", c.Warnings)})
		}
	}
	// What she did comes first (at most three points are shown): a
	// warning outranks the products she never showed, and a practice
	// ended early is said last.
	if noCard > 0 {
		next = append(next, Point{"🛍️", fmt.Sprintf("有%d个问题没来：你没拿出%s的卡片", noCard, nameList(unshown))})
	}
	if !skipped(segment.CheckDeadAir) {
		if n := len(c.DeadAir); n > 0 {
			next = append(next, Point{"🤐", fmt.Sprintf("有%d次超过%d秒没说话，可以介绍商品", n, segment.DeadAirAfter)})
		} else {
			good = append(good, Point{"🗣️", "一直在说话，没有冷场"})
		}
	}
	if !skipped(segment.CheckPace) && c.CharsPerMinute > 0 {
		switch {
		case c.CharsPerMinute > FastPace:
			next = append(next, Point{"🐢", "说得太快了，慢一点，顾客才听得清"})
		case c.CharsPerMinute < SlowPace:
			next = append(next, Point{"🐇", "说得有点慢，可以多说一些"})
		default:
			good = append(good, Point{"🎵", "说话快慢正好"})
		}
	}
	if tooSoon > 0 {
		next = append(next, Point{"⏰", fmt.Sprintf("有%d个问题没来，练习就结束了，下次多练一会儿", tooSoon)})
	}
	if len(good) == 0 {
		good = append(good, Point{"💪", "你完成了一次练习"})
	}
	r := Report{Good: good[:min(len(good), MaxPoints)], Next: next[:min(len(next), MaxPoints)]}
	if len(c.Skipped) > 0 {
		r.Missing = "🎤 这次没有听写说的话，回答、违规话、冷场和语速没有检查"
	}
	return r
}

// nameList joins product names as she reads them: 辣椒酱、蜂蜜; past
// three, the first three and 等.
func nameList(names []string) string {
	if len(names) > 3 {
		return strings.Join(names[:3], "、") + "等"
	}
	return strings.Join(names, "、")
}

// Pace bounds in characters per minute: Mandarin livestream speech runs
// about 200 to 300; past FastPace listeners lose words.
const (
	SlowPace = 120
	FastPace = 330
)

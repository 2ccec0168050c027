package main

import (
	"github.com/cunbo/cunbo/firmware/app"
	"github.com/cunbo/cunbo/firmware/state"
)

// startSimPractice starts a practice on the simulated box as the phone
// page's 练习 button does, and says how to end it.
func startSimPractice(a *app.App, out *syncWriter) {
	// The scripted answers stand in for her voice: one the rules flag
	// would warn her mid-answer, so it is left unspoken and said here.
	for _, p := range a.PracticeProblems() {
		out.printf("⚠️ 练习题 (scenario): %s\n", p)
	}
	if err := a.Box.Post(state.PracticeStart, ""); err != nil {
		out.printf("cunbo sim: 练习没有开始 (practice not started): %v\n", err)
		return
	}
	out.printf("🎓 练习中 · 观众看不到 (practice: nothing is published)；按 n 换商品卡片，B 结束练习后手机页面显示练习报告\n")
}

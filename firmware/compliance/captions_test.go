package compliance

import (
	"testing"
	"time"
)

func TestTapConverterKeepsTime(t *testing.T) {
	var c tapConverter
	chunk := make([]int16, 960*2) // 20 ms of 48 kHz stereo
	total := 0
	var last time.Duration
	for i := range 50 {
		pts := time.Duration(i) * 20 * time.Millisecond
		out, at, ok := c.convert(pts, chunk, 48000, 2)
		if !ok {
			t.Fatal("48 kHz stereo refused")
		}
		if want := time.Duration(total) * time.Second / speechRate; at != want {
			t.Fatalf("chunk %d stamped %v, want %v (samples so far %d)", i, at, want, total)
		}
		total += len(out)
		last = at
	}
	// One second in, one second out, give or take the filter's delay.
	if total < 15900 || total > 16000 {
		t.Fatalf("%d samples out of 1 s", total)
	}
	// Audio dropped upstream: the next chunk's stamp is taken as is.
	out, at, _ := c.convert(5*time.Second, chunk, 48000, 2)
	if at != 5*time.Second || last >= at {
		t.Fatalf("after a jump stamped %v (%d samples)", at, len(out))
	}
	if _, _, ok := c.convert(0, chunk, 0, 2); ok {
		t.Fatal("rate 0 accepted")
	}
}

func TestChineseReason(t *testing.T) {
	for in, want := range map[string]string{
		"字幕已关闭：没有安装语音识别模型 (captions off: no speech model installed)":              "没有安装语音识别模型",
		"字幕暂停：语音程序退出，正在重启 (captions paused: speech worker exited: x; restarting)": "语音程序退出，正在重启",
		"": "",
	} {
		if got := chineseReason(in); got != want {
			t.Errorf("chineseReason(%q) = %q, want %q", in, got, want)
		}
	}
}

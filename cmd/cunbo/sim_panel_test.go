package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/firmware"
	"github.com/cunbo/cunbo/firmware/compliance"
	"github.com/cunbo/cunbo/firmware/state"
	"github.com/cunbo/cunbo/hw"
)

// The box keeps only its newest ten notices; the panel must still print
// every one of them once, however many come, and never a compliance
// warning twice (the loop prints those itself).
func TestPanelPrintsEveryNoticeOnce(t *testing.T) {
	const maxKept = 10 // firmware.Box keeps this many
	for _, total := range []int{1, 10, 11, 25} {
		t.Run(fmt.Sprint(total), func(t *testing.T) {
			var buf bytes.Buffer
			out := &syncWriter{w: &buf}
			print := statusPrinter(out, hw.NewVirtual(nil))
			base := time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)
			var kept []firmware.Notice
			for i := range total {
				text := fmt.Sprintf("网络断开，正在重连 %d", i)
				if i%3 == 2 {
					text = fmt.Sprintf("口播提醒：“全网最低价” %d", i)
				}
				kept = append(kept, firmware.Notice{At: base.Add(time.Duration(i) * time.Second), Text: text})
				if len(kept) > maxKept {
					kept = kept[len(kept)-maxKept:]
				}
				// The same status may be delivered more than once.
				for range 2 {
					print(firmware.Status{State: state.Live, Warnings: append([]firmware.Notice(nil), kept...)})
				}
			}
			got := buf.String()
			for i := range total {
				n := strings.Count(got, fmt.Sprintf(" %d\n", i))
				want := 1
				if i%3 == 2 {
					want = 0
				}
				if n != want {
					t.Errorf("notice %d printed %d times, want %d\n%s", i, n, want, got)
				}
			}
		})
	}
}

// A compliance warning leads with what to say instead, then what she said.
func TestWarningPrinterLeadsWithTheAdvice(t *testing.T) {
	var buf bytes.Buffer
	warningPrinter(&syncWriter{w: &buf}).Warn(compliance.Warning{
		Category: "ABS", Match: "全网最低价", Suggest: "说“价格很实惠”", Explain: "“全网最……”是绝对化用语",
	})
	got := buf.String()
	advice, said, why := strings.Index(got, "价格很实惠"), strings.Index(got, "全网最低价"), strings.Index(got, compliance.PlainWhy("ABS"))
	if advice < 0 || said < 0 || why < 0 || advice > said || said > why || strings.Contains(got, "绝对化用语") {
		t.Fatalf("warning line %q: want the advice first, then what she said, then why in everyday words", got)
	}
}

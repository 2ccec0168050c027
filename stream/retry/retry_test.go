package retry

import (
	"testing"
	"time"
)

func TestDelay(t *testing.T) {
	lo, hi := 250*time.Millisecond, 5*time.Second
	if d := Delay(lo, hi, 0); d != 0 {
		t.Errorf("first retry after %v, want at once", d)
	}
	if d := Delay(lo, hi, 1); d < lo/2 || d > lo {
		t.Errorf("second retry after %v, want within [%v, %v]", d, lo/2, lo)
	}
	for attempt := 1; attempt < 30; attempt++ {
		if d := Delay(lo, hi, attempt); d > hi || d < lo/2 {
			t.Errorf("attempt %d: %v out of [%v, %v]", attempt, d, lo/2, hi)
		}
	}
	if d := Delay(lo, hi, 20); d < hi/2 {
		t.Errorf("attempt 20: %v, want capped near %v", d, hi)
	}
}

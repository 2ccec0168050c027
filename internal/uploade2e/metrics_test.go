package uploade2e

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/firmware/flagged"
)

// metric reads one sample of the service's /metrics.
func metric(t *testing.T, s *service, name string) float64 {
	t.Helper()
	resp, err := http.Get(s.http.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("no %s in /metrics:\n%s", name, b)
	return 0
}

// The box tells the service how long its oldest pending segment has
// waited (Cunbo-Queue-Age on upload creation), and the service's metrics
// show it: a box two hours behind reads as two hours.
func TestQueueAgeReported(t *testing.T) {
	s := newService(t)
	b := newBox(t)
	s.enrol(t, b)
	seg := b.segmentAt(t, time.Now().Add(-2*time.Hour), mp4(t))
	b.run(t, s, t.TempDir())
	waitFor(t, "the segment uploaded", func() bool { return b.status(t, seg.ID) == flagged.StatusUploaded })
	if n := metric(t, s, "cunbo_review_box_queue_age_seconds_count"); n != 1 {
		t.Fatalf("queue ages reported: %v, want 1", n)
	}
	if sum := metric(t, s, "cunbo_review_box_queue_age_seconds_sum"); sum < 7190 || sum > 7300 {
		t.Fatalf("queue age %v s, want about 7200", sum)
	}
	if n := metric(t, s, `cunbo_review_uploads_completed_total{kind="segment",stored="created"}`); n != 1 {
		t.Fatalf("completed: %v", n)
	}
}

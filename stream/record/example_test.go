package record_test

import (
	"context"
	"log"
	"time"

	"github.com/cunbo/cunbo/stream/record"
)

// The firmware keeps a recorder running beside the live outputs and cuts a
// clip when the caption linter flags a moment.
func Example() {
	rec, err := record.New(record.Config{Dir: "/var/lib/cunbo/rec", QuotaBytes: 8 << 30})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	go rec.Run(ctx) // then hand rec to the encoder as one of its stream.Sinks

	// A finding at pipeline time 95 s: keep 10 s either side.
	at, ok := rec.WallTime(95 * time.Second)
	if !ok {
		return
	}
	hold := rec.Hold(at.Add(-10*time.Second), at.Add(10*time.Second))
	defer rec.Release(hold)
	// ... once the recording has passed at+10 s:
	if _, err := rec.ClipFile(ctx, at.Add(-10*time.Second), at.Add(10*time.Second), "/var/lib/cunbo/upload/clip.mp4"); err != nil {
		log.Print(err)
	}
}

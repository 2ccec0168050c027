package console_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/review/consoletest"
	"github.com/cunbo/cunbo/review/wire"
	"github.com/cunbo/cunbo/review/wiretest"
)

// addLives gives one woman of each worker a session record for every day
// she has moments, from ten minutes before her first moment of the day to
// ten after her last, listing them, as her box sends. The dataset itself
// has no session records.
func addLives(tb testing.TB, r *benchRig) []consoletest.Woman {
	tb.Helper()
	ctx := context.Background()
	var women []consoletest.Woman
	seen := map[string]bool{}
	for _, w := range r.data.Women {
		if !seen[w.Worker] {
			seen[w.Worker] = true
			women = append(women, w)
		}
	}
	tx, err := r.be.DB.BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	insert := `INSERT INTO sessions (box_id, id, sha256, record, received) VALUES (?, ?, ?, ?, ?)`
	if r.be.Postgres {
		insert = `INSERT INTO sessions (box_id, id, sha256, record, received) VALUES ($1, $2, $3, $4, $5)`
	}
	n := 0
	for _, w := range women {
		items, err := r.be.Store.BoxMoments(ctx, w.BoxID, time.Time{}, 1<<20)
		if err != nil {
			tb.Fatal(err)
		}
		byDay := map[string]*wire.Session{}
		for _, it := range items {
			day := it.At.Add(8 * time.Hour).Format("20060102")
			s := byDay[day]
			if s == nil {
				s = &wire.Session{Version: wire.SessionVersion, Device: "box", Start: it.At, End: it.At}
				byDay[day] = s
			}
			if it.At.Before(s.Start) {
				s.Start = it.At
			}
			if it.At.After(s.End) {
				s.End = it.At
			}
			s.Segments = append(s.Segments, it.ID)
			s.Findings++
		}
		for _, s := range byDay {
			s.Start, s.End = s.Start.Add(-10*time.Minute), s.End.Add(10*time.Minute)
			s.ID = s.Start.UTC().Format("20060102T150405Z") + "-0000beef"
			rec := wiretest.JSON(tb, s)
			if _, err := wire.ParseSession(rec); err != nil {
				tb.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, insert, w.BoxID, s.ID, "bench", rec, s.End.UnixMicro()); err != nil {
				tb.Fatal(err)
			}
			n++
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("%s: %d session records of %d women", r.be.Name, n, len(women))
	return women
}

// BenchmarkWomanPage: a social worker opens the page of one of her women
// (target: p95 ≤ 150 ms server time with 100 000 segments of 200 women):
// her lives with the warnings in each, her decided moments, her notes.
func BenchmarkWomanPage(b *testing.B) {
	// b.Run calls its function again for each b.N it tries; the lives
	// are added once per dataset.
	lives := map[*benchRig][]consoletest.Woman{}
	benchBackends(b, func(b *testing.B, r *benchRig) {
		women, ok := lives[r]
		if !ok {
			women = addLives(b, r)
			lives[r] = women
		}
		latencies(b, func(i int) {
			w := women[i%len(women)]
			rec := r.get(r.users[w.Worker], "/console/w/"+w.BoxID)
			if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `id="chart"`) || !strings.Contains(rec.Body.String(), `id="decided"`) {
				b.Fatalf("page of %s: %d", w.Name, rec.Code)
			}
		})
	})
}

// BenchmarkRulesPage: per-rule precision over a social worker's caseload
// (25 women, about 12 000 decided moments) and over every box for a
// trainer (decidedLimit of them), and the corpus export of a caseload.
// No target in the issue; the figures say what a click costs.
func BenchmarkRulesPage(b *testing.B) {
	benchBackends(b, func(b *testing.B, r *benchRig) {
		w := r.data.Workers[0]
		for _, tc := range []struct{ name, path, want string }{
			{"caseload", "/console/rules", `class="prec"`},
			{"export", "/console/export.tsv", "\treview-false\t"},
		} {
			b.Run(tc.name, func(b *testing.B) {
				latencies(b, func(int) {
					rec := r.get(r.users[w], tc.path)
					if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), tc.want) {
						b.Fatalf("%s: %d", tc.path, rec.Code)
					}
				})
			})
		}
	})
}

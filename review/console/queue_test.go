package console_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/review/consoletest"
	"github.com/cunbo/cunbo/review/store"
)

var (
	rowRE   = regexp.MustCompile(`<a class="row" href="/console/m/([^/"]+)/([^"]+)">`)
	totalRE = regexp.MustCompile(`id="newtotal">(\d+)<`)
	moreRE  = regexp.MustCompile(`id="more" href="([^"]+)"`)
)

// A social worker back from a week away finds her backlog: an undecided
// moment older than 250 decided ones is on the first page, above them,
// the page says how many new ones she has, and paging with 更多 shows
// every moment once. The moment page and decide-and-next place it too.
func TestQueueBacklog(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			spec := consoletest.Spec{Workers: 1, Women: 2, Segments: 250, Days: 30, UndecidedDays: 0, Seed: 5, Now: time.Now()}
			r := newBenchRig(t, storeOn(t, backend), spec)
			w := r.data.Workers[0]
			u := r.users[w]
			refs, err := r.be.Store.QueueRefs(ctx, w, 0, spec.Segments) // all decided, newest first
			if err != nil || len(refs) != spec.Segments {
				t.Fatalf("queue refs: %d, %v", len(refs), err)
			}
			oldest, older := refs[len(refs)-1].Ref(), refs[len(refs)-2].Ref()
			for _, ref := range []store.SegmentRef{older, oldest} {
				d := store.Decision{Ref: ref, State: store.StateNew, Actor: "user:" + w, At: time.Now()}
				if _, err := r.be.Store.Decide(ctx, d, store.AuditEntry{At: time.Now(), Actor: "test", Action: "segment.decide", Subject: ref.ID}); err != nil {
					t.Fatal(err)
				}
			}

			var all []string
			path := "/console/"
			for page := 1; path != ""; page++ {
				rec := r.get(u, path)
				body := rec.Body.String()
				if rec.Code != http.StatusOK {
					t.Fatalf("%s: %d", path, rec.Code)
				}
				if m := totalRE.FindStringSubmatch(body); m == nil || m[1] != "2" {
					t.Fatalf("%s: new ones in total %v, want 2", path, m)
				}
				var rows []string
				for _, m := range rowRE.FindAllStringSubmatch(body, -1) {
					rows = append(rows, m[1]+"/"+m[2])
				}
				if page == 1 {
					newPart, _, _ := strings.Cut(body, `id="done"`)
					if want := []string{older.BoxID + "/" + older.ID, oldest.BoxID + "/" + oldest.ID}; len(rows) < 3 || !slices.Equal(rows[:2], want) ||
						strings.Count(newPart, `class="row"`) != 2 {
						t.Fatalf("first page starts %v, want the two oldest (undecided) %v, alone in the new list", rows[:min(3, len(rows))], want)
					}
				}
				all = append(all, rows...)
				path = ""
				if m := moreRE.FindStringSubmatch(body); m != nil {
					path = m[1]
				}
				if page > 10 {
					t.Fatal("更多 never ends")
				}
			}
			slices.Sort(all)
			if len(all) != spec.Segments || len(slices.Compact(all)) != spec.Segments {
				t.Fatalf("pages listed %d moments (%d distinct), want all %d once", len(all), len(slices.Compact(all)), spec.Segments)
			}

			// The moment page places the oldest among the new ones.
			rec := r.get(u, "/console/m/"+oldest.BoxID+"/"+oldest.ID)
			if body := rec.Body.String(); rec.Code != http.StatusOK || !strings.Contains(body, "新的第 2 条，共 2 条") ||
				!strings.Contains(body, fmt.Sprintf(`href="/console/m/%s/%s" data-key="k"`, older.BoxID, older.ID)) {
				t.Fatalf("moment page of the oldest: %d, no place among the new ones or no link up to the other", rec.Code)
			}
			// Deciding the newer of the two goes to the oldest, then to the end.
			for _, tc := range []struct {
				ref  store.SegmentRef
				want string
			}{
				{older, "/console/m/" + oldest.BoxID + "/" + oldest.ID},
				{oldest, "/console/?msg=alldone"},
			} {
				rec := r.post(u, "/console/decide", map[string][]string{"box": {tc.ref.BoxID}, "id": {tc.ref.ID}, "state": {store.StateReal}})
				if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != tc.want {
					t.Fatalf("decide %s: %d to %q, want %q", tc.ref.ID, rec.Code, rec.Header().Get("Location"), tc.want)
				}
			}
		})
	}
}

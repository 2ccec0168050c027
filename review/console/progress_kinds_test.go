package console_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/review/store"
)

// TestWomanPageWindows: her lives and her practices each have their own
// window on her page, so a run of daily practices never hides her real
// lives (a 60-record window read for both did), nor lives her practices.
func TestWomanPageWindows(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.addUser("sw-a", store.RoleSocial)
		tests := []struct {
			name             string
			first, then      string // "live" or "practice", older first
			nFirst, nThen    int
			lives, practices int  // shown
			capText          bool // her lives say （最近的）
		}{
			{name: "70 practices after 3 lives", first: "live", nFirst: 3, then: "practice", nThen: 70, lives: 3, practices: 60},
			{name: "70 lives after 2 practices", first: "practice", nFirst: 2, then: "live", nThen: 70, lives: 60, practices: 2, capText: true},
		}
		base := time.Now().UTC().Add(-200 * 24 * time.Hour).Truncate(time.Hour)
		for i, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				name := fmt.Sprintf("榕江 第%d位", i)
				box := e.addBox(name, "sw-a")
				at := base
				for _, run := range []struct {
					kind string
					n    int
				}{{tc.first, tc.nFirst}, {tc.then, tc.nThen}} {
					for range run.n {
						if run.kind == "live" {
							e.putSession(name, at, time.Hour, 1)
						} else {
							e.putPractice(name, at, 10*time.Minute, practiceChecks())
						}
						at = at.Add(24 * time.Hour)
					}
				}
				c := client(t)
				e.login(c, "sw-a")
				code, body, _ := get(t, c, e.base+"/console/w/"+box)
				if code != 200 {
					t.Fatalf("her page: %d", code)
				}
				wantIn(t, "her page", body, fmt.Sprintf("直播 <b>%d</b> 场", tc.lives), fmt.Sprintf("共 <b>%d.0</b> 小时", tc.lives))
				if got := strings.Count(body, `class="prow"`); got != tc.practices {
					t.Errorf("%d practices listed, want %d", got, tc.practices)
				}
				if strings.Contains(body, "场（最近的）") != tc.capText {
					t.Errorf("lives capped shown: %v, want %v", !tc.capText, tc.capText)
				}
			})
		}
	})
}

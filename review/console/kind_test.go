package console_test

import (
	"bytes"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/review/store"
	"github.com/cunbo/cunbo/review/wire"
	"github.com/cunbo/cunbo/review/wiretest"
)

// practiced is herSegment's tar as a box writes it for a moment of a
// practice.
func practiced(t *testing.T, tar []byte) []byte {
	t.Helper()
	seg, _, err := wire.ReadSegmentTar(bytes.NewReader(tar), nil)
	if err != nil {
		t.Fatal(err)
	}
	seg.Kind = "practice"
	return wiretest.Tar(t, wiretest.Entry{Name: wire.JSONFile, Body: wiretest.JSON(t, seg)})
}

var practiceTagRE = regexp.MustCompile(`<li><a class="row" href="/console/m/[^/"]+/([^"]+)">\s*(?:<span class="state[^<]*</span>\s*)?(<span class="practice-tag">🎓 练习</span>)?`)

// TestPracticeMomentsApart: a woman's moments from a practice reach her
// social worker's queue, after her lives' new ones and tagged 🎓 练习; the
// count of new moments, and her page's problem counts, are her lives'
// alone; her page counts her practices' warnings apart; the moment page
// says nobody heard it; the corpus export names the kind.
func TestPracticeMomentsApart(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.addUser("sw-a", store.RoleSocial)
		e.addUser("trainer", store.RoleTrainer)
		box := e.addBox("榕江 杨阿姨", "sw-a")
		day := time.Now().UTC().Add(-24 * time.Hour).Truncate(time.Hour)
		// A live (an hour, one warning), then a practice: its moments
		// are newer than the live's.
		live, liveTar := herSegment(t, 1, day.Add(10*time.Minute), sayLowest)
		e.upload("榕江 杨阿姨", live, liveTar)
		e.putSession("榕江 杨阿姨", day, time.Hour, 1, live)
		prac, pracTar := herSegment(t, 2, day.Add(3*time.Hour), sayFirst)
		e.upload("榕江 杨阿姨", prac, practiced(t, pracTar))
		decided, decidedTar := herSegment(t, 3, day.Add(3*time.Hour+time.Minute), sayBlood)
		e.upload("榕江 杨阿姨", decided, practiced(t, decidedTar))

		c := client(t)
		csrf := e.login(c, "sw-a")
		post(t, c, e.base+"/console/decide", url.Values{"csrf": {csrf}, "box": {box}, "id": {decided}, "state": {store.StateReal}}, http.StatusSeeOther)

		_, queue, _ := get(t, c, e.base+"/console/")
		newPart, _, _ := strings.Cut(queue, `id="done"`)
		var order, tagged []string
		for _, m := range practiceTagRE.FindAllStringSubmatch(newPart, -1) {
			order = append(order, m[1])
			if m[2] != "" {
				tagged = append(tagged, m[1])
			}
		}
		_, herPage, _ := get(t, c, e.base+"/console/w/"+box)
		_, pracPage, _ := get(t, c, e.base+"/console/m/"+box+"/"+prac)
		_, livePage, _ := get(t, c, e.base+"/console/m/"+box+"/"+live)

		ct := client(t)
		e.login(ct, "trainer")
		_, export, _ := get(t, ct, e.base+"/console/export.tsv")

		for _, tc := range []struct {
			name string
			ok   bool
		}{
			{"queue: new lives first, then the practice's", slices.Equal(order, []string{live, prac})},
			{"queue: the practice's row alone tagged 🎓 练习", slices.Equal(tagged, []string{prac})},
			{"queue: the count of new moments is the live's", totalRE.FindStringSubmatch(queue) != nil && totalRE.FindStringSubmatch(queue)[1] == "1"},
			{"queue: the practice's new moments said apart", strings.Contains(queue, "另有练习时的 1 条")},
			{"moment page: the practice's says nobody heard it", strings.Contains(pracPage, "这是练习时说的，观众没听到")},
			{"moment page: a live's does not", !strings.Contains(livePage, "这是练习时说的") && strings.Contains(livePage, "全网最低")},
			{"her page: new moments, her lives'", strings.Contains(herPage, "还没看的片段 <b>1</b> 个")},
			{"her page: decided problems, her lives'", strings.Contains(herPage, "确实有问题 0 ·")},
			{"her page: the practice's decided apart", strings.Contains(herPage, "🎓 练习的 1 个（不算在前面）")},
			{"her page: practice warnings apart", strings.Contains(herPage, "🎓 练习时提醒 <b>2</b> 次，还没看的练习片段 <b>1</b> 个")},
			{"her page: the live's warnings as before", strings.Contains(herPage, "提醒她 <b>1</b> 次")},
			{"export: the practice's line says so", strings.Contains(export, "/"+decided+" rules health-blood decided real kind practice\n")},
			{"export: still three fields a line", exportFields(export) == 3},
		} {
			if !tc.ok {
				t.Errorf("%s: no", tc.name)
			}
		}
		if t.Failed() {
			t.Logf("queue:\n%s\nher page:\n%s", newPart, herPage)
		}
	})
}

// exportFields is the number of TAB-separated fields of the export's
// corpus lines, -1 when they differ.
func exportFields(body string) int {
	n := 0
	for _, l := range strings.Split(body, "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		k := len(strings.Split(l, "\t"))
		if n != 0 && k != n {
			return -1
		}
		n = k
	}
	return n
}

package app_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/bundle"
	"github.com/cunbo/cunbo/firmware/app"
	"github.com/cunbo/cunbo/firmware/pipeline"
	"github.com/cunbo/cunbo/firmware/state"
	"github.com/cunbo/cunbo/firmware/web"
	"github.com/cunbo/cunbo/hw"
)

// A box that applied a bundle with practice scenarios practises with them
// (after the restart that switches the bundle in); a published file that
// does not parse never breaks it: the box keeps the built-in set and says
// so in its journal. Questions about products its catalogue lacks are left
// out.
func TestPublishedScenariosInPractice(t *testing.T) {
	const good = "scenario 腊肉专场\nversion 1\n" +
		"1 | 阿龙 | larou | 30 | - | 腊肉是柴火熏的吗？ | 是的，柴火慢慢熏的\n" +
		"2 | 远方客 | nosuch | 30 | - | 这个有吗？\n"
	tests := []struct {
		name      string
		scenarios map[string][]byte
		scenario  string // the practice's
		from      string // a customer that must come up
		notFrom   string // one that must not
		log       string
	}{
		{name: "published set", scenarios: map[string][]byte{"01 腊肉.txt": []byte(good)},
			scenario: "腊肉专场", from: "阿龙", notFrom: "远方客", log: "not in the catalogue"},
		{name: "a bad file keeps the built-in set",
			scenarios: map[string][]byte{"01 腊肉.txt": []byte(good), "02 坏.txt": []byte("scenario 坏\nversion 1\n1 | 甲 | - | - | 你好\n")},
			scenario:  "榕江特产 · 第一课", from: "山里人", notFrom: "阿龙", log: "using the built-in set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs lockedBuffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			stateDir := t.TempDir()
			prov := applyScenarios(t, stateDir, tt.scenarios, log)
			a := scenarioBox(t, stateDir, prov, log)
			base := runApp(t, a)
			c := phoneClient(t, base)
			if err := a.Box.Post(state.PracticeStart, ""); err != nil {
				t.Fatal(err)
			}
			var pv web.PracticeView
			waitUntil(t, 30*time.Second, tt.from+"'s comment on the phone page", func() bool {
				pv = practiceView(t, c, base)
				for _, cm := range pv.Comments {
					if cm.From == tt.from {
						return true
					}
				}
				return false
			})
			if pv.Scenario != tt.scenario {
				t.Errorf("practising %q, want %q", pv.Scenario, tt.scenario)
			}
			time.Sleep(1500 * time.Millisecond) // past the left-out question's time
			for _, cm := range practiceView(t, c, base).Comments {
				if cm.From == tt.notFrom {
					t.Errorf("comment from %s came up: %+v", tt.notFrom, cm)
				}
			}
			if !strings.Contains(logs.String(), tt.log) {
				t.Errorf("journal lacks %q:\n%s", tt.log, logs.String())
			}
		})
	}
}

func scenarioBox(t *testing.T, stateDir string, prov *app.Provisioning, log *slog.Logger) *app.App {
	t.Helper()
	return scenarioBoxScript(t, stateDir, prov, log, false)
}

func scenarioBoxScript(t *testing.T, stateDir string, prov *app.Provisioning, log *slog.Logger, script bool) *app.App {
	t.Helper()
	prov.ReadyWithin = 60 * time.Second
	epoch := time.Now()
	video, err := hw.NewTestPattern(hw.TestPatternConfig{Format: pipeline.Format(true), Epoch: epoch})
	if err != nil {
		t.Fatal(err)
	}
	audio, err := hw.NewTone(hw.ToneConfig{Format: hw.AudioFormat{SampleRate: 48000, Channels: 1}, Epoch: epoch})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := app.Build(app.Spec{
		Pipeline:      pipeline.Config{Video: video, Audio: audio, Portrait: true, VideoKbps: 800, Epoch: epoch},
		DemoCatalogue: true, StateDir: stateDir, DeviceID: "sim",
		Panel: app.VirtualPanel(), HTTPAddr: "127.0.0.1:0", PIN: testPIN, Preview: whepLoopback(), Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	opts.Provision = prov
	opts.PracticeScript = script
	a, err := app.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func phoneClient(t *testing.T, base string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 15 * time.Second}
	resp, err := c.Post(base+"/api/login", "application/json", strings.NewReader(`{"pin":"`+testPIN+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("login: %s", resp.Status)
	}
	return c
}

func practiceView(t *testing.T, c *http.Client, base string) web.PracticeView {
	t.Helper()
	resp, err := c.Get(base + "/api/practice")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v web.PracticeView
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// applyScenarios applies a bundle carrying scenarios to the box in
// stateDir and opens its provisioning again, as the restart after it does.
func applyScenarios(t *testing.T, stateDir string, scenarios map[string][]byte, log *slog.Logger) *app.Provisioning {
	t.Helper()
	o := newTrainerOrg(t)
	prov, _, _, err := app.OpenProvisioning(stateDir, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	boxPub := prov.Key.Public().(ed25519.PublicKey)
	root := o.root.Public().(ed25519.PublicKey)
	var buf bytes.Buffer
	if err := bundle.Build(&buf, bundle.Contents{Config: []byte("device_id = \"box-scn\"\n"), Scenarios: scenarios},
		bundle.Options{Version: 1, Created: time.Now().Add(-time.Minute), Expires: time.Now().AddDate(0, 0, 30),
			Boxes:  []bundle.Box{{Key: boxPub}},
			Signer: bundle.Signer{Key: o.trainer, Cert: o.cert}, Root: root}); err != nil {
		t.Fatal(err)
	}
	v, err := bundle.Open(bytes.NewReader(buf.Bytes()), int64(buf.Len()), bundle.Trust{Root: root}, boxPub, prov.Store.Have(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prov.Store.Apply(v, prov.Key, root); err != nil {
		t.Fatal(err)
	}
	prov, _, _, err = app.OpenProvisioning(stateDir, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	return prov
}

// A scripted answer the box's rules flag is not spoken by the simulator
// (it would warn her mid-answer) and is said when the practice starts.
func TestFlaggedSampleAnswerSaid(t *testing.T) {
	log := testLogger(t)
	stateDir := t.TempDir()
	prov := applyScenarios(t, stateDir, map[string][]byte{"01.txt": []byte("scenario 辣椒酱\nversion 1\n" +
		"1 | 王姐 | lajiao | 20 | PRICE | 是不是最便宜？ | 我们是全网最低价\n" +
		"2 | 阿英 | lajiao | 20 | - | 多少钱？ | 三十九块九一瓶\n")}, log)
	for _, script := range []bool{false, true} {
		a := scenarioBoxScript(t, stateDir, prov, log, script)
		got := a.PracticeProblems()
		if !script {
			if len(got) != 0 {
				t.Errorf("without the script: %q", got)
			}
			continue
		}
		if len(got) != 1 || !strings.Contains(got[0], "第3行：示范回答里有「全网最低价」，盒子会提醒，请换个说法") {
			t.Errorf("PracticeProblems = %q", got)
		}
	}
}

// Her choice through the box's own lab: the list names each published
// scenario with its icon, questions and products; the chosen one is
// practised without moving the turn (随便来一个 afterwards gives the one
// that was next); an id from an old list starts nothing.
func TestChosenScenario(t *testing.T) {
	log := testLogger(t)
	stateDir := t.TempDir()
	prov := applyScenarios(t, stateDir, map[string][]byte{
		"01.txt": []byte("scenario 卖辣椒酱\nversion 1\n1 | 阿英 | lajiao | 30 | - | 辣椒酱多少钱一瓶？\n"),
		"02.txt": []byte("scenario 🍯 卖蜂蜜\nversion 1\n1 | 老张 | fengmi | 40 | MED | 蜂蜜能治高血压吗？\n" +
			"2 | 山里人 | - | - | - | 主播好！\n"),
	}, log)
	a := scenarioBox(t, stateDir, prov, log)
	base := runApp(t, a)
	c := phoneClient(t, base)
	pv := practiceView(t, c, base)
	if len(pv.Scenarios) != 2 {
		t.Fatalf("scenarios %+v", pv.Scenarios)
	}
	want := []web.PracticeScenario{
		{ID: pv.Scenarios[0].ID, Icon: "1️⃣", Name: "卖辣椒酱", Questions: 1, Products: []string{"榕江古法辣椒酱"}},
		{ID: pv.Scenarios[1].ID, Icon: "🍯", Name: "卖蜂蜜", Questions: 1, Products: []string{"野生蜂蜜"}},
	}
	for i := range want {
		if got := pv.Scenarios[i]; got.ID == "" || fmt.Sprint(got) != fmt.Sprint(want[i]) {
			t.Errorf("scenario %d: %+v, want %+v", i, got, want[i])
		}
	}
	if pv.Next != pv.Scenarios[0].ID {
		t.Errorf("next in turn %q, want the first %q", pv.Next, pv.Scenarios[0].ID)
	}
	start := func(id string, code int) {
		t.Helper()
		resp, err := c.Post(base+"/api/practice/start", "application/json", strings.NewReader(`{"scenario":"`+id+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != code {
			t.Fatalf("start %q: %s, want %d", id, resp.Status, code)
		}
	}
	practise := func(id, scenario string) {
		t.Helper()
		start(id, http.StatusOK)
		waitUntil(t, 20*time.Second, "the practice", func() bool { return a.Box.Status().State == state.Practice })
		if got := practiceView(t, c, base).Scenario; got != scenario {
			t.Errorf("practising %q, want %q", got, scenario)
		}
		if err := a.Box.Post(state.BigLong, ""); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, 30*time.Second, "idle again", func() bool { return a.Box.Status().State == state.Idle })
	}
	start("0123456789ab", http.StatusConflict)
	time.Sleep(300 * time.Millisecond)
	if st := a.Box.Status().State; st != state.Idle {
		t.Fatalf("an unknown scenario started the box: %s", st)
	}
	practise(pv.Scenarios[1].ID, "🍯 卖蜂蜜")
	practise("", "卖辣椒酱")
	practise("", "🍯 卖蜂蜜")
}

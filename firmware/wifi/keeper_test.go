package wifi

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cunbo/cunbo/bundle"
)

type clock struct{ t time.Time }

func (c *clock) Now() time.Time          { return c.t }
func (c *clock) Advance(d time.Duration) { c.t = c.t.Add(d) }

type rig struct {
	k    *Keeper
	f    *Fake
	c    *clock
	idle atomic.Bool
}

func newKeeperRig(t *testing.T) *rig {
	r := &rig{f: &Fake{Routers: map[string]string{"老家": "old-router-pw"}}, c: &clock{t: time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)}}
	r.idle.Store(true)
	r.k = &Keeper{M: r.f, Label: Label{SSID: "村播-ab12", Password: "12345678"}, Idle: r.idle.Load, Now: r.c.Now}
	ctx := context.Background()
	if err := r.f.PutWiFi(ctx, "cunbo-老家", Network{SSID: "老家", PSK: "old-router-pw", Priority: 50}); err != nil {
		t.Fatal(err)
	}
	if err := r.f.Activate(ctx, "cunbo-老家"); err != nil {
		t.Fatal(err)
	}
	return r
}

// step advances the clock by d in 10 s checks, as Run would.
func (r *rig) step(t *testing.T, d time.Duration) {
	t.Helper()
	for end := r.c.Now().Add(d); r.c.Now().Before(end); {
		r.c.Advance(10 * time.Second)
		if err := r.k.Step(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func (r *rig) hotspot() bool { on, _, _ := r.f.Hotspot(); return on }

func TestHotspotDecisions(t *testing.T) {
	newRouter := map[string]string{"阿秀新家": "new-router-pw", "邻居": "x-x-x-x-x"}
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, r *rig)
	}{
		{"her router works: never", func(t *testing.T, r *rig) {
			r.step(t, time.Hour)
			if r.hotspot() {
				t.Fatal("hotspot with a working router")
			}
		}},
		{"router changed: on after 2 minutes idle, not before", func(t *testing.T, r *rig) {
			r.f.SetRouters(newRouter)
			r.step(t, 110*time.Second)
			if r.hotspot() {
				t.Fatal("hotspot before 2 minutes")
			}
			r.step(t, 20*time.Second)
			on, ssid, psk := r.f.Hotspot()
			if !on || ssid != "村播-ab12" || psk != "12345678" {
				t.Fatalf("hotspot = %v %q %q, want the label's", on, ssid, psk)
			}
			v := r.k.View()
			if !v.Hotspot || len(v.Nearby) != 2 || v.Nearby[1].SSID != "阿秀新家" {
				t.Fatalf("view = %+v, want the scan from before the hotspot", v)
			}
		}},
		{"never while live, and the wait starts again at idle", func(t *testing.T, r *rig) {
			r.f.SetRouters(newRouter)
			r.idle.Store(false)
			r.step(t, 30*time.Minute)
			if r.hotspot() {
				t.Fatal("hotspot while not idle")
			}
			r.idle.Store(true)
			r.step(t, 100*time.Second)
			if r.hotspot() {
				t.Fatal("hotspot less than 2 minutes after idle")
			}
			r.step(t, 30*time.Second)
			if !r.hotspot() {
				t.Fatal("no hotspot 2 minutes after idle")
			}
		}},
		{"leaving idle stops it", func(t *testing.T, r *rig) {
			r.f.SetRouters(newRouter)
			r.step(t, 3*time.Minute)
			r.idle.Store(false)
			r.step(t, 10*time.Second)
			if r.hotspot() {
				t.Fatal("hotspot still on after she left idle")
			}
		}},
		{"the old router back: known networks tried again after 10 minutes", func(t *testing.T, r *rig) {
			r.f.SetRouters(newRouter)
			r.step(t, 3*time.Minute)
			r.step(t, 9*time.Minute)
			if !r.hotspot() {
				t.Fatal("hotspot gone before the retry")
			}
			r.step(t, 2*time.Minute)
			if r.hotspot() {
				t.Fatal("hotspot not stopped to retry known networks")
			}
		}},
		{"her new network, right password: joined, hotspot off", func(t *testing.T, r *rig) {
			r.f.SetRouters(newRouter)
			r.step(t, 3*time.Minute)
			res := r.k.TryJoin(context.Background(), Network{SSID: "阿秀新家", PSK: "new-router-pw", Priority: JoinPriority})
			if !res.OK || r.hotspot() || r.f.Active() != "cunbo-阿秀新家" {
				t.Fatalf("join = %+v, hotspot %v, active %q", res, r.hotspot(), r.f.Active())
			}
			if n, _ := r.f.Saved("cunbo-阿秀新家"); n.Priority != JoinPriority {
				t.Fatalf("saved %+v, want priority %d", n, JoinPriority)
			}
			r.step(t, time.Hour)
			if r.hotspot() {
				t.Fatal("hotspot again after a good join")
			}
		}},
		{"wrong password: hotspot back to try again", func(t *testing.T, r *rig) {
			r.f.SetRouters(newRouter)
			r.step(t, 3*time.Minute)
			res := r.k.TryJoin(context.Background(), Network{SSID: "阿秀新家", PSK: "wrong-password", Priority: JoinPriority})
			if res.OK || !r.hotspot() || !strings.Contains(res.Message, "密码") {
				t.Fatalf("join = %+v, hotspot %v", res, r.hotspot())
			}
			if v := r.k.View(); v.Last == nil || v.Last.OK || !v.Hotspot {
				t.Fatalf("view = %+v", v)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newKeeperRig(t)) })
	}
}

// Run takes a network from Join, leaves the hotspot a moment later and
// never logs the passphrase.
func TestRunJoins(t *testing.T) {
	f := &Fake{Routers: map[string]string{"阿秀新家": "new-router-pw"}}
	var logs strings.Builder
	var lw syncWriter
	lw.w = &logs
	k := &Keeper{M: f, Label: Label{SSID: "村播-ab12", Password: "12345678"}, After: time.Millisecond,
		Settle: time.Millisecond, Logger: slog.New(slog.NewTextHandler(&lw, nil))}
	if err := k.Join("阿秀新家", "new-router-pw"); err == nil {
		t.Fatal("a network taken while the box is not offering its hotspot")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- k.Run(ctx, 5*time.Millisecond) }()
	waitFor(t, func() bool { return k.View().Hotspot })
	if err := k.Join("阿秀新家", "short"); err == nil {
		t.Fatal("a 5-letter password accepted")
	}
	if err := k.Join("阿秀新家", "new-router-pw"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { v := k.View(); return v.Last != nil && v.Joining == "" })
	if v := k.View(); !v.Last.OK || v.Hotspot {
		t.Fatalf("view after join = %+v", v)
	}
	cancel()
	<-done
	if out := lw.String(); strings.Contains(out, "new-router-pw") || !strings.Contains(out, "阿秀新家") {
		t.Fatalf("log: %s", out)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatal("timed out")
}

func TestLabel(t *testing.T) {
	_, k1, _ := ed25519.GenerateKey(nil)
	_, k2, _ := ed25519.GenerateKey(nil)
	a, b := LabelFor(k1), LabelFor(k2)
	if a != LabelFor(k1) {
		t.Fatal("label not deterministic")
	}
	if a == b {
		t.Fatal("two keys, one label")
	}
	fp := bundle.Fingerprint(k1.Public().(ed25519.PublicKey))
	if a.SSID != "村播-"+fp[:4] || len(a.SSID) > 32 {
		t.Fatalf("SSID %q, fingerprint %s", a.SSID, fp)
	}
	if !regexp.MustCompile(`^[0-9]{8}$`).MatchString(a.Password) || Check(Network{SSID: a.SSID, PSK: a.Password}) != nil {
		t.Fatalf("password %q", a.Password)
	}
}

func TestApply(t *testing.T) {
	f := &Fake{}
	err := Apply(context.Background(), f, []bundle.WiFi{
		{SSID: "合作社", Password: "coop-2026-pw"}, {SSID: "村委会"}, {SSID: "坏的", Password: "short"}, {SSID: "阿秀家", Password: "xiu-home-pw"},
	}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "坏的") {
		t.Fatalf("Apply error = %v, want the bad network named", err)
	}
	for name, want := range map[string]Network{
		"cunbo-合作社": {SSID: "合作社", PSK: "coop-2026-pw", Priority: 50},
		"cunbo-村委会": {SSID: "村委会", Priority: 49},
		"cunbo-阿秀家": {SSID: "阿秀家", PSK: "xiu-home-pw", Priority: 47},
	} {
		if got, ok := f.Saved(name); !ok || got != want {
			t.Errorf("%s = %+v, %v; want %+v", name, got, ok, want)
		}
	}
	for _, c := range f.Calls() {
		if strings.Contains(c, "pw") {
			t.Errorf("call %q shows a password", c)
		}
	}
}

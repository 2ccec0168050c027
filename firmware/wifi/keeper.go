package wifi

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Keeper decides when the box offers its setup hotspot: after it has
// known no reachable network for After while idle. It stops the hotspot
// when she goes live or starts (never on air), when she gives it a network
// that works, and every Retry to let known networks (a router back from a
// power cut) connect again.
type Keeper struct {
	M     Manager
	Label Label
	// Idle reports whether the box is idle: the hotspot never comes up
	// otherwise, and goes down when she leaves idle.
	Idle func() bool
	// After is how long without a network before the hotspot (default
	// 2 min); Retry how long the hotspot stays up before the box tries its
	// known networks again (default 10 min).
	After, Retry time.Duration
	// Settle is the pause between accepting her network and leaving the
	// hotspot, so the page's answer reaches her phone first (default 2 s).
	Settle time.Duration
	Now    func() time.Time
	Logger *slog.Logger

	mu        sync.Mutex
	lostSince time.Time // zero: a network is reachable (or not idle)
	onSince   time.Time // zero: no hotspot
	nearby    []AP
	joining   string
	last      *Result
	joins     chan Network
}

// Result is what became of the last network she typed.
type Result struct {
	SSID string    `json:"ssid"`
	OK   bool      `json:"ok"`
	At   time.Time `json:"at"`
	// Message is plain Chinese for her.
	Message string `json:"message"`
}

// View is the hotspot page's state.
type View struct {
	Hotspot bool    `json:"hotspot"`
	SSID    string  `json:"ssid,omitempty"` // the hotspot's, while up
	Nearby  []AP    `json:"nearby"`
	Joining string  `json:"joining,omitempty"`
	Last    *Result `json:"last,omitempty"`
}

// ErrBusy is Join's answer while another network is being tried.
var ErrBusy = errors.New("wifi: already joining a network")

func (k *Keeper) init() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.joins == nil {
		k.joins = make(chan Network, 1)
	}
}

func (k *Keeper) now() time.Time {
	if k.Now == nil {
		return time.Now()
	}
	return k.Now()
}

func (k *Keeper) log() *slog.Logger {
	if k.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return k.Logger
}

// View is what the page shows.
func (k *Keeper) View() View {
	k.mu.Lock()
	defer k.mu.Unlock()
	v := View{Hotspot: !k.onSince.IsZero(), Nearby: slices.Clone(k.nearby), Joining: k.joining, Last: k.last}
	if v.Hotspot {
		v.SSID = k.Label.SSID
	}
	if v.Nearby == nil {
		v.Nearby = []AP{}
	}
	return v
}

// Join queues her network for Run to try. It checks it at once, so a
// password of the wrong length is answered on the page before anything
// changes.
func (k *Keeper) Join(ssid, psk string) error {
	n := Network{SSID: ssid, PSK: psk, Priority: JoinPriority}
	if err := Check(n); err != nil {
		return err
	}
	k.init()
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.joining != "" {
		return ErrBusy
	}
	if k.onSince.IsZero() {
		// Only her way back onto a network: a box online keeps the
		// networks its bundle gave it.
		return &InputError{"盒子已经连上网了，不用在这里换 Wi-Fi"}
	}
	select {
	case k.joins <- n:
		k.joining = ssid
		return nil
	default:
		return ErrBusy
	}
}

// Run checks every interval until ctx ends.
func (k *Keeper) Run(ctx context.Context, interval time.Duration) error {
	k.init()
	t := time.NewTicker(cmp.Or(interval, 10*time.Second))
	defer t.Stop()
	for {
		if err := k.Step(ctx); err != nil && ctx.Err() == nil {
			k.log().Warn("wifi check", "err", err)
		}
		select {
		case <-ctx.Done():
			// The hotspot must not outlive the box's service.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if k.View().Hotspot {
				_ = k.M.StopHotspot(sctx)
			}
			return ctx.Err()
		case <-t.C:
		case n := <-k.joins:
			select {
			case <-ctx.Done():
			case <-time.After(cmp.Or(k.Settle, 2*time.Second)):
			}
			k.TryJoin(ctx, n)
		}
	}
}

// Step makes one decision; Run calls it, tests call it with a fake clock.
func (k *Keeper) Step(ctx context.Context) error {
	now := k.now()
	k.mu.Lock()
	onSince := k.onSince
	k.mu.Unlock()
	idle := k.Idle == nil || k.Idle()
	if !onSince.IsZero() {
		switch {
		case !idle:
			k.log().Info("setup hotspot off: the box is not idle")
		case now.Sub(onSince) >= cmp.Or(k.Retry, 10*time.Minute):
			k.log().Info("setup hotspot off for a while: trying the known networks")
		default:
			return nil
		}
		k.mu.Lock()
		k.onSince, k.lostSince = time.Time{}, time.Time{}
		k.mu.Unlock()
		return k.M.StopHotspot(ctx)
	}
	c, err := k.M.Connectivity(ctx)
	if err != nil {
		return err
	}
	k.mu.Lock()
	if c.Reachable() || !idle {
		k.lostSince = time.Time{}
		k.mu.Unlock()
		return nil
	}
	if k.lostSince.IsZero() {
		k.lostSince = now
	}
	lost := now.Sub(k.lostSince)
	k.mu.Unlock()
	if lost < cmp.Or(k.After, 2*time.Minute) {
		return nil
	}
	// Scan first: the chip may not scan once it is an access point.
	aps, serr := k.M.Scan(ctx)
	if serr != nil {
		k.log().Warn("wifi scan", "err", serr)
	}
	if err := k.M.StartHotspot(ctx, k.Label.SSID, k.Label.Password); err != nil {
		return err
	}
	k.log().Info("setup hotspot on: no network", "ssid", k.Label.SSID, "without_network", lost.Round(time.Second))
	k.mu.Lock()
	k.onSince = now
	if serr == nil {
		k.nearby = aps
	}
	k.mu.Unlock()
	return nil
}

// TryJoin saves n and brings it up; on success the hotspot stays off, on
// failure it comes back (when it was up) so she can try again. The
// passphrase is never logged.
func (k *Keeper) TryJoin(ctx context.Context, n Network) Result {
	log := k.log().With("ssid", n.SSID)
	k.mu.Lock()
	k.joining = n.SSID
	wasOn := !k.onSince.IsZero()
	k.mu.Unlock()
	res := Result{SSID: n.SSID}
	name := ConnectionName(n.SSID)
	err := k.M.PutWiFi(ctx, name, n)
	if err == nil {
		// One radio: it leaves the hotspot to try her router.
		if wasOn {
			err = k.M.StopHotspot(ctx)
		}
		if err == nil {
			err = k.M.Activate(ctx, name)
		}
	}
	if err == nil {
		var c Connectivity
		if c, err = k.M.Connectivity(ctx); err == nil && !c.Reachable() {
			err = errors.New("joined, but no connectivity: " + string(c))
		}
	}
	res.At = k.now()
	if err == nil {
		res.OK, res.Message = true, "已连上「"+n.SSID+"」，可以开播了"
		log.Info("wifi joined from the phone page")
	} else {
		res.Message = "没连上「" + n.SSID + "」。请看看密码对不对，再试一次"
		log.Warn("wifi not joined from the phone page", "err", err)
	}
	// The hotspot comes back before the page hears the outcome, so her
	// next try finds it up.
	var back time.Time
	if !res.OK && wasOn && (k.Idle == nil || k.Idle()) {
		if err := k.M.StartHotspot(ctx, k.Label.SSID, k.Label.Password); err != nil {
			log.Error("setup hotspot not back after a failed join", "err", err)
		} else {
			back = k.now()
		}
	}
	k.mu.Lock()
	k.joining, k.last = "", &res
	if wasOn {
		k.onSince = back
	}
	if res.OK {
		k.lostSince = time.Time{}
	}
	k.mu.Unlock()
	return res
}

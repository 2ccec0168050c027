// Package app assembles a whole box out of its parts — the media pipeline,
// the panel (buttons, status LED, ring light; real GPIO or virtual), the
// firmware.Box state machine, the WebRTC preview and the phone page — and
// runs them under one context. `cunbo run` (the daemon, FromConfig) and
// `cunbo sim` (the desk simulator) both describe their box as a Spec and
// build it with Build, so every rule (catalogue, flagged-moment quota,
// PIN, uploads) is the same in both and the simulator exercises the wiring
// the box ships with; they differ only in the sources and the panel.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/cunbo/cunbo/firmware"
	"github.com/cunbo/cunbo/firmware/compliance"
	"github.com/cunbo/cunbo/firmware/notes"
	"github.com/cunbo/cunbo/firmware/pipeline"
	"github.com/cunbo/cunbo/firmware/provision"
	"github.com/cunbo/cunbo/firmware/sdnotify"
	"github.com/cunbo/cunbo/firmware/upload"
	"github.com/cunbo/cunbo/firmware/web"
	"github.com/cunbo/cunbo/hw"
	"github.com/cunbo/cunbo/stream/whep"
)

// Panel is the box's front: where presses come from and the two lights.
type Panel struct {
	LED  *hw.StatusLED
	Ring *hw.RingLight
	// Buttons starts watching the buttons (hw.WatchButtons) for the life
	// of ctx; nil for a panel without buttons.
	Buttons func(ctx context.Context) (<-chan hw.ButtonEvent, error)
	// Virtual is set for a panel without a board (simulator, desk box):
	// presses can be injected with Virtual.Press.
	Virtual *hw.Virtual
	// Close releases the pins; may be nil.
	Close func() error
}

// VirtualPanel is the reference box's five buttons and two lights on fake
// pins.
func VirtualPanel() Panel {
	v := hw.NewVirtual(nil, firmware.ButtonBig, firmware.ButtonNext, firmware.ButtonPrev,
		firmware.ButtonLight, firmware.ButtonMark)
	return Panel{
		LED: v.LED, Ring: v.Ring, Virtual: v,
		Buttons: func(ctx context.Context) (<-chan hw.ButtonEvent, error) {
			return hw.WatchButtons(ctx, hw.ButtonOptions{}, v.Buttons()...)
		},
	}
}

// Options assemble an App. Pipeline and Panel are required.
type Options struct {
	Pipeline *pipeline.Pipeline
	Panel    Panel
	// RingOnLevel is the ring light's level when she goes live.
	RingOnLevel hw.Level

	// HTTPAddr is the phone page's listen address; empty means none.
	HTTPAddr string
	// PIN protects the phone page (required with HTTPAddr).
	PIN string
	// Destination is shown on the phone page; mask keys first
	// (web.MaskKey).
	Destination string
	// Captions reports the caption checker's state; nil means off
	// ("未安装" is not assumed: the page just says off), or Compliance's
	// status when that is set.
	Captions func() web.Captions
	// Compliance is the speech worker and the compliance loop; nil for a
	// box without captions. Run starts it and feeds it the microphone; its
	// warnings go to the LED and the phone page.
	Compliance *compliance.Captions
	// Preview configures the WebRTC preview (host candidates on the LAN).
	Preview whep.Config
	// Problems are the setup mistakes the box works around (config keys,
	// catalogue rows, cards that break a rule), listed on the phone page.
	Problems []web.SetupProblem
	// Uploader sends flagged segments and session records to the review
	// service while the box is off air; nil keeps them on the box.
	Uploader *upload.Uploader
	// Notes are her social worker's coaching notes, fetched while idle
	// and shown on the phone page; nil for none.
	Notes *notes.Book
	// DeviceID names the box in its session records.
	DeviceID string
	// Provision takes setup bundles from a USB stick while idle and
	// guards a configuration new at this start; nil for none.
	Provision *Provisioning
	// Heartbeat reports the box's health to the review service's fleet
	// page (heartbeat.go); nil for none.
	Heartbeat *HeartbeatSetup
	// Bundles fetches setup bundles published for this box by the review
	// service while idle (the network path beside the stick); used only
	// with Provision, nil for none.
	Bundles provision.Downloader
	// ReviewURL is the review service's address, for the phone page's
	// link to the console page that enrols this box; "" for none.
	ReviewURL string

	// PracticeScript speaks each simulated customer's sample answer as a
	// caption during a practice when there is no speech model (the
	// simulator's stand-in for her voice).
	PracticeScript bool

	// OnStatus is called with every status change (the simulator prints
	// them); it must not block.
	OnStatus func(firmware.Status)
	// Notifier gets READY and the health-gated watchdog pings; nil or
	// disabled outside systemd.
	Notifier *sdnotify.Notifier
	// WatchdogInterval is systemd's WatchdogSec (0: no watchdog).
	WatchdogInterval time.Duration
	// ReadyWait bounds how long Run waits for the first encoded video
	// before calling the box ready. Default 8 s.
	ReadyWait time.Duration

	Logger *slog.Logger
}

// App is an assembled box.
type App struct {
	opts    Options
	log     *slog.Logger
	Box     *firmware.Box
	Web     *web.Server // nil without HTTPAddr
	Preview *whep.Server

	practice *practiceLab

	mu   sync.Mutex
	addr string
}

// New wires the parts; nothing runs until Run.
func New(opts Options) (*App, error) {
	if opts.Pipeline == nil {
		return nil, errors.New("app: no pipeline")
	}
	if opts.Panel.LED == nil || opts.Panel.Ring == nil {
		return nil, errors.New("app: the panel needs a status LED and a ring light")
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if opts.ReadyWait <= 0 {
		opts.ReadyWait = 8 * time.Second
	}
	if opts.Compliance != nil && opts.Captions == nil {
		opts.Captions = func() web.Captions { return WebCaptions(opts.Compliance) }
	}
	a := &App{opts: opts, log: log}
	a.practice = newPracticeLab(opts, log.With("part", "practice"))
	var boxPipeline firmware.Pipeline = opts.Pipeline
	if opts.Compliance != nil {
		boxPipeline = markToLoop{opts.Pipeline, opts.Compliance}
	}
	box, err := firmware.NewBox(firmware.Options{
		Pipeline: boxPipeline, LED: opts.Panel.LED, Ring: opts.Panel.Ring,
		RingOnLevel: opts.RingOnLevel, Logger: log.With("part", "box"),
	})
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	a.Box = box
	pcfg := opts.Preview
	if pcfg.Logger == nil {
		pcfg.Logger = log.With("part", "whep")
	}
	if pcfg.OnOffer == nil {
		pcfg.OnOffer = opts.Pipeline.Wake
	}
	if a.Preview, err = whep.New(pcfg); err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	if opts.HTTPAddr != "" {
		a.Web, err = web.New(web.Options{
			Box: box, PIN: opts.PIN, Preview: a.Preview, Details: a.details, Notes: a.webNotes(), Practice: a.practice,
			WiFi: a.webWiFi(), Logger: log.With("part", "web"),
		})
		if err != nil {
			return nil, fmt.Errorf("app: %w", err)
		}
	}
	if c := opts.Compliance; c != nil {
		c.Loop().AddSink(compliance.BoxSink(box))
		c.Loop().AddSink(compliance.SinkFunc(a.practice.warn))
		c.Loop().AddHeardSink(a.practice.heard)
		if a.Web != nil {
			c.Loop().AddSink(PhonePage(a.Web))
		}
	}
	return a, nil
}

// markToLoop hands each mark the pipeline takes to the compliance loop,
// which cuts the flagged segment and then releases the pipeline's hold on
// the recording, and tells the captions when she goes live and ends: the
// microphone is heard only while she is live.
type markToLoop struct {
	*pipeline.Pipeline
	caps *compliance.Captions
}

// GoLive starts a fresh caption transcript for the session (findings never
// join words across two sessions) and starts listening.
func (p markToLoop) GoLive(ctx context.Context) error {
	p.caps.Loop().NewSession()
	p.caps.Listen(compliance.ListenLive)
	err := p.Pipeline.GoLive(ctx)
	if err != nil {
		p.caps.Listen(compliance.ListenOff)
	}
	return err
}

// End stops listening at once, then ends the stream.
func (p markToLoop) End() error {
	p.caps.Listen(compliance.ListenOff)
	return p.Pipeline.End()
}

func (p markToLoop) Mark() error {
	if err := p.Pipeline.Mark(); err != nil {
		return err
	}
	// The box calls Mark from one goroutine: the newest mark is this one.
	marks := p.Marks()
	if len(marks) == 0 {
		return nil
	}
	m := marks[len(marks)-1]
	release := func() {}
	if rec := p.Recorder(); rec != nil && m.Hold != 0 {
		release = func() { rec.Release(m.Hold) }
	}
	return p.caps.Loop().MarkAt(m.At, release)
}

func (a *App) details() web.Details {
	d := web.Details{Destination: a.opts.Destination, Problems: a.opts.Problems}
	st := a.opts.Pipeline.Stats()
	if st.Live {
		// What actually leaves the box, measured at the first publisher
		// sending; the encoder's rate until one has a figure.
		d.BitrateKbps = st.Video.Kbps
		for _, ds := range st.Destinations {
			if ds.SentKbps > 0 {
				d.BitrateKbps = ds.SentKbps
				break
			}
		}
		for _, ds := range st.Destinations {
			wd := web.Destination{Name: ds.Name, Kind: ds.Kind, Connected: ds.Connected, SentKbps: ds.SentKbps,
				LastError: ds.LastError}
			if !ds.LastErrorAt.IsZero() {
				at := ds.LastErrorAt
				wd.LastErrorAt = &at
			}
			d.Destinations = append(d.Destinations, wd)
		}
	}
	v := st.Video
	d.Video = &web.Video{Kbps: v.Kbps, Width: v.Width, Height: v.Height, FPS: v.FPS, Reduced: v.Reduced, Limiter: v.Limiter}
	if c := st.Card; c.Index >= 0 {
		d.Card = &web.Card{Index: c.Index, Name: c.Name, Visible: c.Visible}
	}
	if a.opts.Captions != nil {
		d.Captions = a.opts.Captions()
	}
	var lost uint64
	if a.opts.Compliance != nil {
		lost = a.opts.Compliance.Status().FlaggedLost
	}
	d.StorageNote = storageNote(st.Recorder, lost, time.Now())
	if u := a.opts.Uploader; u != nil {
		d.UploadNote = u.Status().Summary()
	}
	if p := a.opts.Provision; p != nil {
		d.Setup = p.setup(a.opts.ReviewURL)
	}
	return d
}

// Addr is the phone page's bound address once Run has started it.
func (a *App) Addr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.addr
}

// Healthy is what the watchdog asks: the pipeline makes frames and the
// box's event loop answers.
func (a *App) Healthy() error {
	if err := a.opts.Pipeline.Healthy(); err != nil {
		return err
	}
	return a.Box.Healthy()
}

// Run runs everything until ctx ends. ready is called once the box is
// idle and serving (the phone page's address; "" without one) — that is
// also when READY=1 goes to systemd.
func (a *App) Run(ctx context.Context, ready func(httpAddr string)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	errc := make(chan error, 8)
	spawn := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil && !errors.Is(err, context.Canceled) {
				// The first error is Run's; the others (every part
				// ends with ctx's deadline at once) must not block
				// the part sending it, or Run would wait forever.
				select {
				case errc <- fmt.Errorf("%s: %w", name, err):
				default:
				}
				cancel()
			}
		}()
	}
	p := a.opts.Panel
	if p.Close != nil {
		defer func() {
			if err := p.Close(); err != nil {
				a.log.Warn("panel close", "err", err)
			}
		}()
	}
	spawn("status led", p.LED.Run)
	spawn("ring light", p.Ring.Run)
	spawn("pipeline", a.opts.Pipeline.Run)
	if c := a.opts.Compliance; c != nil {
		spawn("captions", c.Run)
		defer a.opts.Pipeline.AudioTap(c.AudioTap)()
	}

	if err := a.opts.Pipeline.AddOutput("webrtc", a.Preview); err != nil {
		return fmt.Errorf("app: %w", err)
	}
	defer a.Preview.Close()

	if p.Buttons != nil {
		presses, err := p.Buttons(ctx)
		if err != nil {
			cancel()
			return fmt.Errorf("app: buttons: %w", err)
		}
		// The box reads presses from its Options; hand them over through
		// the same event path as the phone page's buttons.
		spawn("buttons", func(ctx context.Context) error {
			m := firmware.DefaultButtonMap()
			for ev := range presses {
				if e, ok := m[firmware.ButtonPress{Button: ev.Button, Press: ev.Press}]; ok {
					a.Box.Post(e, "")
				}
			}
			return nil
		})
	}
	spawn("box", a.Box.Run)
	spawn("network", a.watchNetwork)
	spawn("storage", a.watchStorage)
	spawn("practice", a.practice.drive(a.Box))
	if a.opts.Uploader != nil {
		spawn("upload", a.opts.Uploader.Run)
		spawn("upload pause", a.driveUploads)
	}
	if a.opts.Notes != nil {
		spawn("notes", a.opts.Notes.Run)
		spawn("notes pause", a.driveNotes)
	}
	if a.opts.Heartbeat != nil {
		spawn("heartbeat", a.runHeartbeat)
	}
	readyc := make(chan struct{})
	if a.opts.Provision != nil {
		spawn("provision", func(ctx context.Context) error { return a.runProvisioning(ctx, readyc) })
	}
	if a.opts.OnStatus != nil {
		ch, stop := a.Box.Subscribe()
		defer stop()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case st, ok := <-ch:
					if !ok {
						return
					}
					a.opts.OnStatus(st)
				}
			}
		}()
	}

	addrc := make(chan string, 1)
	if a.Web != nil {
		spawn("web", func(ctx context.Context) error {
			return web.ListenAndServe(ctx, a.opts.HTTPAddr, a.Web, func(addr string) { addrc <- addr })
		})
		select {
		case addr := <-addrc:
			a.mu.Lock()
			a.addr = addr
			a.mu.Unlock()
		case err := <-errc:
			cancel()
			return err
		}
	}
	if err := a.Box.Healthy(); err != nil {
		cancel()
		return fmt.Errorf("app: %w", err)
	}
	a.waitPicture(ctx)
	if ready != nil {
		ready(a.Addr())
	}
	close(readyc)
	if n := a.opts.Notifier; n.Enabled() {
		if err := n.Ready("idle"); err != nil {
			a.log.Warn("sd_notify READY", "err", err)
		}
		if a.opts.WatchdogInterval > 0 {
			spawn("watchdog", func(ctx context.Context) error {
				return n.RunWatchdog(ctx, sdnotify.WatchdogOptions{Interval: a.opts.WatchdogInterval,
					Healthy: a.Healthy, Logger: a.log})
			})
		}
	}
	<-ctx.Done()
	if n := a.opts.Notifier; n.Enabled() {
		_ = n.Stopping()
	}
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

// waitPicture holds "ready" until the encoder delivers video, so ready
// means a tap on the big button goes live at once. A camera that never
// delivers must not keep the service from starting (systemd would kill
// and restart it forever): after ReadyWait the box is ready anyway and
// the watchdog's health check reports the stall.
func (a *App) waitPicture(ctx context.Context) {
	deadline := time.Now().Add(a.opts.ReadyWait)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for a.opts.Pipeline.Stats().Encoder.VideoUnits == 0 {
		if time.Now().After(deadline) {
			a.log.Warn("ready without a picture: the camera or encoder is not delivering", "waited", a.opts.ReadyWait)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Handler is the phone page (nil without HTTPAddr), for tests that serve
// it themselves.
func (a *App) Handler() http.Handler {
	if a.Web == nil {
		return nil
	}
	return a.Web
}

// Pipeline is the media pipeline the box drives.
func (a *App) Pipeline() *pipeline.Pipeline { return a.opts.Pipeline }

// Panel is the box's front as assembled (Panel.Virtual is set for a
// simulated one).
func (a *App) Panel() Panel { return a.opts.Panel }

package weaklink

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Report is the whole bench outcome: per profile, per system.
type Report struct {
	Runs     int                           `json:"runs"`
	Note     string                        `json:"note,omitempty"`
	Profiles map[string]map[string]*Result `json:"profiles"`
	order    []string
}

// NewReport starts an empty report.
func NewReport(runs int) *Report {
	return &Report{Runs: runs, Profiles: map[string]map[string]*Result{}}
}

// Add records the (median) result of system on profile.
func (r *Report) Add(profile, system string, res *Result) {
	if r.Profiles[profile] == nil {
		r.Profiles[profile] = map[string]*Result{}
		r.order = append(r.order, profile)
	}
	r.Profiles[profile][system] = res
}

// Write stores weaklink.json, weaklink.md and one PNG per profile in dir.
func (r *Report) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	j, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "weaklink.json"), j, 0o644); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("# Weak-link bench\n\nFigures are medians over the runs in each row's \"runs\" column (recording gaps and process growth: the worst run). ")
	b.WriteString("Box and receivers in separate network namespaces; the box's uplink shaped with tc. ")
	b.WriteString("`cunbo` publishes to nginx-rtmp **and** a WHIP receiver at once over the same link; ")
	b.WriteString("`baseline` is `ffmpeg -re … -c:v libx264 -b:v 2500k -f flv rtmp://…` to nginx-rtmp.\n\n")
	b.WriteString(r.emulatorNote() + "\n\n")
	if r.Note != "" {
		b.WriteString(r.Note + "\n\n")
	}
	for _, p := range r.order {
		b.WriteString("| profile | system | runs | stall s (%) | step stall s | adapt s (encoder) | recover s | resume s (max) | lag s p95 (max) | delivered/capacity | recording gaps | gave up |\n")
		b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, sys := range []string{"cunbo", SystemCunboUpload, "baseline"} {
			res := r.Profiles[p][sys]
			if res == nil {
				continue
			}
			resume := opt(res.ResumeS)
			if res.ResumeMaxS != nil {
				resume += " (" + opt(res.ResumeMaxS) + ")"
			}
			gaps := "n/a"
			if res.RecordingGaps != nil {
				gaps = fmt.Sprint(*res.RecordingGaps)
			}
			lag := opt(res.LagP95S)
			if res.LagMaxS != nil {
				lag += " (" + opt(res.LagMaxS) + ")"
			}
			fmt.Fprintf(&b, "| %s | %s | %d | %.2f (%.1f%%) | %s | %s | %s | %s | %s | %.2f | %s | %v |\n",
				p, sys, max(1, res.Runs), res.StallS, res.StallPct, opt(res.StepStallS), opt(res.AdaptS)+" ("+opt(res.AdaptEncoderS)+")", opt(res.RecoverS), resume,
				lag, res.DeliveredRatio, gaps, res.GaveUp)
		}
		if res := r.Profiles[p][SystemCunboUpload]; res != nil && res.Upload != nil {
			fmt.Fprintf(&b, "\n`%s`: %.0f MB of segments queued, an upload in flight when the live began (%.0f KB received before); the review service received %.0f KB while live (the worst run).\n",
				SystemCunboUpload, res.Upload.QueuedMB, res.Upload.BeforeLiveKB, res.Upload.WhileLiveKB)
		}
		if res := r.Profiles[p]["cunbo"]; res != nil && res.Growth != nil {
			fmt.Fprintf(&b, "\ncunbo's process from a quarter of the run to its end: %s.\n", res.Growth)
		}
		fmt.Fprintf(&b, "\n![%s](weaklink-%s.png)\n\n", p, p)
		if err := r.plot(filepath.Join(dir, "weaklink-"+p+".png"), p); err != nil {
			return err
		}
	}
	b.WriteString("Definitions: stall = sum of gaps > 500 ms between video frames at the worse receiver (outages included); ")
	b.WriteString("adapt = from the capacity step until the box's total uplink (bytes both publishers hand to their sockets, so the RTMP backlog draining after a cut counts) stays ≤ 0.9 × new capacity for 3 s; in brackets the same for what the encoder offers (its output once per publisher); ")
	b.WriteString("recover = from the capacity's return until the uplink uses ≥ 80 % of it; ")
	b.WriteString("resume = from the link coming back to the first frame at the slower receiver (median over returns, max in brackets); ")
	b.WriteString("lag = how far the stream has fallen behind its own start at a receiver (RTMP timestamps at the nginx player, RTP timestamps at the WHIP receiver; the worse one), per video frame: ")
	b.WriteString("(arrival − first arrival) − (media timestamp − first media timestamp), measured from the session's least-delayed frame ")
	b.WriteString("and restarted at each new play session or timestamp restart; on-time delivery stays near 0, a stall that skips ahead adds none, ")
	b.WriteString("a publisher slowed by TCP back-pressure (viewers drifting away from live) grows it steadily; p95 over all frames, max in brackets; ")
	b.WriteString("delivered/capacity = bytes received at the worse receiver over the link capacity integrated from the first frame; ")
	b.WriteString("recording gaps = holes > 500 ms in the box's local fMP4 recording. \"-\" = not applicable or never reached.\n")
	return os.WriteFile(filepath.Join(dir, "weaklink.md"), []byte(b.String()), 0o644)
}

// emulatorNote says what shaped the profiles' delay, jitter and loss, and
// warns when nothing did.
func (r *Report) emulatorNote() string {
	var ems []string
	noNetem := false
	for _, p := range r.order {
		for _, res := range r.Profiles[p] {
			if res.Emulator != "" && !slices.Contains(ems, res.Emulator) {
				ems = append(ems, res.Emulator)
			}
			noNetem = noNetem || res.NoNetem
		}
	}
	slices.Sort(ems)
	note := "Capacity: tc tbf; delay, jitter and random loss: "
	if len(ems) == 0 {
		note += "unknown emulator."
	} else {
		note += strings.Join(ems, ", ") + "."
	}
	if noNetem {
		note += " **This kernel has no sch_netem**: capacity (tbf) and outages (link down) were emulated, " +
			"but not the profiles' delay, jitter or random loss."
	}
	return note
}

func opt(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f", *p)
}

var (
	colCapacity = color.RGBA{0, 0, 0, 255}
	colSent     = color.RGBA{30, 90, 220, 255}
	colCunboRx  = color.RGBA{20, 160, 60, 255}
	colBaseRx   = color.RGBA{220, 50, 40, 255}
)

// plot draws capacity, cunbo's uplink, and what nginx received from each
// system, in kbit/s over time.
func (r *Report) plot(path, profile string) error {
	const W, H, left, right, top, bottom = 900, 420, 60, 20, 40, 50
	img := image.NewRGBA(image.Rect(0, 0, W, H))
	draw.Draw(img, img.Bounds(), &image.Uniform{color.White}, image.Point{}, draw.Src)
	type line struct {
		pts   []Point
		col   color.RGBA
		label string
	}
	var lines []line
	if c := r.Profiles[profile]["cunbo"]; c != nil {
		lines = append(lines, line{c.Capacity, colCapacity, "capacity"}, line{c.Sent, colSent, "cunbo uplink (RTMP+WHIP)"},
			line{c.Delivered, colCunboRx, "cunbo at nginx"})
	}
	if bl := r.Profiles[profile]["baseline"]; bl != nil {
		if len(lines) == 0 {
			lines = append(lines, line{bl.Capacity, colCapacity, "capacity"})
		}
		lines = append(lines, line{bl.Delivered, colBaseRx, "baseline at nginx"})
	}
	maxT, maxV := 1.0, 1.0
	for _, l := range lines {
		for _, p := range l.pts {
			maxT, maxV = math.Max(maxT, p.T), math.Max(maxV, p.V)
		}
	}
	maxV *= 1.1
	x := func(t float64) int { return left + int(t/maxT*float64(W-left-right)) }
	y := func(v float64) int { return H - bottom - int(v/maxV*float64(H-top-bottom)) }
	grey := color.RGBA{200, 200, 200, 255}
	for i := 0; i <= 5; i++ {
		v := maxV * float64(i) / 5
		hline(img, left, W-right, y(v), grey)
		text(img, 4, y(v)+4, fmt.Sprintf("%.0f", v), colCapacity)
	}
	for i := 0; i <= 10; i++ {
		t := maxT * float64(i) / 10
		text(img, x(t)-8, H-bottom+16, fmt.Sprintf("%.0fs", t), colCapacity)
	}
	for _, l := range lines {
		for i := 1; i < len(l.pts); i++ {
			a, b := l.pts[i-1], l.pts[i]
			lineTo(img, x(a.T), y(a.V), x(b.T), y(b.V), l.col)
		}
	}
	text(img, left, 20, profile+": kbit/s over time", colCapacity)
	lx := left + 260
	for _, l := range lines {
		hline(img, lx, lx+20, 16, l.col)
		text(img, lx+24, 20, l.label, l.col)
		lx += 24 + 7*len(l.label) + 16
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func hline(img *image.RGBA, x0, x1, y int, c color.RGBA) {
	for x := x0; x <= x1; x++ {
		img.Set(x, y, c)
	}
}

// lineTo draws a 2-pixel line (Bresenham).
func lineTo(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		img.Set(x0, y0, c)
		img.Set(x0, y0+1, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		if e2 := 2 * e; e2 >= dy {
			e += dy
			x0 += sx
		} else {
			e += dx
			y0 += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v < 0:
		return -1
	case v > 0:
		return 1
	}
	return 0
}

func text(img *image.RGBA, x, y int, s string, c color.RGBA) {
	d := &font.Drawer{Dst: img, Src: &image.Uniform{c}, Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

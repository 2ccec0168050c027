// Package speech is the box's side of the speech worker (cmd/cunbo-speech):
// it feeds microphone audio to the worker, turns the worker's segments into
// timed captions, and keeps the worker alive — restarting it with backoff
// when it dies, running it at low priority with a memory ceiling, and saying
// plainly ("captions off", with the reason in Chinese and English) when
// there is no model or no worker. It never blocks the audio path: audio for
// a dead or slow worker is dropped and counted.
//
// The package is pure Go (CGO_ENABLED=0); only the worker links sherpa-onnx.
package speech

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/cunbo/cunbo/hw"
	"github.com/cunbo/cunbo/speech/modeldir"
	"github.com/cunbo/cunbo/speech/resample"
	"github.com/cunbo/cunbo/speech/wire"
)

// Caption is recognised speech on the pipeline clock. Partial captions
// (Final false) are the running guess while the streamer is still talking;
// they let a warning fire before she pauses. The final caption for the same
// utterance supersedes them.
type Caption struct {
	Start, End time.Duration
	Text       string
	Final      bool
}

// State is the captioning feature's condition.
type State int

const (
	// StateStarting: the worker is loading its models.
	StateStarting State = iota
	// StateOn: captions are flowing.
	StateOn
	// StateRestarting: the worker died while running and is being restarted.
	StateRestarting
	// StateOff: captions are off; Status.Reason says why.
	StateOff
)

func (s State) String() string {
	switch s {
	case StateStarting:
		return "starting"
	case StateOn:
		return "on"
	case StateRestarting:
		return "restarting"
	case StateOff:
		return "off"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Status is a snapshot for the firmware's status page.
type Status struct {
	State State
	// Family is the loaded recogniser family (e.g. "paraformer").
	Family string
	// Reason explains StateOff and StateRestarting, Chinese first for the
	// streamer, English in brackets for the trainer.
	Reason string
	// Restarts counts worker restarts since Run began.
	Restarts int
	// DroppedSamples counts 16 kHz samples that never reached a worker.
	DroppedSamples uint64
	// DroppedCaptions counts captions the consumer was too slow to take.
	DroppedCaptions uint64
	// PID is the running worker's process id, 0 when none.
	PID int
}

// Config configures a Supervisor. Zero values get the defaults noted.
type Config struct {
	// WorkerPath is the cunbo-speech binary.
	WorkerPath string
	// VADModel is silero_vad.onnx.
	VADModel string
	// ModelDir holds the recogniser; see speech/modeldir for layouts.
	ModelDir string
	// Input is the microphone's format (default 48 kHz stereo).
	Input hw.AudioFormat
	// Threads for the recogniser (default 2: the Pi's other cores encode).
	Threads int
	// Nice is the worker's scheduling niceness (default 10), so the
	// encoder wins when the CPU is short.
	Nice int
	// MemoryLimit caps the worker's address space in bytes (RLIMIT_AS;
	// default 3 GiB, negative for none). It is virtual memory: the Go
	// runtime and onnxruntime reserve far more than they touch.
	MemoryLimit int64
	// RestartMin and RestartMax bound the restart backoff (defaults 250 ms
	// and 4 s).
	RestartMin, RestartMax time.Duration
	// PingInterval and PingTimeout detect a hung worker (defaults 2 s, 10 s).
	PingInterval, PingTimeout time.Duration
	// QueueChunks bounds audio waiting to be written to the worker
	// (default 100 chunks, ~2 s at 20 ms).
	QueueChunks int
	// OnCaption, if set, receives captions instead of the Captions
	// channel. It runs on the supervisor's reader and must not block.
	OnCaption func(Caption)
	// OnStatus, if set, is called after every status change.
	OnStatus func(Status)
	Logger   *slog.Logger
}

func (c *Config) defaults() {
	if c.Input.SampleRate == 0 {
		c.Input.SampleRate = 48000
	}
	if c.Input.Channels == 0 {
		c.Input.Channels = 2
	}
	if c.Threads == 0 {
		c.Threads = 2
	}
	if c.Nice == 0 {
		c.Nice = 10
	}
	if c.MemoryLimit == 0 {
		c.MemoryLimit = 3 << 30
	}
	if c.RestartMin == 0 {
		c.RestartMin = 250 * time.Millisecond
	}
	if c.RestartMax == 0 {
		c.RestartMax = 4 * time.Second
	}
	if c.PingInterval == 0 {
		c.PingInterval = 2 * time.Second
	}
	if c.PingTimeout == 0 {
		c.PingTimeout = 10 * time.Second
	}
	if c.QueueChunks == 0 {
		c.QueueChunks = 100
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// Supervisor runs the speech worker. Create with New, start with Run.
type Supervisor struct {
	cfg      Config
	log      *slog.Logger
	queue    chan []byte
	captions chan Caption

	audioMu   sync.Mutex // serialises WritePCM
	rs        *resample.Resampler
	out       []int16
	anchorPTS time.Duration // pipeline time of the resampler's first input
	inFrames  int64         // input frames since anchorPTS
	haveAudio bool

	mu        sync.Mutex
	status    Status
	accepting bool // a worker has said hello and takes audio
}

// healthyAfter is how long a worker must run before a crash is treated as
// a fresh failure rather than part of a crash loop.
const healthyAfter = 10 * time.Second

// New validates cfg and returns a Supervisor.
func New(cfg Config) (*Supervisor, error) {
	cfg.defaults()
	rs, err := resample.New(cfg.Input.SampleRate, cfg.Input.Channels, wire.SampleRate)
	if err != nil {
		return nil, fmt.Errorf("speech: microphone format: %w", err)
	}
	if cfg.RestartMin <= 0 || cfg.RestartMax < cfg.RestartMin || cfg.QueueChunks < 1 || cfg.Threads < 1 {
		return nil, errors.New("speech: bad restart, queue or thread settings")
	}
	return &Supervisor{
		cfg:      cfg,
		log:      cfg.Logger,
		queue:    make(chan []byte, cfg.QueueChunks),
		captions: make(chan Caption, 64),
		rs:       rs,
		status:   Status{State: StateStarting},
	}, nil
}

// Captions delivers captions when Config.OnCaption is nil. When nobody
// reads, captions are dropped and counted rather than stalling the worker.
func (s *Supervisor) Captions() <-chan Caption { return s.captions }

// Status returns the current status.
func (s *Supervisor) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// WritePCM takes interleaved S16 microphone audio in the configured Input
// format whose first sample was captured at pipeline time pts. It never
// blocks: it resamples to 16 kHz mono and queues for the worker, dropping
// (and counting) when no worker is ready or the queue is full. Calls must
// come from one goroutine at a time; samples is not retained.
func (s *Supervisor) WritePCM(pts time.Duration, samples []int16) {
	s.audioMu.Lock()
	defer s.audioMu.Unlock()
	in := s.cfg.Input
	frames := len(samples) / in.Channels
	if frames == 0 {
		return
	}
	// A jump in the timestamps means audio was lost upstream: restart the
	// resampler there so output times stay exact.
	expected := s.anchorPTS + time.Duration(s.inFrames)*time.Second/time.Duration(in.SampleRate)
	if !s.haveAudio || absDur(pts-expected) > 20*time.Millisecond {
		s.rs.Reset()
		s.inFrames = 0
		s.anchorPTS = pts
		s.haveAudio = true
	}
	firstOut := s.rs.Produced()
	s.out = s.rs.Process(s.out[:0], samples[:frames*in.Channels])
	s.inFrames += int64(frames)
	if len(s.out) == 0 {
		return
	}
	outPTS := s.anchorPTS + time.Duration(firstOut)*time.Second/wire.SampleRate

	s.mu.Lock()
	accepting := s.accepting
	s.mu.Unlock()
	if accepting {
		select {
		case s.queue <- wire.AppendPCM(make([]byte, 0, wire.HeaderSize+8+2*len(s.out)), outPTS, s.out):
			return
		default:
		}
	}
	s.mu.Lock()
	s.status.DroppedSamples += uint64(len(s.out))
	s.mu.Unlock()
}

// Run supervises the worker until ctx ends. It returns nil then; it never
// fails because of the worker: every problem becomes a Status.
func (s *Supervisor) Run(ctx context.Context) error {
	if reason := s.preflight(); reason != "" {
		s.setOff(reason)
		<-ctx.Done()
		return nil
	}
	backoff := s.cfg.RestartMin
	for {
		started := time.Now()
		res := s.runWorker(ctx)
		if ctx.Err() != nil {
			s.update(func(st *Status) { st.PID = 0 })
			return nil
		}
		if time.Since(started) > healthyAfter {
			backoff = s.cfg.RestartMin
		}
		if res.loadFailed {
			s.log.Error("speech model failed to load", "reason", res.detail)
			s.update(func(st *Status) {
				st.State, st.Family, st.PID = StateOff, "", 0
				st.Reason = fmt.Sprintf("字幕已关闭：语音模型加载失败，稍后重试 (captions off: speech model failed to load: %s; retrying)", res.detail)
			})
			// A broken model will not heal by itself soon; retry slowly.
			backoff = s.cfg.RestartMax
		} else {
			s.log.Warn("speech worker exited", "reason", res.detail, "restart_in", backoff)
			s.update(func(st *Status) {
				st.State, st.PID = StateRestarting, 0
				st.Reason = fmt.Sprintf("字幕暂停：语音程序退出，正在重启 (captions paused: speech worker exited: %s; restarting)", res.detail)
			})
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, s.cfg.RestartMax)
		s.update(func(st *Status) { st.Restarts++ })
	}
}

// preflight finds the conditions no restart can fix and returns the
// captions-off reason, or "".
func (s *Supervisor) preflight() string {
	if s.cfg.WorkerPath == "" {
		return "字幕已关闭：未配置语音程序 (captions off: no speech worker configured)"
	}
	if st, err := os.Stat(s.cfg.WorkerPath); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return fmt.Sprintf("字幕已关闭：找不到语音程序 (captions off: speech worker %s missing or not executable)", s.cfg.WorkerPath)
	}
	if _, err := os.Stat(s.cfg.VADModel); err != nil || s.cfg.VADModel == "" {
		return fmt.Sprintf("字幕已关闭：找不到语音检测模型 (captions off: VAD model %q missing)", s.cfg.VADModel)
	}
	if _, err := modeldir.Detect(s.cfg.ModelDir); err != nil {
		if errors.Is(err, modeldir.ErrNoModel) {
			return "字幕已关闭：没有安装语音识别模型 (captions off: no speech model installed)"
		}
		return fmt.Sprintf("字幕已关闭：语音模型无法使用 (captions off: speech model unusable: %v)", err)
	}
	return ""
}

func (s *Supervisor) setOff(reason string) {
	s.log.Warn("captions off", "reason", reason)
	s.update(func(st *Status) { st.State, st.Reason, st.PID = StateOff, reason, 0 })
}

func (s *Supervisor) update(f func(*Status)) {
	s.mu.Lock()
	f(&s.status)
	st := s.status
	s.mu.Unlock()
	if s.cfg.OnStatus != nil {
		s.cfg.OnStatus(st)
	}
}

func (s *Supervisor) setAccepting(v bool) {
	s.mu.Lock()
	s.accepting = v
	s.mu.Unlock()
}

func (s *Supervisor) deliver(c Caption) {
	if s.cfg.OnCaption != nil {
		s.cfg.OnCaption(c)
		return
	}
	select {
	case s.captions <- c:
	default:
		s.mu.Lock()
		s.status.DroppedCaptions++
		s.mu.Unlock()
	}
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

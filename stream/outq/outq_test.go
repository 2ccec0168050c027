package outq

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cunbo/cunbo/stream"
	"github.com/cunbo/cunbo/stream/fanout"
)

// The Inlet is what the fan-out sees: it must be a non-blocking Sink.
var (
	_ stream.Sink         = Inlet{}
	_ fanout.SelfQueued   = Inlet{}
	_ interface{ Kick() } = Inlet{}
)

func TestInletFillsTheLinksQueue(t *testing.T) {
	in, l := New("test", fanout.QueueLimits{}, nil)
	in.SetTracks(stream.Tracks{SPS: []byte{1}, PPS: []byte{2}})
	in.WriteVideo(&stream.VideoUnit{NALUs: [][]byte{make([]byte, 100)}, Key: true})
	in.WriteAudio(&stream.AudioUnit{Data: make([]byte, 10)})

	s := l.Snapshot(time.Now())
	if s.BacklogUnits != 2 || s.BacklogBytes != 110 {
		t.Errorf("backlog %d units, %d bytes; want 2, 110", s.BacklogUnits, s.BacklogBytes)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, want := range []fanout.Kind{fanout.KindTracks, fanout.KindVideo, fanout.KindAudio} {
		it, err := l.Queue().Next(ctx)
		if err != nil || it.Kind != want {
			t.Fatalf("Next = %v, %v; want kind %v", it.Kind, err, want)
		}
	}
}

func TestWait(t *testing.T) {
	tests := []struct {
		name   string
		d      time.Duration
		kick   bool
		cancel bool
		want   bool
		within time.Duration // generous: the machine may be loaded
	}{
		{"no wait", 0, false, false, true, time.Second},
		{"timer", 50 * time.Millisecond, false, false, true, 5 * time.Second},
		{"kick cuts an hour short", time.Hour, true, false, true, 5 * time.Second},
		{"ended context", time.Hour, false, true, false, 5 * time.Second},
		{"ended context, no wait", 0, false, true, false, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, l := New("test", fanout.QueueLimits{}, nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				cancel()
			}
			if tt.kick {
				in.Kick()
				in.Kick() // a second kick must not block either
			}
			start := time.Now()
			if got := l.Wait(ctx, tt.d); got != tt.want {
				t.Errorf("Wait = %v, want %v", got, tt.want)
			}
			if el := time.Since(start); el > tt.within {
				t.Errorf("Wait took %v", el)
			}
		})
	}
}

func TestStartOnce(t *testing.T) {
	_, l := New("rtmp", fanout.QueueLimits{}, nil)
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	if err := l.Start(); err == nil || err.Error() != "rtmp: Run called twice" {
		t.Errorf("second Start = %v", err)
	}
}

func TestConnectionRecord(t *testing.T) {
	_, l := New("test", fanout.QueueLimits{}, nil)
	t0 := time.Unix(1000, 0)
	l.Connected(t0)
	l.Disconnected()
	boom := errors.New("boom")
	l.Failed(boom)
	l.Connected(t0.Add(time.Minute))
	c := l.Conn()
	if !c.Connected || !c.ConnectedSince.Equal(t0.Add(time.Minute)) || c.Connects != 2 || c.Reconnects != 1 ||
		!errors.Is(c.LastError, boom) || c.LastErrorAt.IsZero() {
		t.Errorf("record %+v", c)
	}
	l.Disconnected()
	if s := l.Snapshot(time.Now()); s.Connected || s.Connects != 2 {
		t.Errorf("after disconnect %+v", s.Conn)
	}
}

// Both ways of counting (bytes counted here, or by the connection
// itself) reach the byte count and the meter.
func TestCounting(t *testing.T) {
	_, l := New("test", fanout.QueueLimits{}, nil)
	l.Count(1000)
	before := l.Counter().Load()
	l.Counter().Add(500)
	l.MeterSince(before)
	s := l.Snapshot(time.Now())
	if s.BytesSent != 1500 {
		t.Errorf("BytesSent %d, want 1500", s.BytesSent)
	}
	if s.Bitrate <= 0 {
		t.Errorf("Bitrate %d, want > 0", s.Bitrate)
	}
}

func TestTracks(t *testing.T) {
	valid := func(tr *stream.Tracks) *stream.Tracks {
		if len(tr.SPS) == 0 {
			return nil
		}
		return tr
	}
	tests := []struct {
		name  string
		fill  func(in Inlet, l *Link)
		ok    bool
		wantS byte
	}{
		{"units before the tracks are skipped", func(in Inlet, _ *Link) {
			in.WriteAudio(&stream.AudioUnit{Data: []byte{1}})
			in.SetTracks(stream.Tracks{SPS: []byte{7}})
		}, true, 7},
		{"tracks accept refuses are skipped", func(in Inlet, _ *Link) {
			in.SetTracks(stream.Tracks{})
			go func() {
				time.Sleep(20 * time.Millisecond)
				in.SetTracks(stream.Tracks{SPS: []byte{9}})
			}()
		}, true, 9},
		{"closed queue", func(_ Inlet, l *Link) { l.Queue().Close() }, false, 0},
		{"no tracks before the context ends", func(Inlet, *Link) {}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, l := New("test", fanout.QueueLimits{}, nil)
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			tt.fill(in, l)
			got, ok := Tracks(ctx, l, valid)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if ok && (got == nil || got.SPS[0] != tt.wantS) {
				t.Errorf("tracks %+v, want SPS %d", got, tt.wantS)
			}
		})
	}
}

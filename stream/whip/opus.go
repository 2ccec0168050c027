package whip

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"sync"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"

	"github.com/cunbo/cunbo/internal/childproc"
	"github.com/cunbo/cunbo/stream"
)

// opusTranscoder turns the encoder's AAC into the Opus WebRTC requires.
// No pure-Go Opus encoder is available through the module proxy, so a
// small ffmpeg child does it: ADTS in on stdin, Ogg Opus with one 20 ms
// packet per page out on stdout. It lives as long as one session.
type opusTranscoder struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	asc   mpeg4audio.AudioSpecificConfig
	in    chan []byte
	done  chan struct{}
	once  sync.Once
	log   *slog.Logger
}

func startOpus(ctx context.Context, ffmpeg string, t stream.Tracks, out func(pkt []byte, d time.Duration), log *slog.Logger) (*opusTranscoder, error) {
	var asc mpeg4audio.AudioSpecificConfig
	if err := asc.Unmarshal(t.AudioConfig); err != nil {
		return nil, fmt.Errorf("bad AAC config: %w", err)
	}
	path, err := exec.LookPath(ffmpeg)
	if err != nil {
		return nil, fmt.Errorf("ffmpeg for Opus not found: %w", err)
	}
	cmd := exec.CommandContext(ctx, path, "-hide_banner", "-loglevel", "error", "-nostdin",
		"-fflags", "nobuffer", "-probesize", "32", "-analyzeduration", "0",
		"-f", "aac", "-i", "pipe:0",
		"-c:a", "libopus", "-b:a", "48k", "-application", "lowdelay", "-frame_duration", "20",
		"-ar", "48000", "-ac", "2", "-page_duration", "20000", "-flush_packets", "1",
		"-f", "ogg", "pipe:1")
	cmd.WaitDelay = time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := childproc.Start(cmd); err != nil {
		return nil, fmt.Errorf("start ffmpeg: %w", err)
	}
	tx := &opusTranscoder{cmd: cmd, stdin: stdin, asc: asc, in: make(chan []byte, 64), done: make(chan struct{}), log: log}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // feeder: never block the sender on ffmpeg
		defer wg.Done()
		defer stdin.Close()
		for b := range tx.in {
			if _, err := stdin.Write(b); err != nil {
				for range tx.in { // drain until close
				}
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		err := readOgg(stdout, out)
		if err != nil && !errors.Is(err, io.EOF) && ctx.Err() == nil {
			log.Warn("whip: opus transcoder output", "err", err)
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		wg.Wait()
		_ = cmd.Wait()
		close(tx.done)
	}()
	return tx, nil
}

// readOgg hands each Opus packet to out; it skips the two header pages.
func readOgg(r io.Reader, out func([]byte, time.Duration)) error {
	or, _, err := oggreader.NewWith(r)
	if err != nil {
		return err
	}
	var lastGranule uint64
	for {
		payload, hdr, err := or.ParseNextPage()
		if err != nil {
			return err
		}
		if _, ok := hdr.HeaderType(payload); ok {
			continue // OpusTags
		}
		d := 20 * time.Millisecond
		if lastGranule != 0 && hdr.GranulePosition > lastGranule {
			d = time.Duration(hdr.GranulePosition-lastGranule) * time.Second / 48000
		}
		lastGranule = hdr.GranulePosition
		out(payload, d)
	}
}

func (tx *opusTranscoder) write(u *stream.AudioUnit) {
	b, err := mpeg4audio.ADTSPackets{{
		Type: tx.asc.Type, SampleRate: tx.asc.SampleRate, ChannelConfig: tx.asc.ChannelConfig, AU: u.Data,
	}}.Marshal()
	if err != nil {
		return
	}
	select {
	case tx.in <- b:
	default: // transcoder behind: drop rather than stall video
	}
}

func (tx *opusTranscoder) close() {
	tx.once.Do(func() { close(tx.in) })
	select {
	case <-tx.done:
	case <-time.After(2 * time.Second):
		_ = tx.cmd.Process.Kill()
		<-tx.done
	}
}

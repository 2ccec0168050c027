package rtmptest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// ProbeResult is what ffprobe found in a file or URL.
type ProbeResult struct {
	// Duration of the container (zero when ffprobe cannot tell).
	Duration time.Duration
	Streams  []ProbeStream
	// Packets in file order; empty when packets were not requested.
	Packets []ProbePacket
}

// ProbeStream is one elementary stream.
type ProbeStream struct {
	Index     int
	CodecType string // "video" or "audio"
	CodecName string // "h264", "aac", ...
	Profile   string
	Width     int
	Height    int
	// FrameRate is avg_frame_rate, or r_frame_rate when that is unknown.
	FrameRate  float64
	SampleRate int
	Channels   int
	Duration   time.Duration
}

// ProbePacket is one demuxed packet.
type ProbePacket struct {
	StreamIndex int
	PTS, DTS    time.Duration
	Key         bool
	Size        int
}

// Video returns the first video stream, or nil.
func (r *ProbeResult) Video() *ProbeStream { return r.first("video") }

// Audio returns the first audio stream, or nil.
func (r *ProbeResult) Audio() *ProbeStream { return r.first("audio") }

func (r *ProbeResult) first(kind string) *ProbeStream {
	for i := range r.Streams {
		if r.Streams[i].CodecType == kind {
			return &r.Streams[i]
		}
	}
	return nil
}

// PacketsOf returns the packets of one stream.
func (r *ProbeResult) PacketsOf(streamIndex int) []ProbePacket {
	var out []ProbePacket
	for _, p := range r.Packets {
		if p.StreamIndex == streamIndex {
			out = append(out, p)
		}
	}
	return out
}

// CheckMonotonic returns an error naming the first packet of streamIndex
// whose DTS does not increase.
func (r *ProbeResult) CheckMonotonic(streamIndex int) error {
	pk := r.PacketsOf(streamIndex)
	for i := 1; i < len(pk); i++ {
		if pk[i].DTS <= pk[i-1].DTS {
			return fmt.Errorf("stream %d packet %d: dts %v after %v", streamIndex, i, pk[i].DTS, pk[i-1].DTS)
		}
	}
	return nil
}

// Probe runs ffprobe on a media file, with packets.
func Probe(path string) (*ProbeResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return ProbeContext(ctx, path, true)
}

// ProbeContext runs ffprobe on a file or URL. Extra ffprobe input options
// (e.g. "-rtsp_transport", "tcp") go before the input. Ask for packets only
// on finite inputs, or bound them with "-read_intervals".
func ProbeContext(ctx context.Context, input string, packets bool, inputOpts ...string) (*ProbeResult, error) {
	args := []string{"-v", "error", "-print_format", "json", "-show_format", "-show_streams"}
	if packets {
		args = append(args, "-show_packets")
	}
	args = append(args, inputOpts...)
	args = append(args, input)
	cmd := exec.CommandContext(ctx, "ffprobe", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("ffprobe %s: %w: %s", input, err, strings.TrimSpace(stderr.String()))
	}
	return parseProbe(stdout.Bytes())
}

type rawProbe struct {
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
	Streams []struct {
		Index        int    `json:"index"`
		CodecType    string `json:"codec_type"`
		CodecName    string `json:"codec_name"`
		Profile      string `json:"profile"`
		Width        int    `json:"width"`
		Height       int    `json:"height"`
		AvgFrameRate string `json:"avg_frame_rate"`
		RFrameRate   string `json:"r_frame_rate"`
		SampleRate   string `json:"sample_rate"`
		Channels     int    `json:"channels"`
		Duration     string `json:"duration"`
	} `json:"streams"`
	Packets []struct {
		StreamIndex int    `json:"stream_index"`
		PTSTime     string `json:"pts_time"`
		DTSTime     string `json:"dts_time"`
		Size        string `json:"size"`
		Flags       string `json:"flags"`
	} `json:"packets"`
}

func parseProbe(b []byte) (*ProbeResult, error) {
	var raw rawProbe
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("ffprobe output: %w", err)
	}
	r := &ProbeResult{Duration: seconds(raw.Format.Duration)}
	for _, s := range raw.Streams {
		fr := rate(s.AvgFrameRate)
		if fr == 0 {
			fr = rate(s.RFrameRate)
		}
		sr, _ := strconv.Atoi(s.SampleRate)
		r.Streams = append(r.Streams, ProbeStream{
			Index: s.Index, CodecType: s.CodecType, CodecName: s.CodecName, Profile: s.Profile,
			Width: s.Width, Height: s.Height, FrameRate: fr, SampleRate: sr, Channels: s.Channels,
			Duration: seconds(s.Duration),
		})
	}
	for _, p := range raw.Packets {
		size, _ := strconv.Atoi(p.Size)
		r.Packets = append(r.Packets, ProbePacket{
			StreamIndex: p.StreamIndex, PTS: seconds(p.PTSTime), DTS: seconds(p.DTSTime),
			Key: strings.Contains(p.Flags, "K"), Size: size,
		})
	}
	return r, nil
}

// seconds parses ffprobe's "12.345000"; "N/A" and empty give zero.
func seconds(s string) time.Duration {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}

// rate parses "30/1"; "0/0" gives zero.
func rate(s string) float64 {
	n, d, ok := strings.Cut(s, "/")
	if !ok {
		return 0
	}
	num, err1 := strconv.ParseFloat(n, 64)
	den, err2 := strconv.ParseFloat(d, 64)
	if err1 != nil || err2 != nil || den == 0 {
		return 0
	}
	return num / den
}

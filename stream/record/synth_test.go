package record

import (
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"

	"github.com/cunbo/cunbo/stream"
)

// synthTracks are real parameter sets from libx264 (160×120 baseline) and
// the AAC encoder (48 kHz mono), so inits built from them are genuine.
func synthTracks() stream.Tracks {
	return stream.Tracks{
		Width: 160, Height: 120, FPS: 30,
		SPS:         []byte{0x67, 0x42, 0xc0, 0x15, 0xda, 0xa, 0x11, 0xf9, 0x70, 0x11, 0x0, 0x0, 0x3, 0x0, 0x1, 0x0, 0x0, 0x3, 0x0, 0x3c, 0x8f, 0x16, 0x2e, 0xa0},
		PPS:         []byte{0x68, 0xce, 0x3c, 0x80},
		AudioConfig: []byte{0x11, 0x88},
		SampleRate:  48000, Channels: 1,
	}
}

// synthSegment builds a small segment the way the writer does: init, then
// frags fragments of 3 video and 4 audio samples with filler payloads.
func synthSegment(t testing.TB, frags int) []byte {
	t.Helper()
	init, _, err := buildInit(synthTracks())
	if err != nil {
		t.Fatal(err)
	}
	out := append([]byte(nil), init...)
	for i := range frags {
		var video, audio []*fmp4.Sample
		for j := range 3 {
			video = append(video, &fmp4.Sample{Duration: 3000, IsNonSyncSample: j > 0, Payload: []byte{0, 0, 0, 2, 0x65, byte(j)}})
		}
		for j := range 4 {
			audio = append(audio, &fmp4.Sample{Duration: 1024, Payload: []byte{0x21, byte(i), byte(j)}})
		}
		part := fmp4.Part{SequenceNumber: uint32(i + 1), Tracks: []*fmp4.PartTrack{
			{ID: videoTrackID, BaseTime: uint64(i * 9000), Samples: video},
			{ID: audioTrackID, BaseTime: uint64(i * 4096), Samples: audio},
		}}
		var buf seekablebuffer.Buffer
		if err := part.Marshal(&buf); err != nil {
			t.Fatal(err)
		}
		out = append(out, buf.Bytes()...)
	}
	return out
}

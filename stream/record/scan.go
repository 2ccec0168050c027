package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	amp4 "github.com/abema/go-mp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
)

// Limits that keep a corrupt file from making the scanner allocate wildly.
const (
	maxInitSize       = 1 << 20
	maxMoofSize       = 4 << 20
	maxSamplesPerTrun = 20000
)

// sampleRef locates one sample of a scanned segment.
type sampleRef struct {
	offset    int64 // in the file
	size      uint32
	duration  uint32 // track timescale
	ptsOffset int32
	nonSync   bool
}

// trackRun is one track's samples inside one fragment.
type trackRun struct {
	trackID  uint32
	baseTime uint64 // tfdt, track timescale
	samples  []sampleRef
}

// fragmentInfo is one complete moof+mdat pair.
type fragmentInfo struct {
	offset, end int64
	runs        []trackRun
}

// segmentIndex is what a scan learns about a segment file.
type segmentIndex struct {
	init      fmp4.Init
	initEnd   int64
	video     *fmp4.InitTrack // nil when the file has no H.264 track
	audio     *fmp4.InitTrack // nil when the file has no AAC track
	fragments []fragmentInfo
	// validEnd is the end of the last complete fragment (or of the init when
	// there is none): everything after it is a torn tail.
	validEnd int64
}

// duration is how long the segment plays: the furthest track end.
func (s *segmentIndex) duration() (d time.Duration) {
	for _, f := range s.fragments {
		for _, r := range f.runs {
			tr := s.track(r.trackID)
			if tr == nil {
				continue
			}
			end := r.baseTime
			for _, sm := range r.samples {
				end += uint64(sm.duration)
			}
			d = max(d, scaleToDuration(end, tr.TimeScale))
		}
	}
	return d
}

func (s *segmentIndex) track(id uint32) *fmp4.InitTrack {
	for _, t := range s.init.Tracks {
		if uint32(t.ID) == id {
			return t
		}
	}
	return nil
}

// errNoInit marks a file whose ftyp+moov is missing or unreadable: it holds
// no playable media at all.
var errNoInit = errors.New("no valid init (ftyp+moov)")

// scanSegment walks a segment file's boxes, reading only the headers and
// the moof boxes (never the media data), and checks that every fragment is
// complete and self-consistent. It fails only when the init is unusable; a
// torn or corrupt tail just ends the scan, and validEnd says where.
func scanSegment(r io.ReaderAt, size int64) (idx *segmentIndex, err error) {
	defer func() {
		// Box parsing is done by a library on untrusted bytes: a panic
		// there must become an error, not take the recorder down.
		if p := recover(); p != nil {
			idx, err = nil, fmt.Errorf("%w: parser panic: %v", errNoInit, p)
		}
	}()
	idx = &segmentIndex{}

	ftypType, _, ftypSize, err := readBoxHeader(r, 0, size)
	if err != nil || ftypType != "ftyp" {
		return nil, errNoInit
	}
	moovType, _, moovSize, err := readBoxHeader(r, ftypSize, size)
	if err != nil || moovType != "moov" || ftypSize+moovSize > maxInitSize {
		return nil, errNoInit
	}
	initBytes := make([]byte, ftypSize+moovSize)
	if _, err := r.ReadAt(initBytes, 0); err != nil {
		return nil, errNoInit
	}
	if err := idx.init.Unmarshal(bytes.NewReader(initBytes)); err != nil {
		return nil, fmt.Errorf("%w: %w", errNoInit, err)
	}
	for _, t := range idx.init.Tracks {
		switch t.Codec.(type) {
		case *codecs.H264:
			if idx.video == nil {
				idx.video = t
			}
		case *codecs.MPEG4Audio:
			if idx.audio == nil {
				idx.audio = t
			}
		}
	}
	idx.initEnd = ftypSize + moovSize
	idx.validEnd = idx.initEnd

	off := idx.initEnd
	for off < size {
		frag, ok := scanFragment(r, off, size, idx)
		if !ok {
			break
		}
		idx.fragments = append(idx.fragments, frag)
		off = frag.end
		idx.validEnd = off
	}
	return idx, nil
}

// scanFragment reads the moof at off and the mdat after it.
func scanFragment(r io.ReaderAt, off, size int64, idx *segmentIndex) (fragmentInfo, bool) {
	typ, _, moofSize, err := readBoxHeader(r, off, size)
	if err != nil || typ != "moof" || moofSize > maxMoofSize {
		return fragmentInfo{}, false
	}
	mdatOff := off + moofSize
	typ, mdatHdr, mdatSize, err := readBoxHeader(r, mdatOff, size)
	if err != nil || typ != "mdat" {
		return fragmentInfo{}, false
	}
	moof := make([]byte, moofSize)
	if _, err := r.ReadAt(moof, off); err != nil {
		return fragmentInfo{}, false
	}
	runs, err := parseMoof(moof, off)
	if err != nil || len(runs) == 0 {
		return fragmentInfo{}, false
	}
	dataStart, dataEnd := mdatOff+mdatHdr, mdatOff+mdatSize
	for _, run := range runs {
		if idx.track(run.trackID) == nil {
			return fragmentInfo{}, false
		}
		for _, s := range run.samples {
			if s.size == 0 || s.offset < dataStart || s.offset+int64(s.size) > dataEnd {
				return fragmentInfo{}, false
			}
		}
	}
	return fragmentInfo{offset: off, end: dataEnd, runs: runs}, true
}

// readBoxHeader returns a box's type, header length and total size, and
// fails when the box does not fit inside the file.
func readBoxHeader(r io.ReaderAt, off, fileSize int64) (typ string, hdr, boxSize int64, err error) {
	var b [16]byte
	if off < 0 || off+8 > fileSize {
		return "", 0, 0, io.ErrUnexpectedEOF
	}
	if _, err := r.ReadAt(b[:8], off); err != nil {
		return "", 0, 0, err
	}
	boxSize = int64(binary.BigEndian.Uint32(b[:4]))
	typ = string(b[4:8])
	hdr = 8
	switch boxSize {
	case 0: // "to end of file": never written by the recorder
		return "", 0, 0, errors.New("open-ended box")
	case 1:
		if off+16 > fileSize {
			return "", 0, 0, io.ErrUnexpectedEOF
		}
		if _, err := r.ReadAt(b[8:16], off+8); err != nil {
			return "", 0, 0, err
		}
		large := binary.BigEndian.Uint64(b[8:16])
		if large > uint64(fileSize) {
			return "", 0, 0, io.ErrUnexpectedEOF
		}
		boxSize, hdr = int64(large), 16
	}
	if boxSize < hdr || off+boxSize > fileSize {
		return "", 0, 0, io.ErrUnexpectedEOF
	}
	return typ, hdr, boxSize, nil
}

const (
	trunDataOffset       = 0x000001
	trunFirstSampleFlags = 0x000004
	trunSampleDuration   = 0x000100
	trunSampleSize       = 0x000200
	trunSampleFlags      = 0x000400
	trunSampleCTO        = 0x000800
	sampleNonSyncFlag    = 1 << 16
)

// parseMoof decodes the track runs of one moof that starts at moofOff in
// the file, resolving every sample to an absolute file offset.
func parseMoof(moof []byte, moofOff int64) ([]trackRun, error) {
	var runs []trackRun
	var cur *trackRun
	var tfhd *amp4.Tfhd
	var haveTfdt bool
	var nextData int64 // where the next trun's data starts when it has no data offset

	finishTraf := func() error {
		if cur == nil {
			return nil
		}
		if tfhd == nil || !haveTfdt {
			return errors.New("traf without tfhd or tfdt")
		}
		runs = append(runs, *cur)
		cur, tfhd, haveTfdt = nil, nil, false
		return nil
	}

	_, err := amp4.ReadBoxStructure(bytes.NewReader(moof), func(h *amp4.ReadHandle) (any, error) {
		switch h.BoxInfo.Type.String() {
		case "moof":
			if len(h.Path) != 1 || h.BoxInfo.Offset != 0 {
				return nil, errors.New("unexpected moof")
			}
			return h.Expand()
		case "mfhd":
			return nil, nil
		case "traf":
			if err := finishTraf(); err != nil {
				return nil, err
			}
			cur = &trackRun{}
			if _, err := h.Expand(); err != nil {
				return nil, err
			}
			return nil, finishTraf()
		case "tfhd":
			if cur == nil || tfhd != nil {
				return nil, errors.New("unexpected tfhd")
			}
			box, _, err := h.ReadPayload()
			if err != nil {
				return nil, err
			}
			tfhd = box.(*amp4.Tfhd)
			cur.trackID = tfhd.TrackID
			switch flags := tfhd.GetFlags(); {
			case flags&amp4.TfhdBaseDataOffsetPresent != 0:
				if tfhd.BaseDataOffset > 1<<62 {
					return nil, errors.New("base data offset out of range")
				}
				nextData = int64(tfhd.BaseDataOffset)
			case flags&amp4.TfhdDefaultBaseIsMoof != 0 || len(runs) == 0:
				nextData = moofOff
			}
		case "tfdt":
			if cur == nil || tfhd == nil || haveTfdt {
				return nil, errors.New("unexpected tfdt")
			}
			box, _, err := h.ReadPayload()
			if err != nil {
				return nil, err
			}
			cur.baseTime = box.(*amp4.Tfdt).GetBaseMediaDecodeTime()
			haveTfdt = true
		case "trun":
			if cur == nil || tfhd == nil {
				return nil, errors.New("unexpected trun")
			}
			if err := checkTrunSize(moof, h.BoxInfo); err != nil {
				return nil, err
			}
			box, _, err := h.ReadPayload()
			if err != nil {
				return nil, err
			}
			trun := box.(*amp4.Trun)
			flags := trun.GetFlags()
			base := nextData
			if flags&trunDataOffset != 0 {
				base = moofOffsetBase(tfhd, moofOff, nextData) + int64(trun.DataOffset)
			}
			pos := base
			for i, e := range trun.Entries {
				s := sampleRef{offset: pos, duration: tfhd.DefaultSampleDuration, size: tfhd.DefaultSampleSize}
				if flags&trunSampleDuration != 0 {
					s.duration = e.SampleDuration
				}
				if flags&trunSampleSize != 0 {
					s.size = e.SampleSize
				}
				sampleFlags := tfhd.DefaultSampleFlags
				if flags&trunSampleFlags != 0 {
					sampleFlags = e.SampleFlags
				} else if i == 0 && flags&trunFirstSampleFlags != 0 {
					sampleFlags = trun.FirstSampleFlags
				}
				s.nonSync = sampleFlags&sampleNonSyncFlag != 0
				if flags&trunSampleCTO != 0 {
					if trun.Version == 0 {
						s.ptsOffset = int32(e.SampleCompositionTimeOffsetV0)
					} else {
						s.ptsOffset = e.SampleCompositionTimeOffsetV1
					}
				}
				pos += int64(s.size)
				cur.samples = append(cur.samples, s)
			}
			nextData = pos
		}
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	if cur != nil {
		return nil, errors.New("unterminated traf")
	}
	return runs, nil
}

// moofOffsetBase is the base that a trun data offset is relative to.
func moofOffsetBase(tfhd *amp4.Tfhd, moofOff, fallback int64) int64 {
	flags := tfhd.GetFlags()
	switch {
	case flags&amp4.TfhdBaseDataOffsetPresent != 0:
		return int64(tfhd.BaseDataOffset)
	case flags&amp4.TfhdDefaultBaseIsMoof != 0:
		return moofOff
	}
	return fallback
}

// checkTrunSize rejects a trun whose sample count cannot fit in its box,
// before the library allocates an entry per claimed sample.
func checkTrunSize(moof []byte, bi amp4.BoxInfo) error {
	start := int(bi.Offset)
	if start+16 > len(moof) {
		return errors.New("short trun")
	}
	flags := uint32(moof[start+9])<<16 | uint32(moof[start+10])<<8 | uint32(moof[start+11])
	count := binary.BigEndian.Uint32(moof[start+12 : start+16])
	per := 0
	for _, f := range []uint32{trunSampleDuration, trunSampleSize, trunSampleFlags, trunSampleCTO} {
		if flags&f != 0 {
			per += 4
		}
	}
	if count > maxSamplesPerTrun || (per > 0 && uint64(count)*uint64(per) > bi.Size) {
		return fmt.Errorf("trun claims %d samples in %d bytes", count, bi.Size)
	}
	return nil
}

package record

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Segment files are named "<UTC start>-<sequence>.mp4", for example
// 20260314T093012.345Z-00000042.mp4: fixed width, so lexical order is time
// order; no colons, so the names survive FAT/exFAT USB sticks; the sequence
// keeps names unique and orders segments even when the box's clock (a Pi has
// no RTC) jumps when NTP arrives.
const (
	nameTimeLayout = "20060102T150405.000Z"
	nameSuffix     = ".mp4"
)

func segmentName(start time.Time, seq uint64) string {
	return fmt.Sprintf("%s-%08d%s", start.UTC().Format(nameTimeLayout), seq, nameSuffix)
}

// parseSegmentName is the inverse of segmentName; ok is false for files the
// recorder did not make.
func parseSegmentName(name string) (start time.Time, seq uint64, ok bool) {
	base, found := strings.CutSuffix(name, nameSuffix)
	if !found {
		return time.Time{}, 0, false
	}
	ts, seqStr, found := strings.Cut(base, "-")
	if !found || len(seqStr) < 8 {
		return time.Time{}, 0, false
	}
	start, err := time.ParseInLocation(nameTimeLayout, ts, time.UTC)
	if err != nil {
		return time.Time{}, 0, false
	}
	seq, err = strconv.ParseUint(seqStr, 10, 64)
	if err != nil {
		return time.Time{}, 0, false
	}
	return start, seq, true
}

package record

import "time"

// toScale converts a duration to ticks of a track timescale, rounding to
// the nearest tick, without overflowing for recordings many days long.
func toScale(d time.Duration, scale uint32) int64 {
	neg := d < 0
	if neg {
		d = -d
	}
	secs, rem := int64(d/time.Second), int64(d%time.Second)
	v := secs*int64(scale) + (rem*int64(scale)+int64(time.Second)/2)/int64(time.Second)
	if neg {
		return -v
	}
	return v
}

// scaleToDuration converts ticks of a track timescale to a duration.
func scaleToDuration(v uint64, scale uint32) time.Duration {
	if scale == 0 {
		return 0
	}
	s := uint64(scale)
	return time.Duration(v/s)*time.Second + time.Duration((v%s)*uint64(time.Second)/s)
}

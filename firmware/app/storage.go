package app

import (
	"context"
	"fmt"
	"time"

	"github.com/cunbo/cunbo/stream/record"
)

// What she reads about the SD card: plain words, no numbers.
const (
	StorageFullNote   = "存储卡满了，正在删旧录像"
	StorageFailedNote = "存储卡出问题了，录像没有存上"
	// StorageLostNote counts flagged moments deleted before her social
	// worker got them (the store keeps them before recordings, so this
	// means the card is far too small or full of other files).
	StorageLostNote = "卡太满，有 %d 段要给社工看的片段没保住"
)

// storageNoteFor is how long a full or failing card stays on the phone
// page after the recorder last saw it, and how often the LED flashes it.
const storageNoteFor = time.Minute

// storageNote is the phone page's sentence about the card ("" when all is
// well): a card that ran full in the last minute (the recorder deleted
// old recordings to go on), else writes failing now; and, for as long as
// it is true, that flagged moments her social worker never received had
// to be deleted (lost: the flagged store's count).
func storageNote(rs *record.Stats, lost uint64, now time.Time) string {
	var note string
	switch {
	case rs == nil:
	case !rs.LastDiskFull.IsZero() && now.Sub(rs.LastDiskFull) < storageNoteFor:
		// A full card is the likelier cause of failing writes too.
		note = StorageFullNote
	case !rs.Healthy && now.Sub(rs.LastErrorAt) < storageNoteFor:
		note = StorageFailedNote
	}
	if lost > 0 {
		if note != "" {
			note += "；"
		}
		note += fmt.Sprintf(StorageLostNote, lost)
	}
	return note
}

// watchStorage tells the box when the card runs full or fails, so the
// status LED flashes it and the notices list it; at most once a minute,
// since a card full of other files stays full.
func (a *App) watchStorage(ctx context.Context) error {
	rec := a.opts.Pipeline.Recorder()
	if rec == nil {
		return nil
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var seen record.Stats
	var told time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		st := rec.Stats()
		now := time.Now()
		note := ""
		switch {
		case st.DiskFull > seen.DiskFull:
			note = StorageFullNote
		case !st.Healthy && st.WriteErrors > seen.WriteErrors:
			note = StorageFailedNote
		}
		seen = st
		if note != "" && now.Sub(told) >= storageNoteFor {
			told = now
			a.log.Warn("storage notice", "note", note, "last_error", st.LastError,
				"evicted", st.SegmentsEvicted, "gaps", st.Gaps, "gap_total", st.GapTotal)
			a.Box.StorageNotice(note)
		}
	}
}

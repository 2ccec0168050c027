// Package flagged keeps the box's flagged moments on disk: a clip of the
// recording around the moment, the transcript around it, and why it was
// flagged (linter findings, or the streamer's own mark button), stored as one
// directory per segment, ready for upload and for review with her social
// worker.
//
// A segment is written in two steps, each atomic: the transcript and
// findings the moment the streamer is warned (a hidden temp directory, every
// file fsynced, renamed into place, the parent fsynced), then the clip once
// the recording has it (the clip renamed into the directory, then
// segment.json replaced atomically). A power cut therefore leaves either no
// segment or a whole one, at worst still waiting for its clip (ClipPending
// says which range); what interrupted writes leave behind is removed by Open.
// The store is bounded by a byte quota: reviewed or uploaded segments go
// first, oldest first, then the oldest pending ones, each counted
// (Stats.PendingEvicted).
package flagged

import "github.com/cunbo/cunbo/segment"

// The format is the box's contract with the review service and lives in
// package segment; these names keep the store's callers short.
type (
	Segment    = segment.Segment
	Status     = segment.Status
	Clip       = segment.Clip
	Range      = segment.Range
	Transcript = segment.Transcript
	Caption    = segment.Caption
	Finding    = segment.Finding
)

const (
	ReasonFinding  = segment.ReasonFinding
	ReasonMark     = segment.ReasonMark
	StatusPending  = segment.StatusPending
	StatusUploaded = segment.StatusUploaded
	StatusReviewed = segment.StatusReviewed
	SchemaVersion  = segment.SchemaVersion
	CaptionSep     = segment.CaptionSep
	ClipFile       = segment.ClipFile
	JSONFile       = segment.JSONFile
)

// Package retention removes what the review service keeps once its time is
// up, and everything of one streamer's when she asks.
//
// Three kinds are kept for their own time, counted from when the service
// received them (the service's clock, not the box's):
//
//	clips               180 days (the video is the most personal part)
//	transcripts         3 years: a segment's segment.json (words, findings)
//	session records     3 years
//
// Three years is the record-keeping period of the 2026 livestream
// e-commerce rules. A segment whose transcript goes loses its clip too.
//
// A trainer's provisioning drafts (an uploaded catalogue with its photos,
// kept for the cards' preview and the bundle made from it) go 7 days
// after they were saved: the bundle carries what the box needs, and a
// seller's products and photos are not kept for nothing.
//
// Blobs go first, then the rows with their audit entry in one transaction:
// a failure in between leaves rows whose blobs are gone, which the next
// sweep (or the same forget again) finishes; never rows that look deleted
// while their clips stay on disk. The audit log keeps who, when and how
// many, never the content.
package retention

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/cunbo/cunbo/review/blob"
	"github.com/cunbo/cunbo/review/store"
)

// Day is how a retention flag counts.
const Day = 24 * time.Hour

// Defaults (see the package doc).
const (
	DefaultClips       = 180 * Day
	DefaultTranscripts = 1095 * Day
	DefaultSessions    = 1095 * Day
)

// Policy is how long each kind is kept.
type Policy struct {
	Clips, Transcripts, Sessions time.Duration
}

// DefaultPolicy is the policy without flags.
func DefaultPolicy() Policy {
	return Policy{Clips: DefaultClips, Transcripts: DefaultTranscripts, Sessions: DefaultSessions}
}

// Validate refuses a policy that would delete everything at once.
func (p Policy) Validate() error {
	for name, d := range map[string]time.Duration{"clips": p.Clips, "transcripts": p.Transcripts, "session records": p.Sessions} {
		if d < Day {
			return fmt.Errorf("retention: %s kept %v: at least one day", name, d)
		}
	}
	return nil
}

// ParseAge reads a retention time: "180d" (days) or a Go duration ("72h").
func ParseAge(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 32)
		if err != nil || n == 0 || n > 100*365 {
			return 0, fmt.Errorf("retention: %q: want a number of days from 1 to 36500, like 180d", s)
		}
		return time.Duration(n) * Day, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 || d > 100*365*Day {
		return 0, fmt.Errorf("retention: %q: want days like 180d, or a duration like 72h", s)
	}
	return d, nil
}

// ageFlag is a flag.Value over a duration, printed in days.
type ageFlag struct{ d *time.Duration }

func (a ageFlag) String() string {
	if a.d == nil {
		return ""
	}
	if *a.d%Day == 0 {
		return fmt.Sprintf("%dd", *a.d/Day)
	}
	return a.d.String()
}

func (a ageFlag) Set(s string) error {
	d, err := ParseAge(s)
	if err != nil {
		return err
	}
	*a.d = d
	return nil
}

// Register adds --keep-clips, --keep-transcripts and --keep-records to fs,
// defaulting to p's values.
func (p *Policy) Register(fs *flag.FlagSet) {
	fs.Var(ageFlag{&p.Clips}, "keep-clips", "how long clips are kept after upload (days: 180d, or 4320h)")
	fs.Var(ageFlag{&p.Transcripts}, "keep-transcripts", "how long transcripts and findings (segment.json) are kept; their clip goes with them")
	fs.Var(ageFlag{&p.Sessions}, "keep-records", "how long session records are kept")
}

// Counts is what one sweep or forget removed.
type Counts struct {
	Clips, Segments, Sessions int
	// Drafts are provisioning drafts (Sweep only).
	Drafts int
}

// DraftsPrefix is where the console keeps provisioning drafts, one blob
// each. They have no rows: the blob store lists them.
const DraftsPrefix = "provision/drafts/"

// DraftsKept is how long a draft is kept after it was saved.
const DraftsKept = 7 * Day

// batch bounds one transaction, so a first sweep over years of backlog
// does not hold the database for minutes.
const batch = 200

// Actor names the sweep in the audit log.
const Actor = "retention"

// Sweep removes everything past its time at now. It goes on past a blob
// that cannot be deleted (that segment's row stays, for the next sweep)
// and returns what it removed with the errors joined.
func Sweep(ctx context.Context, st store.Store, bs blob.Store, p Policy, now time.Time, log *slog.Logger) (Counts, error) {
	var c Counts
	var errs []error
	entry := func(action string, before time.Time) func(int) *store.AuditEntry {
		return func(n int) *store.AuditEntry {
			if n == 0 {
				return nil
			}
			return &store.AuditEntry{At: now, Actor: Actor, Action: action, Subject: "received before " + before.UTC().Format(time.RFC3339),
				Detail: fmt.Sprintf("count=%d", n)}
		}
	}
	// Whole segments first: their clips go with them, so the clip pass
	// after finds fewer.
	before := now.Add(-p.Transcripts)
	n, err := expire(ctx, st, bs, before, false, entry("retention.segments", before))
	c.Segments += n
	errs = append(errs, err)
	before = now.Add(-p.Clips)
	n, err = expire(ctx, st, bs, before, true, entry("retention.clips", before))
	c.Clips += n
	errs = append(errs, err)
	before = now.Add(-p.Sessions)
	n, err = st.DeleteSessions(ctx, "", before, entry("retention.sessions", before))
	c.Sessions += n
	errs = append(errs, err)
	before = now.Add(-DraftsKept)
	n, err = sweepDrafts(ctx, st, bs, before, entry("retention.drafts", before))
	c.Drafts += n
	errs = append(errs, err)
	if c != (Counts{}) {
		log.Info("retention: removed", "clips", c.Clips, "segments", c.Segments, "session_records", c.Sessions, "drafts", c.Drafts)
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("retention: sweep: %w", err)
	}
	return c, nil
}

// sweepDrafts removes the drafts saved before before. One that cannot be
// deleted stays for the next sweep; the others go all the same.
func sweepDrafts(ctx context.Context, st store.Store, bs blob.Store, before time.Time, audit func(int) *store.AuditEntry) (int, error) {
	infos, err := bs.List(ctx, DraftsPrefix)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, in := range infos {
		if !in.Modified.Before(before) {
			continue
		}
		if err := bs.Delete(ctx, in.Key); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	if e := audit(n); e != nil {
		errs = append(errs, st.AppendAudit(ctx, *e))
	}
	return n, errors.Join(errs...)
}

// expire removes, batch by batch, the segments (or only their clips)
// received before before.
func expire(ctx context.Context, st store.Store, bs blob.Store, before time.Time, clipsOnly bool, audit func(int) *store.AuditEntry) (int, error) {
	total := 0
	for {
		segs, err := st.ExpiredSegments(ctx, before, clipsOnly, batch)
		if err != nil {
			return total, err
		}
		if len(segs) == 0 {
			return total, nil
		}
		refs, err := deleteBlobs(ctx, bs, segs, clipsOnly)
		if len(refs) > 0 {
			var n int
			var derr error
			if clipsOnly {
				n, derr = st.DropClips(ctx, refs, audit)
			} else {
				n, derr = st.DeleteSegments(ctx, refs, audit)
			}
			total += n
			err = errors.Join(err, derr)
		}
		// A batch with a failure is not tried again in this sweep: the
		// same rows would come back first and loop.
		if err != nil || len(segs) < batch {
			return total, err
		}
	}
}

// deleteBlobs removes the segments' clips (and, unless clipsOnly, their
// segment.json) and returns the segments whose blobs are all gone.
func deleteBlobs(ctx context.Context, bs blob.Store, segs []store.Segment, clipsOnly bool) ([]store.SegmentRef, error) {
	var refs []store.SegmentRef
	var errs []error
	for _, g := range segs {
		keys := []string{g.ClipKey}
		if !clipsOnly {
			keys = append(keys, g.JSONKey)
		}
		ok := true
		for _, k := range keys {
			if k == "" {
				continue
			}
			if err := bs.Delete(ctx, k); err != nil {
				errs = append(errs, err)
				ok = false
			}
		}
		if ok {
			refs = append(refs, g.Ref())
		}
	}
	return refs, errors.Join(errs...)
}

// ErrUnknownSegment: forget was given a segment id the box has not (or no
// longer) stored.
var ErrUnknownSegment = errors.New("retention: no such segment")

// Forget removes a streamer's data on her request: with no ids, every
// segment (clip, transcript, findings) and session record of the box; with
// ids, only those segments. An unknown id removes nothing. The audit log
// records who asked (actor), when, and how many were removed.
func Forget(ctx context.Context, st store.Store, bs blob.Store, boxID string, ids []string, actor string, now time.Time) (Counts, error) {
	if actor == "" {
		return Counts{}, errors.New("retention: forget: who asked is required for the audit log")
	}
	if _, err := st.Box(ctx, boxID); err != nil {
		return Counts{}, fmt.Errorf("retention: forget: %w", err)
	}
	var segs []store.Segment
	if len(ids) == 0 {
		all, err := st.Segments(ctx, boxID)
		if err != nil {
			return Counts{}, fmt.Errorf("retention: forget: %w", err)
		}
		segs = all
	} else {
		var missing []string
		for _, id := range ids {
			g, err := st.Segment(ctx, boxID, id)
			switch {
			case errors.Is(err, store.ErrNotFound):
				missing = append(missing, id)
			case err != nil:
				return Counts{}, fmt.Errorf("retention: forget: %w", err)
			default:
				segs = append(segs, g)
			}
		}
		if len(missing) > 0 {
			return Counts{}, fmt.Errorf("retention: forget: %s: %w", strings.Join(missing, ", "), ErrUnknownSegment)
		}
	}
	entry := func(action string) func(int) *store.AuditEntry {
		return func(n int) *store.AuditEntry {
			return &store.AuditEntry{At: now, Actor: actor, Action: action, Subject: "box:" + boxID, Detail: fmt.Sprintf("count=%d", n)}
		}
	}
	var c Counts
	for _, g := range segs {
		if g.ClipKey != "" {
			c.Clips++
		}
	}
	refs, err := deleteBlobs(ctx, bs, segs, false)
	if err != nil {
		// Nothing is reported removed while any of her blobs remain;
		// running forget again finishes the job.
		return Counts{}, fmt.Errorf("retention: forget: %w", err)
	}
	n, err := st.DeleteSegments(ctx, refs, entry("forget.segments"))
	if err != nil {
		return Counts{}, fmt.Errorf("retention: forget: %w", err)
	}
	c.Segments = n
	if len(ids) == 0 {
		n, err := st.DeleteSessions(ctx, boxID, time.Time{}, entry("forget.sessions"))
		if err != nil {
			return c, fmt.Errorf("retention: forget: %w", err)
		}
		c.Sessions = n
	}
	return c, nil
}

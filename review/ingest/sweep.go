package ingest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tus/tusd/v2/pkg/filestore"
	tus "github.com/tus/tusd/v2/pkg/handler"
)

// DefaultAbandonAfter is how long an unfinished upload is kept without a
// byte arriving: a box off the network for a week starts its upload again.
const DefaultAbandonAfter = 7 * 24 * time.Hour

// Sweep removes unfinished uploads nothing was written to for olderThan,
// so uploads that boxes gave up on (a new upload after an error, a box
// revoked or replaced) do not fill the disk. It returns how many it removed.
//
// Uploads kept in S3 are not swept here: a bucket lifecycle rule
// (AbortIncompleteMultipartUpload, and expiry under the uploads/ prefix)
// does it there.
func (h *Handler) Sweep(ctx context.Context, olderThan time.Duration) (int, error) {
	if !h.onDisk {
		return 0, nil
	}
	ents, err := os.ReadDir(h.cfg.UploadDir)
	if err != nil {
		return 0, fmt.Errorf("ingest: sweep: %w", err)
	}
	cutoff := h.cfg.Clock.Now().Add(-olderThan)
	removed := 0
	var errs []error
	for _, d := range ents {
		id, ok := strings.CutSuffix(d.Name(), ".info")
		if !ok || !uploadIDRe.MatchString(id) {
			continue
		}
		// The data file changes with every PATCH; the .info file only at
		// creation.
		fi, err := os.Stat(filepath.Join(h.cfg.UploadDir, id))
		if err != nil {
			fi, err = d.Info()
		}
		if err != nil || fi.ModTime().After(cutoff) {
			continue
		}
		up, err := h.files.GetUpload(ctx, id)
		if errors.Is(err, tus.ErrNotFound) {
			continue
		}
		if err == nil {
			err = h.files.AsTerminatableUpload(up).Terminate(ctx)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		h.cfg.Log.Info("ingest: abandoned upload removed", "upload", id, "last_write", fi.ModTime())
		removed++
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("ingest: sweep: %w", err)
	}
	return removed, nil
}

// RemoveBoxUploads removes the unfinished uploads of one box in uploadDir
// (a forget on her request: a half-sent clip is hers too). It works on
// the directory alone, so the command line can run it beside a serving
// process; an upload being written at that moment fails and the box, if
// it still runs, starts it again.
func RemoveBoxUploads(ctx context.Context, uploadDir, boxID string) (int, error) {
	ents, err := os.ReadDir(uploadDir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("ingest: remove uploads: %w", err)
	}
	files := filestore.New(uploadDir)
	removed := 0
	var errs []error
	for _, d := range ents {
		id, ok := strings.CutSuffix(d.Name(), ".info")
		if !ok || !uploadIDRe.MatchString(id) {
			continue
		}
		up, err := files.GetUpload(ctx, id)
		if errors.Is(err, tus.ErrNotFound) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		info, err := up.GetInfo(ctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if info.MetaData[metaBox] != boxID {
			continue
		}
		if err := files.AsTerminatableUpload(up).Terminate(ctx); err != nil {
			errs = append(errs, err)
			continue
		}
		removed++
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("ingest: remove uploads: %w", err)
	}
	return removed, nil
}

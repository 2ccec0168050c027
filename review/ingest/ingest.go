// Package ingest receives boxes' uploads over tus 1.0 (tusd) at
// /api/uploads/: flagged segments (a tar of segment.json and clip.mp4) and
// session records (JSON).
//
// Every request carries a box's bearer token (boxauth); an upload belongs
// to the box that created it, and a box can only add: there is no download,
// no deletion, and HEAD shows a box only its own uploads' offsets.
//
// When the last byte arrives the whole body is checked before anything is
// stored: its SHA-256 against the sha256 metadata, then its format (wire).
// The blobs are written first (each atomic, under a content-addressed key
// no row names yet), then the row in one transaction, so nothing
// half-written is ever visible. The same (box, id, sha256) again succeeds
// without a second copy; the same id with another hash is 409. A failing
// disk or database answers 503 and acknowledges nothing; the box uploads
// again.
package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/tus/tusd/v2/pkg/filelocker"
	"github.com/tus/tusd/v2/pkg/filestore"
	tus "github.com/tus/tusd/v2/pkg/handler"
	expslog "golang.org/x/exp/slog"

	"github.com/cunbo/cunbo/review/blob"
	"github.com/cunbo/cunbo/review/boxauth"
	"github.com/cunbo/cunbo/review/store"
	"github.com/cunbo/cunbo/review/wire"
)

// BasePath is where the tus endpoint is mounted.
const BasePath = "/api/uploads/"

// DefaultMaxSize bounds an upload: a 30 s clip at the box's recording
// bitrate is well under it.
const DefaultMaxSize = 64 << 20

// Metadata keys (Upload-Metadata) and kinds.
const (
	MetaKind   = "kind"
	MetaID     = "id"
	MetaSHA256 = "sha256"
	metaBox    = "box" // set by the service, never taken from the box

	KindSegment = "segment"
	KindSession = "session"
)

// Config configures a Handler.
type Config struct {
	Store     store.Store
	Blobs     blob.Store
	Auth      *boxauth.Service
	UploadDir string // tus uploads in progress, unless Uploads is set
	// Uploads, when set, keeps uploads in progress instead of UploadDir
	// (tusd's S3 store, so that several servers share them), and Locker
	// keeps two servers from writing one upload at once (pglock).
	Uploads  UploadStore
	Locker   tus.Locker
	MaxSize  int64 // 0: DefaultMaxSize
	Clock    clockwork.Clock
	Log      *slog.Logger
	Observer Observer // nil: nothing observed
}

// Observer is told what uploads do, for the service's metrics.
type Observer interface {
	UploadStarted(kind string)
	UploadCompleted(kind, stored string)
	BytesReceived(n int64)
	QueueAge(d time.Duration)
}

type noObserver struct{}

func (noObserver) UploadStarted(string)           {}
func (noObserver) UploadCompleted(string, string) {}
func (noObserver) BytesReceived(int64)            {}
func (noObserver) QueueAge(time.Duration)         {}

// QueueAgeHeader carries, on upload creation, how long the box's oldest
// pending segment has waited, in whole seconds. It is telemetry: a missing
// or malformed value is ignored, never refused.
const QueueAgeHeader = "Cunbo-Queue-Age"

// maxQueueAge bounds a reported age: a box with a wrong clock must not
// report centuries.
const maxQueueAge = 10 * 365 * 24 * time.Hour

// UploadStore keeps tus uploads in progress (tusd's filestore and s3store
// both are one).
type UploadStore interface {
	tus.DataStore
	AsTerminatableUpload(tus.Upload) tus.TerminatableUpload
}

// Handler serves the tus endpoint.
type Handler struct {
	cfg   Config
	files UploadStore
	// onDisk: uploads are files under UploadDir, which Sweep and
	// RemoveBoxUploads walk.
	onDisk bool
	tus    *tus.Handler
}

// New returns a Handler; cfg.UploadDir is created if needed.
func New(cfg Config) (*Handler, error) {
	if cfg.Store == nil || cfg.Blobs == nil || cfg.Auth == nil || (cfg.UploadDir == "" && cfg.Uploads == nil) {
		return nil, errors.New("ingest: Store, Blobs, Auth and UploadDir or Uploads are required")
	}
	if (cfg.Uploads == nil) != (cfg.Locker == nil) {
		return nil, errors.New("ingest: Uploads and Locker go together")
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = DefaultMaxSize
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Observer == nil {
		cfg.Observer = noObserver{}
	}
	h := &Handler{cfg: cfg, files: cfg.Uploads}
	composer := tus.NewStoreComposer()
	if cfg.Uploads == nil {
		if err := os.MkdirAll(cfg.UploadDir, 0o750); err != nil {
			return nil, fmt.Errorf("ingest: %w", err)
		}
		h.files, h.onDisk = filestore.New(cfg.UploadDir), true
		filelocker.New(cfg.UploadDir).UseIn(composer)
	} else {
		composer.UseLocker(cfg.Locker)
	}
	composer.UseCore(diskErrors{h.files, cfg.Log, cfg.Observer})
	t, err := tus.NewHandler(tus.Config{
		StoreComposer:             composer,
		BasePath:                  BasePath,
		MaxSize:                   cfg.MaxSize,
		DisableDownload:           true,
		DisableTermination:        true,
		DisableConcatenation:      true,
		Cors:                      &tus.CorsConfig{Disable: true},
		PreUploadCreateCallback:   h.preCreate,
		PreFinishResponseCallback: h.preFinish,
		// tusd logs every request at info through x/exp/slog; its
		// warnings and errors are enough next to the service's own log.
		Logger: expslog.New(expslog.NewTextHandler(os.Stderr, &expslog.HandlerOptions{Level: expslog.LevelWarn})),
	})
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	h.tus = t
	return h, nil
}

type boxKey struct{}

// tusd upload ids are 32 hex digits; anything else never reaches the
// file store, so a path cannot name a file outside it.
var uploadIDRe = regexp.MustCompile(`^[0-9a-f]{32}$`)

// s3UploadIDRe: tusd's S3 store names an upload by its object id and the
// bucket's multipart upload id.
var s3UploadIDRe = regexp.MustCompile(`^[0-9a-f]{32}\+[0-9A-Za-z._~=+-]+$`)

// ServeHTTP checks the box's token and the upload's owner, then hands the
// request to tusd.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, e := h.cfg.Auth.Authenticate(r)
	if e != nil {
		boxauth.WriteError(w, e)
		return
	}
	rest := strings.TrimPrefix(r.URL.Path, strings.TrimSuffix(BasePath, "/"))
	rest = strings.TrimPrefix(rest, "/")
	if rest != "" {
		if len(rest) > 1024 || (h.onDisk && !uploadIDRe.MatchString(rest)) || (!h.onDisk && !s3UploadIDRe.MatchString(rest)) {
			writeErr(w, r, newErr(http.StatusNotFound, "no_upload", "no such upload"))
			return
		}
		if err := h.checkOwner(r.Context(), rest, b.ID); err != nil {
			writeErr(w, r, *err)
			return
		}
	}
	ctx := context.WithValue(r.Context(), boxKey{}, b.ID)
	// tusd routes on the path below its base.
	http.StripPrefix(BasePath, h.tus).ServeHTTP(w, r.WithContext(ctx))
}

// checkOwner refuses a request on another box's upload; a missing upload
// is left to tusd (404).
func (h *Handler) checkOwner(ctx context.Context, id, boxID string) *tus.Error {
	up, err := h.files.GetUpload(ctx, id)
	if err != nil {
		if errors.Is(err, tus.ErrNotFound) {
			return nil
		}
		h.cfg.Log.Error("ingest: upload owner", "upload", id, "err", err)
		e := errUnavailable()
		return &e
	}
	info, err := up.GetInfo(ctx)
	if err != nil {
		h.cfg.Log.Error("ingest: upload owner", "upload", id, "err", err)
		e := errUnavailable()
		return &e
	}
	if info.MetaData[metaBox] != boxID {
		e := newErr(http.StatusForbidden, "not_your_upload", "this upload belongs to another box")
		return &e
	}
	return nil
}

func boxFrom(ctx context.Context) string {
	id, _ := ctx.Value(boxKey{}).(string)
	return id
}

var shaRe = regexp.MustCompile(`^[0-9a-f]{64}$`)

// preCreate checks the metadata before any byte is accepted, and stamps
// the upload with its box.
func (h *Handler) preCreate(ev tus.HookEvent) (tus.HTTPResponse, tus.FileInfoChanges, error) {
	boxID := boxFrom(ev.Context)
	info := ev.Upload
	m := info.MetaData
	if boxID == "" {
		return tus.HTTPResponse{}, tus.FileInfoChanges{}, newErr(http.StatusUnauthorized, "no_token", "not signed in")
	}
	if info.SizeIsDeferred {
		return tus.HTTPResponse{}, tus.FileInfoChanges{}, newErr(http.StatusBadRequest, "bad_length", "Upload-Length is required (no deferred length)")
	}
	if age, err := strconv.ParseInt(ev.HTTPRequest.Header.Get(QueueAgeHeader), 10, 64); err == nil && age >= 0 && age <= int64(maxQueueAge/time.Second) {
		h.cfg.Observer.QueueAge(time.Duration(age) * time.Second)
	}
	if err := checkMeta(m); err != nil {
		return tus.HTTPResponse{}, tus.FileInfoChanges{}, err
	}
	if m[MetaKind] == KindSession && info.Size > wire.MaxSession {
		return tus.HTTPResponse{}, tus.FileInfoChanges{}, newErr(http.StatusRequestEntityTooLarge, "too_large",
			fmt.Sprintf("a session record is at most %d bytes", wire.MaxSession))
	}
	meta := tus.MetaData{MetaKind: m[MetaKind], MetaID: m[MetaID], MetaSHA256: m[MetaSHA256], metaBox: boxID}
	return tus.HTTPResponse{}, tus.FileInfoChanges{MetaData: meta}, nil
}

func checkMeta(m tus.MetaData) error {
	bad := func(f string, a ...any) error {
		return newErr(http.StatusBadRequest, "bad_metadata", fmt.Sprintf(f, a...))
	}
	kind, id, sum := m[MetaKind], m[MetaID], m[MetaSHA256]
	switch {
	case kind != KindSegment && kind != KindSession:
		return bad("Upload-Metadata kind must be %q or %q, got %q", KindSegment, KindSession, kind)
	case kind == KindSegment && !wire.ValidSegmentID(id):
		return bad("Upload-Metadata id %q is not a segment id", id)
	case kind == KindSession && !wire.ValidSessionID(id):
		return bad("Upload-Metadata id %q is not a session id", id)
	case !shaRe.MatchString(sum):
		return bad("Upload-Metadata sha256 must be 64 lowercase hex digits")
	}
	return nil
}

// preFinish stores a completed upload, or refuses it; either way the tus
// upload is then removed: what was acknowledged is in the store, and what
// was refused is gone.
func (h *Handler) preFinish(ev tus.HookEvent) (tus.HTTPResponse, error) {
	ctx := ev.Context
	info := ev.Upload
	up, err := h.files.GetUpload(ctx, info.ID)
	if err != nil {
		h.cfg.Log.Error("ingest: finished upload", "upload", info.ID, "err", err)
		return tus.HTTPResponse{}, errUnavailable()
	}
	defer func() {
		if err := h.files.AsTerminatableUpload(up).Terminate(context.WithoutCancel(ctx)); err != nil {
			h.cfg.Log.Error("ingest: remove finished upload", "upload", info.ID, "err", err)
		}
	}()
	created, err := h.store(ctx, up, info)
	log := h.cfg.Log.With("box", info.MetaData[metaBox], "kind", info.MetaData[MetaKind], "id", info.MetaData[MetaID], "bytes", info.Size)
	if err != nil {
		var te tus.Error
		if errors.As(err, &te) {
			log.Warn("ingest: upload refused", "err", err)
			return tus.HTTPResponse{}, te
		}
		log.Error("ingest: upload not stored", "err", err)
		return tus.HTTPResponse{}, errUnavailable()
	}
	state := "existing"
	if created {
		state = "created"
	}
	log.Info("ingest: upload stored", "state", state)
	h.cfg.Observer.UploadCompleted(info.MetaData[MetaKind], state)
	return tus.HTTPResponse{Header: tus.HTTPHeader{"Cunbo-Stored": state}}, nil
}

func (h *Handler) store(ctx context.Context, up tus.Upload, info tus.FileInfo) (bool, error) {
	m := info.MetaData
	if err := h.checkHash(ctx, up, m[MetaSHA256]); err != nil {
		return false, err
	}
	if m[MetaKind] == KindSession {
		return h.storeSession(ctx, up, info)
	}
	return h.storeSegment(ctx, up, info)
}

func (h *Handler) checkHash(ctx context.Context, up tus.Upload, want string) error {
	r, err := up.GetReader(ctx)
	if err != nil {
		return unavailable(err)
	}
	defer r.Close()
	sum := sha256.New()
	if _, err := io.Copy(sum, r); err != nil {
		return unavailable(err)
	}
	if got := hex.EncodeToString(sum.Sum(nil)); got != want {
		// 460 is tus's own status for a checksum mismatch.
		return newErr(460, "hash_mismatch", fmt.Sprintf("body sha256 is %s, Upload-Metadata says %s", got, want))
	}
	return nil
}

func (h *Handler) storeSegment(ctx context.Context, up tus.Upload, info tus.FileInfo) (bool, error) {
	m := info.MetaData
	boxID, id, sum := m[metaBox], m[MetaID], m[MetaSHA256]
	// A retry of a stored segment costs no blob writes.
	if have, err := h.cfg.Store.Segment(ctx, boxID, id); err == nil {
		if have.SHA256 != sum {
			return false, conflict(id)
		}
		return false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, unavailable(err)
	}
	// Check the whole tar before writing anything.
	r, err := up.GetReader(ctx)
	if err != nil {
		return false, unavailable(err)
	}
	seg, raw, err := wire.ReadSegmentTar(r, nil)
	r.Close()
	if err != nil {
		return false, invalid(err)
	}
	if seg.ID != id {
		return false, newErr(http.StatusBadRequest, "id_mismatch", fmt.Sprintf("segment.json id %q, Upload-Metadata id %q", seg.ID, id))
	}
	prefix := "segments/" + boxID + "/" + id + "/" + sum + "/"
	row := store.Segment{BoxID: boxID, ID: id, SHA256: sum, Size: info.Size, Reason: seg.Reason, At: seg.At,
		JSON: raw, JSONKey: prefix + wire.JSONFile, Received: h.cfg.Clock.Now()}
	var written []string
	cleanup := func() {
		for _, k := range written {
			if err := h.cfg.Blobs.Delete(context.WithoutCancel(ctx), k); err != nil {
				h.cfg.Log.Error("ingest: remove blob", "key", k, "err", err)
			}
		}
	}
	if err := h.cfg.Blobs.Put(ctx, row.JSONKey, strings.NewReader(string(raw)), int64(len(raw))); err != nil {
		return false, unavailable(err)
	}
	written = append(written, row.JSONKey)
	if seg.Clip != nil {
		row.ClipKey = prefix + wire.ClipFile
		r, err := up.GetReader(ctx)
		if err != nil {
			cleanup()
			return false, unavailable(err)
		}
		_, _, err = wire.ReadSegmentTar(r, func(body io.Reader, size int64) error {
			return h.cfg.Blobs.Put(ctx, row.ClipKey, body, size)
		})
		r.Close()
		if err != nil {
			cleanup()
			return false, unavailable(err)
		}
		written = append(written, row.ClipKey)
	}
	created, err := h.cfg.Store.PutSegment(ctx, row)
	switch {
	case errors.Is(err, store.ErrConflict):
		// Another upload of this id won a race with other content; its
		// blobs are under its own hash, so ours can go.
		cleanup()
		return false, conflict(id)
	case err != nil:
		// The row may or may not have committed (a connection lost at
		// commit); the blobs stay, content-addressed, for the retry.
		return false, unavailable(err)
	}
	return created, nil
}

func (h *Handler) storeSession(ctx context.Context, up tus.Upload, info tus.FileInfo) (bool, error) {
	m := info.MetaData
	r, err := up.GetReader(ctx)
	if err != nil {
		return false, unavailable(err)
	}
	raw, err := io.ReadAll(io.LimitReader(r, wire.MaxSession+1))
	r.Close()
	if err != nil {
		return false, unavailable(err)
	}
	rec, err := wire.ParseSession(raw)
	if err != nil {
		return false, invalid(err)
	}
	if rec.ID != m[MetaID] {
		return false, newErr(http.StatusBadRequest, "id_mismatch", fmt.Sprintf("session record id %q, Upload-Metadata id %q", rec.ID, m[MetaID]))
	}
	created, err := h.cfg.Store.PutSession(ctx, store.Session{BoxID: m[metaBox], ID: rec.ID, SHA256: m[MetaSHA256], Record: raw, Received: h.cfg.Clock.Now()})
	switch {
	case errors.Is(err, store.ErrConflict):
		return false, conflict(rec.ID)
	case err != nil:
		return false, unavailable(err)
	}
	return created, nil
}

// errBody is the JSON of every refusal, the same shape boxauth uses.
type errBody struct {
	Code    string `json:"error"`
	Message string `json:"message"`
}

func newErr(status int, code, msg string) tus.Error {
	b, _ := json.Marshal(errBody{code, msg})
	return tus.Error{ErrorCode: code, Message: msg, HTTPResponse: tus.HTTPResponse{
		StatusCode: status, Body: string(b) + "\n", Header: tus.HTTPHeader{"Content-Type": "application/json"},
	}}
}

// errUnavailable is the answer to every storage failure: the box keeps
// the upload and sends it again later. The cause is logged, not shown.
func errUnavailable() tus.Error {
	e := newErr(http.StatusServiceUnavailable, "unavailable", "storage is unavailable; upload again later")
	e.HTTPResponse.Header["Retry-After"] = "30"
	return e
}

// unavailable wraps a storage failure; preFinish logs it and answers 503.
func unavailable(err error) error { return fmt.Errorf("ingest: storage: %w", err) }

// invalid turns the box's malformed upload into a refusal, and anything
// else into a storage failure.
func invalid(err error) error {
	if !errors.Is(err, wire.ErrInvalid) {
		return unavailable(err)
	}
	return newErr(http.StatusBadRequest, "invalid_upload", err.Error())
}

func conflict(id string) tus.Error {
	return newErr(http.StatusConflict, "conflict", fmt.Sprintf("%s was already uploaded with other content", id))
}

func writeErr(w http.ResponseWriter, r *http.Request, e tus.Error) {
	for k, v := range e.HTTPResponse.Header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Tus-Resumable", "1.0.0")
	w.WriteHeader(e.HTTPResponse.StatusCode)
	if r.Method != http.MethodHead {
		io.WriteString(w, e.HTTPResponse.Body)
	}
}

// diskErrors turns the upload directory's disk failures (full, read-only,
// failing) into 503 so a box retries instead of giving up on a 500.
type diskErrors struct {
	tus.DataStore
	log *slog.Logger
	obs Observer
}

func (d diskErrors) NewUpload(ctx context.Context, info tus.FileInfo) (tus.Upload, error) {
	up, err := d.DataStore.NewUpload(ctx, info)
	if err != nil {
		return nil, d.diskErr(err)
	}
	d.obs.UploadStarted(info.MetaData[MetaKind])
	return diskUpload{up, d}, nil
}

func (d diskErrors) GetUpload(ctx context.Context, id string) (tus.Upload, error) {
	up, err := d.DataStore.GetUpload(ctx, id)
	if err != nil {
		return nil, d.diskErr(err)
	}
	return diskUpload{up, d}, nil
}

type diskUpload struct {
	tus.Upload
	d diskErrors
}

func (u diskUpload) WriteChunk(ctx context.Context, off int64, src io.Reader) (int64, error) {
	n, err := u.Upload.WriteChunk(ctx, off, src)
	u.d.obs.BytesReceived(n)
	return n, u.d.diskErr(err)
}

func (d diskErrors) diskErr(err error) error {
	for _, e := range []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT, syscall.EROFS, syscall.EIO} {
		if errors.Is(err, e) {
			d.log.Error("ingest: upload directory", "err", err)
			return errUnavailable()
		}
	}
	return err
}

package console

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/cunbo/cunbo/internal/childproc"
)

// posterWidth is a phone's width: the frame is a few tens of KB, so on a
// 3g-speed link the picture at the start point is there long before the
// clip's keyframe is (issue 14: a moment loads in ≤ 2 s).
const posterWidth = 360

// maxPoster bounds the JPEG read back from ffmpeg.
const maxPoster = 1 << 20

// poster serves the clip's frame at ?t= seconds as a small JPEG, cut with
// ffmpeg from the stored clip. Without ffmpeg the page still works: the
// video shows its own first frame once it arrives.
func (c *Console) poster(w http.ResponseWriter, r *http.Request, u who) {
	box, id := r.PathValue("box"), r.PathValue("id")
	at, err := strconv.ParseFloat(r.URL.Query().Get("t"), 64)
	if err != nil || !(at >= 0 && at <= maxClipSecs) { // NaN too
		http.Error(w, "bad t", http.StatusBadRequest)
		return
	}
	g, ok, err := c.ownSegment(r.Context(), u.user.Name, box, id)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	if !ok || g.ClipKey == "" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	rc, err := c.blobs.Open(r.Context(), g.ClipKey)
	if err != nil {
		c.log.Error("console: poster", "key", g.ClipKey, "err", err)
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	defer rc.Close()
	// The mov demuxer seeks between its tracks' samples, which a pipe
	// cannot: ffmpeg gets a file, the blob's own or a spooled copy.
	f, ok := rc.(*os.File)
	if !ok {
		if f, err = spool(rc); err != nil {
			c.internal(w, r, err)
			return
		}
		defer f.Close()
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	// -ss before -i decodes from the keyframe before t.
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-ss", strconv.FormatFloat(at, 'f', 2, 64),
		"-i", "/dev/fd/3", "-frames:v", "1", "-vf", "scale="+strconv.Itoa(posterWidth)+":-2", "-q:v", "8",
		"-f", "image2", "-c:v", "mjpeg", "pipe:1")
	var out, stderr bytes.Buffer
	cmd.ExtraFiles = []*os.File{f}
	cmd.Stdout, cmd.Stderr = &limited{b: &out, n: maxPoster}, &limited{b: &stderr, n: 4 << 10}
	err = childproc.Run(cmd)
	if errors.Is(err, exec.ErrNotFound) {
		http.Error(w, "no poster", http.StatusNotFound)
		return
	}
	if err != nil || out.Len() == 0 || out.Len() >= maxPoster {
		c.log.Error("console: poster", "box", box, "segment", id, "err", err, "bytes", out.Len(), "ffmpeg", stderr.String())
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	c.audit(r.Context(), u, r, "clip.poster", box+"/"+id, "")
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Cache-Control", "private, no-store")
	w.Header().Set("Content-Length", strconv.Itoa(out.Len()))
	w.Write(out.Bytes())
}

// maxClipSecs bounds t: no clip is longer than the recorder cuts (2 h).
const maxClipSecs = 2 * 60 * 60

// limited keeps at most n bytes and drops the rest, so a runaway ffmpeg
// cannot grow memory; a full buffer is seen by its length.
type limited struct {
	b *bytes.Buffer
	n int
}

func (l *limited) Write(p []byte) (int, error) {
	if room := l.n - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

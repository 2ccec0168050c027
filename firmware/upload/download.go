package upload

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Download GETs path (relative to the service, query allowed) with the
// box's bearer token, signing in as Do does, and copies a 200 answer's
// body into w; ok is false for 204 (nothing to fetch). A body over max
// bytes is an error, as is one cut short. The http.Client given to
// NewBoxClient bounds the whole download: give one with a Timeout long
// enough for max bytes over the box's link.
func (b *BoxClient) Download(ctx context.Context, path string, w io.Writer, max int64) (hdr http.Header, ok bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for try := 0; ; try++ {
		if err := b.c.ensureToken(ctx); err != nil {
			return nil, false, err
		}
		hdr, ok, err = b.c.download(ctx, path, w, max)
		if kindOf(err) == errAuth && try == 0 {
			b.c.token = "" // expired or forgotten by the service
			continue
		}
		return hdr, ok, err
	}
}

func (c *client) download(ctx context.Context, path string, w io.Writer, max int64) (http.Header, bool, error) {
	target := c.base.JoinPath(path)
	if p, q, ok := strings.Cut(path, "?"); ok {
		target = c.base.JoinPath(p)
		target.RawQuery = q
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target.String(), nil)
	if err != nil {
		return nil, false, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, false, &reqError{kind: errRetry, err: fmt.Errorf("upload: %s: %w", path, err)}
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNoContent:
		return resp.Header, false, nil
	case http.StatusOK:
	default:
		return nil, false, statusError(resp)
	}
	if resp.ContentLength > max {
		return nil, false, &reqError{status: http.StatusRequestEntityTooLarge, err: fmt.Errorf("upload: %s: %d bytes, at most %d", path, resp.ContentLength, max)}
	}
	n, err := io.Copy(w, io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, false, &reqError{kind: errRetry, err: fmt.Errorf("upload: %s: %w", path, err)}
	}
	if n > max {
		return nil, false, &reqError{status: http.StatusRequestEntityTooLarge, err: fmt.Errorf("upload: %s: over %d bytes", path, max)}
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return nil, false, &reqError{kind: errRetry, err: fmt.Errorf("upload: %s: %d of %d bytes", path, n, resp.ContentLength)}
	}
	return resp.Header, true, nil
}

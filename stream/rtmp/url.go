package rtmp

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/cunbo/cunbo/internal/secret"
)

// target is a publish URL split the way RTMP ingest services (and ffmpeg)
// read it: rtmp://host[:port]/app/streamKey[?query], where the query
// (often an expiry and signature) belongs to the stream key.
type target struct {
	lib  *url.URL // gortmplib form: path is the app, fragment the key
	safe string   // for logs and errors: the key is a secret
}

func parseTarget(raw string) (target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return target{}, fmt.Errorf("rtmp: bad URL: %w", errors.Unwrap(err))
	}
	if u.Scheme != "rtmp" && u.Scheme != "rtmps" {
		return target{}, fmt.Errorf("rtmp: URL scheme %q, want rtmp or rtmps", u.Scheme)
	}
	if u.Host == "" {
		return target{}, errors.New("rtmp: URL has no host")
	}
	app, key, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if app == "" || key == "" {
		return target{}, errors.New("rtmp: URL path must be /app/streamKey")
	}
	if u.RawQuery != "" {
		key += "?" + u.RawQuery
	}
	lib := &url.URL{Scheme: u.Scheme, User: u.User, Host: u.Host, Path: "/" + app, Fragment: key}
	return target{lib: lib, safe: secret.URL(raw)}, nil
}

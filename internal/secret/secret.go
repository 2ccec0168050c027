// Package secret is the one rule for showing stream keys and tokens: show
// none of them. Not the first characters, not the last, not their length:
// the status page, the terminal and the logs are read over shoulders, in
// screenshots sent to a trainer, in journals copied off the box. A secret
// is shown as Mask; an ingest address keeps only what says where the
// stream goes (scheme, host, and an RTMP application name).
package secret

import (
	"net/url"
	"sort"
	"strings"
)

// Mask stands for a secret, whatever it is.
const Mask = "****"

// Key is how a stream key or bearer token is shown: Mask, or "" when
// there is none (so "no key" stays visible).
func Key(k string) string {
	if k == "" {
		return ""
	}
	return Mask
}

// URL is how an ingest address is shown. An RTMP URL
// (rtmp://host/app/key?query) keeps scheme, host and app; any other
// (a WHIP endpoint may carry a key anywhere in its path or query) keeps
// scheme and host. Whatever else it had, user and password included,
// becomes Mask. An address that cannot be read is shown as Mask alone.
func URL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "" {
		return Mask
	}
	out := u.Scheme + "://" + u.Host
	rest := strings.TrimPrefix(u.EscapedPath(), "/")
	if u.Scheme == "rtmp" || u.Scheme == "rtmps" {
		app, tail, _ := strings.Cut(rest, "/")
		if app != "" {
			out += "/" + app
		}
		rest = tail
	}
	if rest != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		out += "/" + Mask
	}
	return out
}

// Scrub replaces every secret in text (an error from a library that quotes
// what it was given) by Mask; URLs among secrets by their URL form first,
// so the host still shows. Empty secrets are ignored.
func Scrub(text string, secrets ...string) string {
	s := append([]string(nil), secrets...)
	// Longest first: a key is often part of the URL that carries it.
	sort.Slice(s, func(i, j int) bool { return len(s[i]) > len(s[j]) })
	for _, sec := range s {
		if sec == "" {
			continue
		}
		repl := Mask
		if strings.Contains(sec, "://") {
			repl = URL(sec)
		}
		text = strings.ReplaceAll(text, sec, repl)
		if esc := url.PathEscape(sec); esc != sec {
			text = strings.ReplaceAll(text, esc, repl)
		}
	}
	return text
}

package lint

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Cue is one timed caption from a subtitle file.
type Cue struct {
	Start, End time.Duration
	Text       string
	// Line is the 1-based line of the cue's first text line in the file.
	Line int
}

// SubtitleError lists the cues of a subtitle file that could not be read;
// the cues that could are still returned.
type SubtitleError struct {
	Source   string
	Problems []LineError
}

func (e *SubtitleError) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s:%d: %s", e.Source, p.Line, p.Msg)
	}
	return b.String()
}

const maxSubtitleBytes = 64 << 20

// vttTag is compiled on first use: a box that never reads a .vtt file
// should not pay for it at every start.
var vttTag = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`<[^>]*>`) })

// ParseSubtitles reads an SRT or WebVTT file (vtt selects WebVTT). Good
// cues are returned even when some are malformed; every bad one is named
// in the *SubtitleError.
func ParseSubtitles(source string, r io.Reader, vtt bool) ([]Cue, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxSubtitleBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", source, err)
	}
	if len(data) > maxSubtitleBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", source, maxSubtitleBytes)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	serr := &SubtitleError{Source: source}
	fail := func(line int, format string, args ...any) {
		if len(serr.Problems) < 100 {
			serr.Problems = append(serr.Problems, LineError{line, fmt.Sprintf(format, args...)})
		}
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), maxSubtitleBytes)
	for sc.Scan() {
		lines = append(lines, strings.TrimRight(sc.Text(), "\r"))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	i := 0
	if vtt {
		if len(lines) == 0 || !strings.HasPrefix(lines[0], "WEBVTT") {
			return nil, &SubtitleError{Source: source, Problems: []LineError{{1, "a WebVTT file must start with WEBVTT"}}}
		}
		i = 1
	}
	var cues []Cue
	for i < len(lines) {
		if strings.TrimSpace(lines[i]) == "" {
			i++
			continue
		}
		blockStart := i
		j := i
		for j < len(lines) && strings.TrimSpace(lines[j]) != "" {
			j++
		}
		block := lines[i:j]
		i = j
		if vtt && (strings.HasPrefix(block[0], "NOTE") || block[0] == "STYLE" || block[0] == "REGION") {
			continue
		}
		t := 0
		if !strings.Contains(block[0], "-->") {
			t = 1 // cue number (SRT) or identifier (WebVTT)
			if !vtt {
				if _, err := strconv.Atoi(strings.TrimSpace(block[0])); err != nil {
					fail(blockStart+1, "expected a cue number or a timing line, got %q", clip(block[0]))
					continue
				}
			}
		}
		if t >= len(block) {
			fail(blockStart+1, "cue has no timing line")
			continue
		}
		start, end, err := parseTiming(block[t], vtt)
		if err != nil {
			fail(blockStart+t+1, "%v", err)
			continue
		}
		textLines := block[t+1:]
		if len(textLines) == 0 {
			fail(blockStart+t+1, "cue has no text")
			continue
		}
		var text []string
		bad := false
		for k, tl := range textLines {
			if !utf8.ValidString(tl) {
				fail(blockStart+t+2+k, "not valid UTF-8")
				bad = true
				break
			}
			if vtt {
				tl = vttTag().ReplaceAllString(tl, "")
				tl = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">", "&nbsp;", " ").Replace(tl)
			}
			text = append(text, tl)
		}
		if bad {
			continue
		}
		cues = append(cues, Cue{Start: start, End: end, Text: strings.Join(text, " "), Line: blockStart + t + 2})
	}
	if len(serr.Problems) > 0 {
		return cues, serr
	}
	return cues, nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

func parseTiming(s string, vtt bool) (time.Duration, time.Duration, error) {
	a, b, ok := strings.Cut(s, "-->")
	if !ok {
		return 0, 0, fmt.Errorf("expected \"start --> end\", got %q", clip(s))
	}
	b = strings.TrimSpace(b)
	if f := strings.Fields(b); len(f) > 0 {
		b = f[0] // WebVTT cue settings follow the end time
	}
	start, err := parseTimestamp(strings.TrimSpace(a), vtt)
	if err != nil {
		return 0, 0, err
	}
	end, err := parseTimestamp(b, vtt)
	if err != nil {
		return 0, 0, err
	}
	if end < start {
		return 0, 0, fmt.Errorf("cue ends (%s) before it starts (%s)", b, strings.TrimSpace(a))
	}
	return start, end, nil
}

var errTimestamp = errors.New("bad timestamp")

// parseTimestamp reads HH:MM:SS,mmm (SRT) or [HH:]MM:SS.mmm (WebVTT).
func parseTimestamp(s string, vtt bool) (time.Duration, error) {
	sep := ","
	if vtt {
		sep = "."
	}
	hms, frac, ok := strings.Cut(s, sep)
	if !ok && !vtt {
		hms, frac, ok = strings.Cut(s, ".") // common SRT variant
	}
	if !ok || len(frac) == 0 || len(frac) > 3 {
		return 0, fmt.Errorf("%w %q", errTimestamp, clip(s))
	}
	parts := strings.Split(hms, ":")
	if len(parts) < 2 || len(parts) > 3 || (!vtt && len(parts) != 3) {
		return 0, fmt.Errorf("%w %q", errTimestamp, clip(s))
	}
	var vals [3]int
	for k, p := range parts {
		if p == "" || len(p) > 4 {
			return 0, fmt.Errorf("%w %q", errTimestamp, clip(s))
		}
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("%w %q", errTimestamp, clip(s))
		}
		vals[3-len(parts)+k] = v
	}
	if vals[1] > 59 || vals[2] > 59 {
		return 0, fmt.Errorf("%w %q: minutes and seconds must be below 60", errTimestamp, clip(s))
	}
	ms, err := strconv.Atoi(frac + strings.Repeat("0", 3-len(frac)))
	if err != nil || ms < 0 {
		return 0, fmt.Errorf("%w %q", errTimestamp, clip(s))
	}
	return time.Duration(vals[0])*time.Hour + time.Duration(vals[1])*time.Minute +
		time.Duration(vals[2])*time.Second + time.Duration(ms)*time.Millisecond, nil
}

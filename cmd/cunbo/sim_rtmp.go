package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
)

// rtmpEnv holds ingest URLs for `cunbo sim`, separated by spaces or new
// lines. Like --rtmp-file it keeps the stream key off the command line,
// where every user of the machine reads it with ps.
const rtmpEnv = "CUNBO_RTMP"

// simRTMPURLs gathers the ingest URLs from --rtmp, --rtmp-file and
// CUNBO_RTMP, in that order. A file holds one URL a line; blank lines and
// lines starting with # are skipped. Errors never quote a line: it holds
// a key.
func simRTMPURLs(flagURLs []string, file string, getenv func(string) string) ([]string, error) {
	urls := append([]string(nil), flagURLs...)
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("--rtmp-file: %w", err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 64<<10)
		for n := 1; sc.Scan(); n++ {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if len(strings.Fields(line)) != 1 {
				return nil, fmt.Errorf("--rtmp-file %s line %d: one URL a line, nothing else", file, n)
			}
			urls = append(urls, line)
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("--rtmp-file %s: %w", file, err)
		}
	}
	urls = append(urls, strings.Fields(getenv(rtmpEnv))...)
	return urls, nil
}

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The demo started outside the checkout used to loop a tone without a
// word said: no captions, no warnings, a checker that looked broken. The
// speech is found above the binary too, and when there is none the
// terminal says so and how to give one.
func TestSimSpeechClip(t *testing.T) {
	repoDir, err := os.Getwd() // cmd/cunbo in the checkout
	if err != nil {
		t.Fatal(err)
	}
	if findSpeechWAV(repoDir) == "" {
		t.Fatalf("the shared test speech %s is not beside the checkout", defaultSpeechWAV)
	}
	elsewhere := t.TempDir()
	for _, tc := range []struct {
		name string
		dirs []string
		want bool
	}{
		{"in the checkout", []string{repoDir}, true},
		{"started elsewhere, binary in the checkout", []string{elsewhere, filepath.Join(repoDir, "..", "..", "bin")}, true},
		{"no directory known", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := findSpeechWAV(tc.dirs...)
			if (got != "") != tc.want {
				t.Fatalf("findSpeechWAV(%q) = %q, want found=%v", tc.dirs, got, tc.want)
			}
			if got != "" && filepath.Base(got) != filepath.Base(defaultSpeechWAV) {
				t.Fatalf("found %q", got)
			}
		})
	}

	// No speech anywhere it looked (a machine with the binary only): the
	// simulator still runs, on a tone, and says so in her terminal.
	t.Run("none found, said", func(t *testing.T) {
		d := t.TempDir()
		var warn bytes.Buffer
		_, err := buildSim(simConfig{Card: 1, RecordQuota: 64 << 20, RecordDir: filepath.Join(d, "recording"), DataDir: d,
			PIN: "381957", VideoKbps: 1500, findSpeech: func() string { return findSpeechWAV() }}, &warn)
		if err != nil {
			t.Fatalf("buildSim without speech: %v", err)
		}
		for _, want := range []string{"没有找到讲话录音", "--audio", defaultSpeechWAV} {
			if !strings.Contains(warn.String(), want) {
				t.Errorf("the terminal says %q, want %q in it", warn.String(), want)
			}
		}
	})
	t.Run("a clip named that is not there", func(t *testing.T) {
		d := t.TempDir()
		missing := filepath.Join(d, "说话.wav")
		_, err := buildSim(simConfig{Card: 1, RecordQuota: 64 << 20, RecordDir: filepath.Join(d, "recording"), DataDir: d,
			PIN: "381957", VideoKbps: 1500, AudioWAV: missing}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), missing) {
			t.Fatalf("buildSim with a missing --audio: %v, want an error naming it", err)
		}
	})
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func runCLI(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := dispatch(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

func decodeJSONL(t *testing.T, out string) []lintRecord {
	t.Helper()
	var recs []lintRecord
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" && out == "" {
			break
		}
		var r lintRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("output line %q is not JSON: %v", line, err)
		}
		recs = append(recs, r)
	}
	return recs
}

func TestLintJSONLOneObjectPerLineInOrder(t *testing.T) {
	big := strings.Repeat("好吃的腊肉", 1<<20/15) + "全网最低价"
	input := strings.Join([]string{
		"今天的辣椒酱全网最低价",
		"",
		"最好放阴凉处",
		"bad \xff\xfe utf8 全网最低价",
		"控制\x01字符\x07加我威信",
		big,
		"最后一行没有换行",
	}, "\n")
	out, stderr, code := runCLI(t, input, "lint", "--format", "jsonl")
	recs := decodeJSONL(t, out)
	if len(recs) != 7 {
		t.Fatalf("got %d records for 7 lines", len(recs))
	}
	if code != 1 || !strings.Contains(stderr, "stdin:4: invalid UTF-8 at byte 4") {
		t.Fatalf("exit %d, stderr %q: want 1 and the bad line named", code, stderr)
	}
	if f := recs[0].Findings; len(f) != 1 || f[0].Category != "ABS" || f[0].Start != 6 || f[0].End != 11 || f[0].Match != "全网最低价" {
		t.Errorf("line 1 findings %+v", f)
	}
	if recs[1].Text != "" || recs[1].Findings == nil || len(recs[1].Findings) != 0 {
		t.Errorf("empty line record %+v", recs[1])
	}
	if len(recs[2].Findings) != 0 {
		t.Errorf("usage tip flagged: %+v", recs[2].Findings)
	}
	if recs[3].Error == "" {
		t.Errorf("invalid line has no error: %+v", recs[3])
	}
	if f := recs[4].Findings; len(f) != 1 || f[0].Category != "OFFPLAT" {
		t.Errorf("control characters: %+v", f)
	}
	if f := recs[5].Findings; len(f) == 0 || f[len(f)-1].Match != "全网最低价" {
		t.Errorf("1 MB line lost its finding")
	}
	if recs[6].Text != "最后一行没有换行" {
		t.Errorf("last line %q", recs[6].Text)
	}
	if !strings.Contains(out, `"findings":[]`) {
		t.Error("clean lines must carry an empty findings array, not null")
	}
}

func TestLintExitStatus(t *testing.T) {
	dir := t.TempDir()
	badPack := filepath.Join(dir, "bad.pack")
	os.WriteFile(badPack, []byte("version = 1\n[rule X]\ncategory = NOPE\n"), 0o644)
	tests := []struct {
		name     string
		stdin    string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"findings are not an error", "全网最低价\n", []string{"lint"}, 0, ""},
		{"empty input", "", []string{"lint", "--format", "jsonl"}, 0, ""},
		{"bad format flag", "", []string{"lint", "--format", "xml"}, 2, "--format"},
		{"missing file", "", []string{"lint", filepath.Join(dir, "nope.txt")}, 1, "no such file"},
		{"bad rule pack", "x\n", []string{"lint", "--rules", badPack}, 1, "bad.pack:3: unknown category"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, tt.stdin, tt.args...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.wantErr) {
				t.Fatalf("exit %d stderr %q; want %d and %q", code, stderr, tt.wantCode, tt.wantErr)
			}
		})
	}
}

func TestLintSubtitleFileCatchesSplitPhrase(t *testing.T) {
	dir := t.TempDir()
	srt := filepath.Join(dir, "live.srt")
	os.WriteFile(srt, []byte("1\n00:00:01,000 --> 00:00:02,000\n今天价格是全网\n\n2\n00:00:02,100 --> 00:00:03,000\n最低价了\n\n3\n00:00:0x,000 --> 00:00:04,000\n坏的\n"), 0o644)
	out, stderr, code := runCLI(t, "", "lint", "--format", "jsonl", srt)
	recs := decodeJSONL(t, out)
	if len(recs) != 2 {
		t.Fatalf("got %d records, want the 2 good cues", len(recs))
	}
	if code != 1 || !strings.Contains(stderr, "live.srt:10: bad timestamp") {
		t.Fatalf("exit %d stderr %q", code, stderr)
	}
	if len(recs[0].Findings)+len(recs[1].Findings) != 1 {
		t.Fatalf("want exactly one finding across the two cues: %+v", recs)
	}
	f := recs[1].Findings
	if len(f) != 1 || !f[0].FromPrevious || f[0].Match != "全网最低价" || *recs[1].Start != 2.1 {
		t.Fatalf("cue 2: %+v", recs[1])
	}
}

func TestLintTextFormatMarksFindings(t *testing.T) {
	out, _, code := runCLI(t, "我们的蜂蜜能治胃病\n最近很忙\n", "lint", "--color", "never")
	if code != 0 {
		t.Fatal(code)
	}
	for _, want := range []string{"【能治胃病】", "MED 疾病治疗功效", "换个说法：", "依据：《广告法》第十七条", "✓ 最近很忙", "共 2 句，发现 1 处"} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}
	colored, _, _ := runCLI(t, "全网最低价\n", "lint", "--color", "always")
	if !strings.Contains(colored, "\x1b[") {
		t.Error("--color always printed no colour")
	}
}

// BenchmarkLintColdStart runs the real binary once per iteration: rules
// and dictionary loaded, first result out. It reports the process's
// maximum RSS beside the time, and the same binary printing its help
// (help-ms, help-maxRSS-MB): what every command pays before the linter
// starts (the runtime and the init of every package linked in), so
// lint-ms-over-help is the linter's own share. With
// CUNBO_BENCH_EMULATOR=qemu-aarch64-static it builds for arm64 and runs
// the binary under that emulator (make bench-lint-arm64); the RSS is then
// the emulator's, the binary's inside it.
func BenchmarkLintColdStart(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "cunbo")
	emulator := os.Getenv("CUNBO_BENCH_EMULATOR")
	build := exec.Command("go", "build", "-tags", "ne", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if emulator != "" {
		build.Env = append(build.Env, "GOOS=linux", "GOARCH=arm64")
	}
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	// The peak RSS comes from GNU time, which forks: Go starts a child
	// with vfork, so the child's own ru_maxrss starts at this test
	// process's peak (every figure read ~29 MB on amd64 that way).
	gnuTime, err := exec.LookPath("/usr/bin/time")
	if err != nil {
		b.Fatalf("needs GNU time for the peak RSS (make deps installs it): %v", err)
	}
	rssFile := filepath.Join(b.TempDir(), "rss")
	command := func(args ...string) *exec.Cmd {
		args = append([]string{"-f", "%M", "-o", rssFile, bin}, args...)
		if emulator != "" {
			args = append([]string{"-f", "%M", "-o", rssFile, emulator}, args[4:]...)
		}
		return exec.Command(gnuTime, args...)
	}
	maxRSS := func() int64 {
		text, err := os.ReadFile(rssFile)
		if err != nil {
			b.Fatal(err)
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(string(text)), 10, 64)
		if err != nil {
			b.Fatalf("GNU time wrote %q: %v", text, err)
		}
		return kb
	}
	var lintRSS, helpRSS int64
	var lintTime, helpTime time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		help := command("--help")
		start := time.Now()
		if out, err := help.CombinedOutput(); err != nil || !bytes.Contains(out, []byte("lint")) {
			b.Fatalf("help: %v %s", err, out)
		}
		helpTime += time.Since(start)
		helpRSS = max(helpRSS, maxRSS())

		lint := command("lint", "--format", "jsonl")
		lint.Stdin = strings.NewReader("今天的辣椒酱全网最低价\n")
		start = time.Now()
		out, err := lint.Output()
		lintTime += time.Since(start)
		if err != nil || !bytes.Contains(out, []byte(`"ABS"`)) {
			b.Fatalf("run: %v %s", err, out)
		}
		lintRSS = max(lintRSS, maxRSS())
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	b.ReportMetric(ms(lintTime), "lint-ms")
	b.ReportMetric(ms(helpTime), "help-ms")
	b.ReportMetric(ms(lintTime-helpTime), "lint-ms-over-help")
	b.ReportMetric(float64(lintRSS)/1024, "maxRSS-MB")
	b.ReportMetric(float64(helpRSS)/1024, "help-maxRSS-MB")
	b.ReportMetric(0, "ns/op")
}

// TestLintJudgesWholeLines: a line of a file is a whole utterance, so the
// category model judges it even when it ends in the start of a rule
// phrase (a partial caption would be left to the rules).
func TestLintJudgesWholeLines(t *testing.T) {
	const line = "吃了这个酸汤 你家里的胃药就可以扔掉了"
	out, stderr, code := runCLI(t, line+"\n", "lint", "--format", "jsonl")
	recs := decodeJSONL(t, out)
	if code != 0 || len(recs) != 1 {
		t.Fatalf("exit %d, stderr %q, %d records", code, stderr, len(recs))
	}
	if f := recs[0].Findings; len(f) != 1 || f[0].Category != "MED" || f[0].Rule != "model-MED" || f[0].Match != line {
		t.Fatalf("findings %+v, want the model's MED over the whole line", f)
	}
}

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/cunbo/cunbo/lint"
)

// maxLintLine bounds one input line; a longer one is reported, not read
// into memory without limit.
const maxLintLine = 16 << 20

type lintOptions struct {
	format string
	color  bool
}

// lintRecord is one JSON line of `cunbo lint --format jsonl`.
type lintRecord struct {
	Text     string        `json:"text"`
	Start    *float64      `json:"start,omitempty"`
	End      *float64      `json:"end,omitempty"`
	Findings []lintFinding `json:"findings"`
	Error    string        `json:"error,omitempty"`
}

type lintFinding struct {
	lint.Finding
	// FromPrevious marks a phrase that began in the previous caption
	// (全网最 | 低价); Start is then 0 and Match holds the whole phrase.
	FromPrevious bool `json:"from_previous,omitempty"`
}

func runLint(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lint", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rules := fs.String("rules", "", "rule pack file (default: the built-in pack)")
	format := fs.String("format", "text", "output format: text or jsonl")
	color := fs.String("color", "auto", "colour the text format: auto, always or never")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: cunbo lint [--rules FILE] [--format text|jsonl] [FILE...]")
		fmt.Fprintln(stderr, "Reads one utterance per line (stdin when no FILE); .srt and .vtt files are read as timed captions.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *format != "text" && *format != "jsonl" {
		fmt.Fprintf(stderr, "cunbo lint: --format must be text or jsonl, not %q\n", *format)
		return 2
	}
	opts := lintOptions{format: *format}
	switch *color {
	case "always":
		opts.color = true
	case "never":
	case "auto":
		opts.color = isTerminal(stdout) && os.Getenv("NO_COLOR") == ""
	default:
		fmt.Fprintf(stderr, "cunbo lint: --color must be auto, always or never, not %q\n", *color)
		return 2
	}
	l, err := loadLinter(*rules)
	if err != nil {
		fmt.Fprintf(stderr, "cunbo lint: %v\n", err)
		return 1
	}
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	p := &lintPrinter{w: w, opts: opts}
	failed := false
	if fs.NArg() == 0 {
		failed = lintLines(ctx, l, "stdin", stdin, p, stderr) || failed
	}
	for _, name := range fs.Args() {
		if ctx.Err() != nil {
			break
		}
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintf(stderr, "cunbo lint: %v\n", err)
			failed = true
			continue
		}
		switch strings.ToLower(filepath.Ext(name)) {
		case ".srt", ".vtt":
			failed = lintSubtitles(l, name, f, strings.EqualFold(filepath.Ext(name), ".vtt"), p, stderr) || failed
		default:
			failed = lintLines(ctx, l, name, f, p, stderr) || failed
		}
		f.Close()
	}
	p.summary()
	if err := w.Flush(); err != nil {
		fmt.Fprintf(stderr, "cunbo lint: write output: %v\n", err)
		return 1
	}
	if failed || ctx.Err() != nil {
		return 1
	}
	return 0
}

// lintLines lints one utterance per line and reports whether any line
// could not be read. A bad line still yields its output record.
func lintLines(ctx context.Context, l *lint.Linter, name string, r io.Reader, p *lintPrinter, stderr io.Writer) bool {
	br := bufio.NewReaderSize(r, 64*1024)
	failed := false
	for n := 1; ctx.Err() == nil; n++ {
		line, err := readLine(br)
		if len(line) == 0 && err == io.EOF {
			break
		}
		if errors.Is(err, errLineTooLong) {
			msg := fmt.Sprintf("%s:%d: line longer than %d bytes", name, n, maxLintLine)
			fmt.Fprintln(stderr, "cunbo lint:", msg)
			p.record(lintRecord{Text: "", Findings: []lintFinding{}, Error: msg}, n)
			failed = true
			if err = skipRestOfLine(br); err != nil {
				break
			}
			continue
		}
		if err != nil && err != io.EOF {
			fmt.Fprintf(stderr, "cunbo lint: %s:%d: %v\n", name, n, err)
			return true
		}
		text := strings.TrimSuffix(string(line), "\r")
		rec := lintRecord{Text: text, Findings: []lintFinding{}}
		if !utf8.ValidString(text) {
			bad := firstInvalid(text)
			rec.Error = fmt.Sprintf("%s:%d: invalid UTF-8 at byte %d", name, n, bad)
			rec.Text = strings.ToValidUTF8(text, "\uFFFD")
			fmt.Fprintln(stderr, "cunbo lint:", rec.Error)
			failed = true
		} else {
			for _, f := range l.CheckFinal(text) {
				rec.Findings = append(rec.Findings, lintFinding{Finding: f})
			}
		}
		p.record(rec, n)
		if err == io.EOF {
			break
		}
	}
	return failed
}

var errLineTooLong = errors.New("line too long")

// readLine returns one line without its newline; a line over maxLintLine
// yields errLineTooLong.
func readLine(br *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > maxLintLine {
			return nil, errLineTooLong
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == nil {
			return buf[:len(buf)-1], nil
		}
		return buf, err
	}
}

func skipRestOfLine(br *bufio.Reader) error {
	for {
		_, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			continue
		}
		return err
	}
}

func firstInvalid(s string) int {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return -1
}

// lintSubtitles lints a subtitle file as a caption stream, so a phrase
// split across two cues is still caught, once.
func lintSubtitles(l *lint.Linter, name string, r io.Reader, vtt bool, p *lintPrinter, stderr io.Writer) bool {
	cues, err := lint.ParseSubtitles(name, r, vtt)
	failed := false
	if err != nil {
		fmt.Fprintf(stderr, "cunbo lint: %v\n", err)
		failed = true
	}
	st := l.NewStream()
	for _, c := range cues {
		cueStart := 0
		start, end := c.Start.Seconds(), c.End.Seconds()
		rec := lintRecord{Text: c.Text, Start: &start, End: &end, Findings: []lintFinding{}}
		found := st.Push(lint.Segment{Text: c.Text, Start: c.Start, End: c.End})
		base := st.Offset() - utf8.RuneCountInString(c.Text)
		for _, f := range found {
			lf := lintFinding{Finding: f.Finding}
			lf.Start -= base
			lf.End -= base
			if lf.Start < cueStart {
				lf.Start, lf.FromPrevious = cueStart, true
			}
			rec.Findings = append(rec.Findings, lf)
		}
		p.record(rec, c.Line)
	}
	return failed
}

type lintPrinter struct {
	w        *bufio.Writer
	opts     lintOptions
	lines    int
	findings int
	enc      *json.Encoder
}

func (p *lintPrinter) record(rec lintRecord, line int) {
	p.lines++
	p.findings += len(rec.Findings)
	if p.opts.format == "jsonl" {
		if p.enc == nil {
			p.enc = json.NewEncoder(p.w)
			p.enc.SetEscapeHTML(false)
		}
		_ = p.enc.Encode(rec) // write errors surface at Flush
		return
	}
	p.text(rec, line)
}

const (
	ansiReset  = "\x1b[0m"
	ansiAlarm  = "\x1b[1;97;41m"
	ansiDim    = "\x1b[2m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[1;33m"
)

func (p *lintPrinter) paint(code, s string) string {
	if !p.opts.color {
		return s
	}
	return code + s + ansiReset
}

// text prints one utterance for a person: the line with each finding
// marked, then what is wrong, what to say instead and the law.
func (p *lintPrinter) text(rec lintRecord, line int) {
	if rec.Error != "" {
		fmt.Fprintf(p.w, "%4d  %s\n", line, p.paint(ansiYellow, "无法读取："+rec.Error))
		return
	}
	if len(rec.Findings) == 0 {
		fmt.Fprintf(p.w, "%4d  %s %s\n", line, p.paint(ansiGreen, "✓"), rec.Text)
		return
	}
	runes := []rune(rec.Text)
	var b strings.Builder
	pos := 0
	for _, f := range rec.Findings {
		s, e := max(f.Start, pos), min(f.End, len(runes))
		if s >= e {
			continue
		}
		b.WriteString(string(runes[pos:s]))
		if p.opts.color {
			b.WriteString(p.paint(ansiAlarm, string(runes[s:e])))
		} else {
			b.WriteString("【" + string(runes[s:e]) + "】")
		}
		pos = e
	}
	b.WriteString(string(runes[pos:]))
	fmt.Fprintf(p.w, "%4d  %s %s\n", line, p.paint(ansiYellow, "⚠"), b.String())
	for _, f := range rec.Findings {
		fmt.Fprintf(p.w, "      %s 「%s」 %s\n", p.paint(ansiYellow, f.Category+" "+lint.CategoryName(f.Category)), f.Match, f.Explain)
		fmt.Fprintf(p.w, "      %s %s\n", p.paint(ansiGreen, "换个说法："), f.Suggest)
		fmt.Fprintf(p.w, "      %s\n", p.paint(ansiDim, "依据："+f.Law+"（规则 "+f.Rule+"）"))
	}
}

func (p *lintPrinter) summary() {
	if p.opts.format != "text" {
		return
	}
	fmt.Fprintf(p.w, "\n共 %d 句，发现 %d 处可能违规的说法。\n", p.lines, p.findings)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// loadLinter compiles the rule pack at path, or decodes the built-in one
// already compiled when path is empty.
func loadLinter(path string) (*lint.Linter, error) {
	if path == "" {
		return lint.NewDefault()
	}
	pack, err := lint.LoadPack(path)
	if err != nil {
		return nil, err
	}
	return lint.New(pack)
}

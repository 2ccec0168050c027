package segment

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"
)

func practiceRecord() Session {
	return Session{Version: SessionVersion, ID: NewSessionID(t0), Device: "box", Start: t0, End: t0.Add(2 * time.Minute),
		Findings: 1, Kind: KindPractice, Checks: &Checks{
			Scenario: "榕江特产", Seconds: 120, Skipped: []string{CheckPace},
			Questions: []QuestionCheck{{Line: 9, From: "阿英", Text: "多少钱？", Product: "lajiao", Asked: true, At: 10, Within: 30,
				Answered: true, AnswerAt: 14, Card: "lajiao", RightCard: true}},
			Warnings: 1, WarningsPerMinute: 0.5, DeadAir: []Gap{{From: 40, To: 55}},
			CharsPerMinute: 210, Products: []ProductTime{{ID: "lajiao", Seconds: 80}},
			Names: map[string]string{"lajiao": "榕江古法辣椒酱"}}}
}

func TestParsePracticeSession(t *testing.T) {
	rec := practiceRecord()
	data, _ := json.Marshal(rec)
	got, err := ParseSession(data)
	if err != nil || got.Kind != KindPractice || got.Checks == nil || got.Checks.Questions[0].AnswerAt != 14 ||
		got.Checks.Name("lajiao") != "榕江古法辣椒酱" || got.Checks.Name("fengmi") != "fengmi" {
		t.Fatalf("ParseSession: %+v, %v", got, err)
	}
	// A live record of an older box (no kind) still reads.
	old := []byte(`{"version":1,"id":"20261206T205641Z-331bd2dd","device":"box","start":"2026-12-06T20:56:41Z","end":"2026-12-06T21:56:41Z","findings":0,"stalls":0}`)
	if s, err := ParseSession(old); err != nil || s.Kind != "" {
		t.Fatalf("older live record: %+v, %v", s, err)
	}
	for name, change := range map[string]func(*Session){
		"unknown kind":        func(s *Session) { s.Kind = "rehearsal" },
		"checks on a live":    func(s *Session) { s.Kind = KindLive },
		"checks without kind": func(s *Session) { s.Kind = "" },
		"longer than session": func(s *Session) { s.Checks.Seconds = 4000 },
		"negative pace":       func(s *Session) { s.Checks.CharsPerMinute = -1 },
		"gap backwards":       func(s *Session) { s.Checks.DeadAir = []Gap{{From: 50, To: 40}} },
		"gap past the end":    func(s *Session) { s.Checks.DeadAir = []Gap{{From: 50, To: 400}} },
		"unknown skipped":     func(s *Session) { s.Checks.Skipped = []string{"smile"} },
		"answered unasked":    func(s *Session) { s.Checks.Questions[0].Asked = false },
		"answer before ask":   func(s *Session) { s.Checks.Questions[0].AnswerAt = 5 },
		"product no id":       func(s *Session) { s.Checks.Products = []ProductTime{{Seconds: 3}} },
		"nan":                 func(s *Session) { s.Checks.WarningsPerMinute = math.NaN() },
		"no card yet asked":   func(s *Session) { s.Checks.Questions[0].NoCard, s.Checks.Questions[0].AfterCard = true, "lajiao" },
		"no card, none named": func(s *Session) { s.Checks.Questions[0] = QuestionCheck{Within: 30, NoCard: true} },
		"name of no id":       func(s *Session) { s.Checks.Names = map[string]string{"": "辣椒酱"} },
	} {
		bad := practiceRecord()
		change(&bad)
		data, err := json.Marshal(bad)
		if err != nil { // NaN does not marshal: write it as JSON cannot
			continue
		}
		if _, err := ParseSession(data); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

// FuzzParseSession: never a panic, refusals are ErrInvalid, and what is
// accepted survives a round trip.
func FuzzParseSession(f *testing.F) {
	rec := practiceRecord()
	data, _ := json.Marshal(rec)
	f.Add(data)
	f.Add([]byte(`{"version":1,"id":"a","start":"2026-12-06T20:56:41Z","end":"2026-12-06T20:56:41Z","kind":"practice","checks":{"seconds":0}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSession(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("refusal not ErrInvalid: %v", err)
			}
			return
		}
		again, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("accepted record does not marshal: %v", err)
		}
		if _, err := ParseSession(again); err != nil {
			t.Fatalf("accepted record rejected after a round trip: %v\n%s", err, again)
		}
	})
}

package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cunbo/cunbo/review/store"
)

// TestAssessments: a practice scored twice keeps both scorings (newest
// first) and its current one is the newest; scores out of range and
// unknown boxes are refused with nothing stored; the "ready" mark is set,
// cleared and set again, the newest winning, each with its audit entry;
// forgetting her removes both. On both backends.
func TestAssessments(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			ctx := context.Background()
			for _, b := range []string{"aa", "bb"} {
				if err := s.AddBox(ctx, box(b)); err != nil {
					t.Fatal(err)
				}
			}
			audit := func(action, subject string) store.AuditEntry {
				return store.AuditEntry{At: t0, Actor: "user:wang", Action: action, Subject: subject}
			}
			assess := func(boxID, session string, score int, at time.Time) (store.Assessment, error) {
				return s.Assess(ctx, store.Assessment{BoxID: boxID, SessionID: session, Present: score, Answer: score, Orders: store.ScoreNotYet, Rules: store.ScoreGood,
					Comment: fmt.Sprintf("第%d次", score), Author: "wang", At: at}, audit("practice.assess", boxID+"/"+session))
			}
			first, err := assess("aa", "p1", store.ScoreNotYet, t0)
			if err != nil {
				t.Fatal(err)
			}
			second, err := assess("aa", "p1", store.ScoreBasic, t0.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if second.Seq <= first.Seq {
				t.Fatalf("seqs %d then %d", first.Seq, second.Seq)
			}
			if _, err := assess("aa", "p2", store.ScoreGood, t0.Add(2*time.Hour)); err != nil {
				t.Fatal(err)
			}
			if _, err := assess("bb", "p1", store.ScoreGood, t0); err != nil {
				t.Fatal(err)
			}

			hist, err := s.PracticeAssessments(ctx, "aa", "p1")
			if err != nil {
				t.Fatal(err)
			}
			if len(hist) != 2 || hist[0] != second || hist[1] != first {
				t.Fatalf("history %+v, want %+v then %+v", hist, second, first)
			}
			if hist[1].At != t0 || hist[1].Comment != "第1次" || hist[1].Rules != store.ScoreGood {
				t.Fatalf("first scoring read back as %+v", hist[1])
			}
			cur, err := s.BoxAssessments(ctx, "aa", 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(cur) != 2 || cur[0].SessionID != "p2" || cur[1] != second {
				t.Fatalf("current scorings %+v", cur)
			}
			if cur, err := s.BoxAssessments(ctx, "aa", 1); err != nil || len(cur) != 1 || cur[0].SessionID != "p2" {
				t.Fatalf("limit 1: %+v %v", cur, err)
			}

			for _, c := range []struct {
				name string
				a    store.Assessment
				want error
			}{
				{"zero score", store.Assessment{BoxID: "aa", SessionID: "p1", Present: 0, Answer: 1, Orders: 1, Rules: 1}, store.ErrBadScore},
				{"score 4", store.Assessment{BoxID: "aa", SessionID: "p1", Present: 1, Answer: 1, Orders: 1, Rules: 4}, store.ErrBadScore},
				{"negative", store.Assessment{BoxID: "aa", SessionID: "p1", Present: 1, Answer: -1, Orders: 1, Rules: 1}, store.ErrBadScore},
				{"unknown box", store.Assessment{BoxID: "zz", SessionID: "p1", Present: 1, Answer: 1, Orders: 1, Rules: 1}, store.ErrNotFound},
			} {
				if _, err := s.Assess(ctx, c.a, audit("practice.assess", "x")); !errors.Is(err, c.want) {
					t.Errorf("%s: %v, want %v", c.name, err, c.want)
				}
			}
			if hist, err := s.PracticeAssessments(ctx, "aa", "p1"); err != nil || len(hist) != 2 {
				t.Fatalf("refused scorings stored: %d %v", len(hist), err)
			}
			all, err := s.Audit(ctx, 100)
			if err != nil {
				t.Fatal(err)
			}
			if n := countAction(all, "practice.assess"); n != 4 {
				t.Fatalf("%d practice.assess audit entries, want 4", n)
			}

			// Ready: never set, set, cleared, set again.
			if m, err := s.Ready(ctx, "aa"); err != nil || m.Ready || m.Author != "" || !m.At.IsZero() {
				t.Fatalf("never set: %+v %v", m, err)
			}
			for i, ready := range []bool{true, false, true} {
				m := store.ReadyMark{BoxID: "aa", Ready: ready, Author: fmt.Sprintf("u%d", i), At: t0.Add(time.Duration(i) * time.Hour)}
				if err := s.SetReady(ctx, m, audit("practice.ready", "aa")); err != nil {
					t.Fatal(err)
				}
				got, err := s.Ready(ctx, "aa")
				if err != nil || got != m {
					t.Fatalf("after set %d: %+v %v, want %+v", i, got, err, m)
				}
				marks, err := s.ReadyBoxes(ctx)
				if _, in := marks["aa"]; err != nil || in != ready || len(marks) != map[bool]int{true: 1}[ready] {
					t.Fatalf("ready boxes after set %d: %v %v", i, marks, err)
				}
			}
			if err := s.SetReady(ctx, store.ReadyMark{BoxID: "zz", Ready: true, Author: "u", At: t0}, audit("practice.ready", "zz")); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("unknown box: %v", err)
			}

			f, err := s.ForgetConsole(ctx, "aa", nil)
			if err != nil {
				t.Fatal(err)
			}
			if f.Assessments != 3 || f.ReadyMarks != 3 {
				t.Fatalf("forgotten %+v, want 3 assessments and 3 ready marks", f)
			}
			if cur, err := s.BoxAssessments(ctx, "aa", 10); err != nil || len(cur) != 0 {
				t.Fatalf("her scorings after forget: %+v %v", cur, err)
			}
			if m, err := s.Ready(ctx, "aa"); err != nil || m.Ready {
				t.Fatalf("her mark after forget: %+v %v", m, err)
			}
			if cur, err := s.BoxAssessments(ctx, "bb", 10); err != nil || len(cur) != 1 {
				t.Fatalf("another woman's scorings: %+v %v", cur, err)
			}
		})
	}
}

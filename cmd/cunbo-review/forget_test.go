package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/review/boxauth"
	"github.com/cunbo/cunbo/review/store"
)

// TestForgetRemovesNotes: forget --box also removes the coaching notes her
// social worker wrote her and their read receipts, says how many, and logs
// it; forget --segment leaves them (notes are hers, not a segment's), and
// another woman's notes stay.
func TestForgetRemovesNotes(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	var ids []string
	for range 2 {
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		if code, _, errOut := run(t, "box", "add", "--data", data, "--key-hex", hex.EncodeToString(pub)); code != 0 {
			t.Fatalf("box add: %s", errOut)
		}
		ids = append(ids, boxauth.BoxID(pub))
	}
	st, err := store.Open(ctx, "", data)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, id := range ids {
		var last store.Note
		for _, text := range []string{"说“价格很实在”就好。", "不要说“最好”。"} {
			if last, err = st.AddNote(ctx, store.Note{BoxID: id, Text: text, Author: "王芳", At: now}, store.AuditEntry{At: now, Actor: "user:王芳", Action: "note.add", Subject: id}); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := st.MarkNoteRead(ctx, id, last.Seq, now, store.AuditEntry{At: now, Actor: "box:" + id, Action: "note.read", Subject: id}); err != nil {
			t.Fatal(err)
		}
		// Her practices' scores and her "ready" mark are hers too.
		if _, err := st.Assess(ctx, store.Assessment{BoxID: id, SessionID: "20261128T093000000Z-practice", Present: 2, Answer: 3, Orders: 1, Rules: 3, Comment: "价格说得清楚", Author: "王芳", At: now}, store.AuditEntry{At: now, Actor: "user:王芳", Action: "practice.assess", Subject: id}); err != nil {
			t.Fatal(err)
		}
		if err := st.SetReady(ctx, store.ReadyMark{BoxID: id, Ready: true, Author: "王芳", At: now}, store.AuditEntry{At: now, Actor: "user:王芳", Action: "practice.ready", Subject: id}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	if code, out, errOut := run(t, "forget", "--data", data, "--box", ids[0], "--segment", "20261128T093000000Z-0a1b2c3d", "--by", "李"); code == 0 || strings.Contains(out, "coaching notes") {
		t.Fatalf("forget of an unknown segment: %d %q %s", code, out, errOut)
	}
	code, out, errOut := run(t, "forget", "--data", data, "--box", ids[0], "--by", "王社工")
	if code != 0 || !strings.Contains(out, "2 coaching notes (1 read receipts)") || !strings.Contains(out, "1 practice scores, 1 ready marks") {
		t.Fatalf("forget: %d %q %s", code, out, errOut)
	}

	st, err = store.Open(ctx, "", data)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if notes, err := st.Notes(ctx, ids[0], 0, 10); err != nil || len(notes) != 0 {
		t.Fatalf("her notes after forget: %d %v", len(notes), err)
	}
	if notes, err := st.Notes(ctx, ids[1], 0, 10); err != nil || len(notes) != 2 {
		t.Fatalf("another woman's notes: %d %v", len(notes), err)
	}
	if as, err := st.BoxAssessments(ctx, ids[0], 10); err != nil || len(as) != 0 {
		t.Fatalf("her practice scores after forget: %d %v", len(as), err)
	}
	if m, err := st.Ready(ctx, ids[0]); err != nil || m.Ready || m.Author != "" {
		t.Fatalf("her ready mark after forget: %+v %v", m, err)
	}
	if as, err := st.BoxAssessments(ctx, ids[1], 10); err != nil || len(as) != 1 {
		t.Fatalf("another woman's practice scores: %d %v", len(as), err)
	}
	audit, err := st.Audit(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	var got string
	for _, e := range audit {
		if e.Action == "forget.console" {
			got = e.Actor + " " + e.Subject + " " + e.Detail
		}
	}
	if want := "cli:王社工 box:" + ids[0] + " notes=2 reads=1 decisions=0 escalations=0 assessments=1 ready=1"; got != want {
		t.Fatalf("audit %q, want %q", got, want)
	}
}

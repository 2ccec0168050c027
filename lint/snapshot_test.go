package lint

import (
	"flag"
	"os"
	"reflect"
	"testing"
)

var updateSnapshot = flag.Bool("update-snapshot", false, "rewrite lint/rules/default.snap from lint/rules/default.pack")

// TestDefaultSnapshotIsCurrent: the compiled built-in pack that ships in
// the binary is byte for byte what compiling rules/default.pack gives now,
// so editing the pack without a new snapshot fails here rather than on a
// box (where NewDefault would fall back to compiling at every start).
//
//	go test -tags ne -run TestDefaultSnapshotIsCurrent ./lint/ -update-snapshot
func TestDefaultSnapshotIsCurrent(t *testing.T) {
	p, err := DefaultPack()
	if err != nil {
		t.Fatal(err)
	}
	m, err := compile(p)
	if err != nil {
		t.Fatal(err)
	}
	if *updateSnapshot {
		if err := os.WriteFile("rules/default.snap", m.marshalSnapshot(defaultPack), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	// The dictionary's log frequencies may differ in the last bit between
	// machines (math.Log is assembly on amd64, fused multiply-adds on
	// arm64), which can move a fixed-point cost by one; the snapshot's
	// are the ones every box uses, so within that they are taken as they
	// are and everything else must be equal.
	shipped, err := loadSnapshot(defaultSnapshot, defaultPack)
	if err != nil {
		t.Fatal(err)
	}
	near := func(a, b int64) bool { return a-b <= 1 && b-a <= 1 }
	if len(shipped.seg.cost) == len(m.seg.cost) && near(shipped.seg.charCost, m.seg.charCost) {
		same := true
		for i, c := range m.seg.cost {
			same = same && near(shipped.seg.cost[i], c)
		}
		if same {
			m.seg.cost, m.seg.charCost = shipped.seg.cost, shipped.seg.charCost
		}
	}
	want := m.marshalSnapshot(defaultPack)
	if string(want) != defaultSnapshot {
		t.Fatalf("rules/default.snap (%d bytes) is not what rules/default.pack compiles to (%d bytes); rewrite it with -update-snapshot", len(defaultSnapshot), len(want))
	}
}

// TestSnapshotDecodesToTheCompiledMatcher: every field checking reads
// comes back equal, and the decoded matcher snapshots to the same bytes.
func TestSnapshotDecodesToTheCompiledMatcher(t *testing.T) {
	p, err := DefaultPack()
	if err != nil {
		t.Fatal(err)
	}
	want, err := compile(p)
	if err != nil {
		t.Fatal(err)
	}
	snap := string(want.marshalSnapshot(defaultPack))
	got, err := loadSnapshot(snap, defaultPack)
	if err != nil {
		t.Fatal(err)
	}
	// the score gates are laid out on first use: by now in both
	if got.model.gates() == nil || want.model.gates() == nil {
		t.Fatal("no score gates")
	}
	for _, f := range []struct {
		name      string
		got, want any
	}{
		{"fillers", got.norm.fillers, want.norm.fillers},
		{"fillerKey", got.norm.fillerKey, want.norm.fillerKey},
		{"folds", got.norm.folds, want.norm.folds},
		{"foldKey", got.norm.foldKey, want.norm.foldKey},
		{"foldTo", got.norm.foldTo, want.norm.foldTo},
		{"stutter", got.norm.stutter, want.norm.stutter},
		{"ac", got.ac, want.ac},
		{"keys", got.keys, want.keys},
		{"shape", got.shape, want.shape},
		{"shapeAC", got.shapeAC, want.shapeAC},
		{"shapeKeys", got.shapeKeys, want.shapeKeys},
		{"rules", got.rules, want.rules},
		{"pats", got.pats, want.pats},
		{"parts", got.parts, want.parts},
		{"seg", got.seg, want.seg},
		{"model", got.model, want.model},
		{"modelRules", got.modelRules, want.modelRules},
		{"ruleCat", got.ruleCat, want.ruleCat},
		{"vetoCat", got.vetoCat, want.vetoCat},
		{"keyGate", got.keyGate, want.keyGate},
		{"pendingAt", got.pendingAt, want.pendingAt},
		{"explained", got.pack.Explained, want.pack.Explained},
		{"version", got.pack.Version, want.pack.Version},
	} {
		if !reflect.DeepEqual(f.got, f.want) {
			t.Errorf("%s differs after a snapshot round trip", f.name)
		}
	}
	if again := string(got.marshalSnapshot(defaultPack)); again != snap {
		t.Errorf("a decoded snapshot snapshots to %d bytes, not the same %d", len(again), len(snap))
	}
}

// TestSnapshotRefusesDamage: a snapshot of another pack text, or cut
// short anywhere, is an error, never a panic or a half-built matcher.
func TestSnapshotRefusesDamage(t *testing.T) {
	if _, err := loadSnapshot(defaultSnapshot, defaultPack+"\n"); err == nil {
		t.Error("a snapshot loaded for a pack text it was not compiled from")
	}
	for _, n := range []int{0, 10, len(snapshotMagic) + 3, len(defaultSnapshot) / 3, len(defaultSnapshot) / 2, len(defaultSnapshot) - 1} {
		if _, err := loadSnapshot(defaultSnapshot[:n], defaultPack); err == nil {
			t.Errorf("a snapshot cut to %d of %d bytes loaded", n, len(defaultSnapshot))
		}
	}
	if _, err := loadSnapshot(defaultSnapshot+"x", defaultPack); err == nil {
		t.Error("a snapshot with trailing bytes loaded")
	}
}

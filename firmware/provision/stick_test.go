package provision

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// removablePartitions reads a /sys/block tree: removable disks only, their
// partitions (or the whole disk without any), never a card reader without
// a card or the box's own SD card.
func TestRemovablePartitions(t *testing.T) {
	sys := t.TempDir()
	disk := func(name, removable, size string, parts ...string) {
		d := filepath.Join(sys, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(d, "removable"), []byte(removable+"\n"), 0o644)
		os.WriteFile(filepath.Join(d, "size"), []byte(size+"\n"), 0o644)
		for _, p := range parts {
			os.MkdirAll(filepath.Join(d, p), 0o755)
		}
	}
	disk("mmcblk0", "0", "62333952", "mmcblk0p1", "mmcblk0p2") // the box's SD card
	disk("sda", "1", "30031872", "sda1")                       // a stick with a partition
	disk("sdb", "1", "15728640")                               // a stick formatted whole
	disk("sdc", "1", "0")                                      // a card reader, empty
	got, err := removablePartitions(sys)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"sda1", "sdb"}; !slices.Equal(got, want) {
		t.Fatalf("removable partitions %v, want %v", got, want)
	}
	if got, err := removablePartitions(filepath.Join(sys, "missing")); err != nil || len(got) != 0 {
		t.Fatalf("without /sys/block: %v %v", got, err)
	}
}

func TestDirStickFindsBundles(t *testing.T) {
	media := t.TempDir()
	stick := filepath.Join(media, "user", "STICK")
	os.MkdirAll(stick, 0o755)
	for _, n := range []string{"b.cunbo", "A.CUNBO", ".hidden.cunbo", "notes.txt"} {
		os.WriteFile(filepath.Join(stick, n), []byte("x"), 0o644)
	}
	os.Mkdir(filepath.Join(stick, "dir.cunbo"), 0o755)
	dirs, release, err := DirStick{Globs: []string{filepath.Join(media, "*", "*")}}.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if len(dirs) != 1 || dirs[0] != stick {
		t.Fatalf("dirs %v", dirs)
	}
	got := bundlesIn(stick)
	want := []string{filepath.Join(stick, "A.CUNBO"), filepath.Join(stick, "b.cunbo")}
	if !slices.Equal(got, want) {
		t.Fatalf("bundles %v, want %v", got, want)
	}
}

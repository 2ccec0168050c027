package provision

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/cunbo/cunbo/bundle"
)

// TestPowerCutDuringApply kills a child process applying a bundle (SIGKILL:
// nothing flushed by Go, the closest a test gets to pulling the plug) at a
// random moment, 200 times in a row on the same folder, and checks after
// each kill that the store opens on a whole configuration: the old one or
// the new one, every file as its manifest says, never a mix.
func TestPowerCutDuringApply(t *testing.T) {
	// The same test, re-run in a child process, is the box whose power is
	// cut.
	if dir := os.Getenv("PROVISION_CHILD_DIR"); dir != "" {
		powerCutChild(t, dir, os.Getenv("PROVISION_CHILD_BUNDLE"))
		return
	}
	const iterations = 200
	o := newOrg(t)
	dir := t.TempDir()
	o.apply(t, openStore(t, dir), 1)

	// How long one apply takes here, so the kills land all over it.
	probe := t.TempDir()
	ps := openStore(t, probe)
	o.apply(t, ps, 1)
	pb := o.bundle(t, 2, 48<<10)
	start := time.Now()
	if _, err := ps.Apply(o.verify(t, ps, pb), o.box, pub(o.root)); err != nil {
		t.Fatal(err)
	}
	window := 2 * time.Since(start)
	t.Logf("one apply of a %d-byte bundle: %v; kills land within %v of its start", len(pb), window/2, window)

	bundles := t.TempDir()
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	var sawOld, sawNew int
	have := uint64(1)
	for i := range iterations {
		// A fresh child applies slower than this warm process (cold
		// caches; under qemu, its code not yet translated): while no kill
		// has landed after an apply, widen the window.
		if sawNew == 0 && i > 0 && i%10 == 0 && window < 5*time.Second {
			window *= 2
		}
		next := have + 1
		path := filepath.Join(bundles, strconv.Itoa(i)+".cunbo")
		if err := os.WriteFile(path, o.bundle(t, next, 48<<10), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestPowerCutDuringApply$", "-test.v")
		// Under qemu-user (make test-arm64) the child runs through the
		// same emulator; the kernel may have no binfmt entry for it.
		if emu := os.Getenv("CUNBO_TEST_EMULATOR"); emu != "" {
			cmd = exec.Command(emu, os.Args[0], "-test.run=^TestPowerCutDuringApply$", "-test.v")
		}
		cmd.Env = append(os.Environ(), "PROVISION_CHILD_DIR="+dir, "PROVISION_CHILD_BUNDLE="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		started := false
		for sc.Scan() {
			if sc.Text() == "APPLYING" {
				started = true
				break
			}
		}
		if !started {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("iteration %d: the child never started applying: %s", i, stderr.String())
		}
		time.Sleep(time.Duration(rng.Int64N(int64(window) + 1)))
		cmd.Process.Kill()
		go func() { // drain, so a child past its apply is not blocked writing
			for sc.Scan() {
			}
		}()
		cmd.Wait()

		s := openStore(t, dir)
		switch got := configVersion(t, s); got {
		case have:
			sawOld++
		case next:
			sawNew++
			have = next
		default:
			t.Fatalf("iteration %d: after the kill the box has version %d, want %d or %d", i, got, have, next)
		}
		// The version the box would refuse next is never below what it
		// runs: a replay of an older stick cannot take it back.
		if s.Have() < have {
			t.Fatalf("iteration %d: Have %d below the current version %d", i, s.Have(), have)
		}
		// Whatever was cut, no staging is left and only current and
		// previous are kept.
		des, _ := os.ReadDir(filepath.Join(dir, VersionsDir))
		if len(des) > 2 {
			t.Fatalf("iteration %d: %d version folders after Open", i, len(des))
		}
	}
	t.Logf("%d kills: %d left the old configuration, %d the new", iterations, sawOld, sawNew)
	if sawOld == 0 || sawNew == 0 {
		t.Errorf("every kill landed on the same side (%d old, %d new): the kills did not cover the apply", sawOld, sawNew)
	}
}

// powerCutChild is the child half of TestPowerCutDuringApply: it verifies
// and applies one bundle, to be killed somewhere in it.
func powerCutChild(t *testing.T, dir, path string) {
	o := newOrg(t)
	s := openStore(t, dir)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := bundle.Open(bytes.NewReader(b), int64(len(b)), bundle.Trust{Root: pub(o.root)}, pub(o.box), s.Have(), t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("APPLYING")
	os.Stdout.Sync()
	if _, err := s.Apply(v, o.box, pub(o.root)); err != nil {
		t.Fatal(err)
	}
	fmt.Println("APPLIED")
	time.Sleep(time.Hour) // wait for the kill
}

package provision

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cunbo/cunbo/internal/childproc"
)

// BundleExt is how a bundle's file name ends.
const BundleExt = ".cunbo"

// Stick is where bundles come in by hand: removable media.
type Stick interface {
	// Scan lists the stick folders present now, each readable until
	// release is called (the real stick unmounts then).
	Scan(ctx context.Context) (dirs []string, release func(), err error)
}

// DirStick is a stick already mounted at a folder (or several, by glob:
// "/media/*/*" where the desktop mounts them): the fake for tests and the
// path for boxes whose system mounts media itself.
type DirStick struct {
	Globs []string
}

// Scan implements Stick.
func (d DirStick) Scan(context.Context) ([]string, func(), error) {
	var dirs []string
	for _, g := range d.Globs {
		ms, err := filepath.Glob(g)
		if err != nil {
			return nil, nil, fmt.Errorf("provision: stick %q: %w", g, err)
		}
		for _, m := range ms {
			if fi, err := os.Stat(m); err == nil && fi.IsDir() {
				dirs = append(dirs, m)
			}
		}
	}
	return dirs, func() {}, nil
}

// SysStick finds removable block devices under /sys/block and mounts each
// partition read-only (ro,nosuid,nodev,noexec) under a private folder for
// as long as a scan needs it: the box never writes to the stick, and what
// is on it cannot run.
type SysStick struct {
	SysBlock string // default /sys/block
	Dev      string // default /dev
	MountDir string // private folder (0700) for the mounts
	Logger   *slog.Logger
}

// Scan implements Stick.
func (s SysStick) Scan(ctx context.Context) ([]string, func(), error) {
	sys, dev := s.SysBlock, s.Dev
	if sys == "" {
		sys = "/sys/block"
	}
	if dev == "" {
		dev = "/dev"
	}
	log := s.Logger
	if log == nil {
		log = slog.Default()
	}
	devices, err := removablePartitions(sys)
	if err != nil || len(devices) == 0 {
		return nil, func() {}, err
	}
	if err := os.MkdirAll(s.MountDir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("provision: %w", err)
	}
	var dirs, mounted []string
	release := func() {
		for _, m := range mounted {
			// A detached unmount: the stick may already be gone.
			if out, err := runOutput(exec.Command("umount", "-l", m)); err != nil {
				log.Warn("provision: unmount stick", "dir", m, "err", err, "out", out)
			}
			_ = os.Remove(m)
		}
	}
	for _, d := range devices {
		mp := filepath.Join(s.MountDir, d)
		if err := os.MkdirAll(mp, 0o700); err != nil {
			continue
		}
		out, err := runOutput(exec.CommandContext(ctx, "mount", "-o", "ro,nosuid,nodev,noexec", filepath.Join(dev, d), mp))
		if err != nil {
			// A partition without a file system, or one already mounted
			// elsewhere: not a stick with a bundle.
			log.Debug("provision: mount stick", "dev", d, "err", err, "out", out)
			_ = os.Remove(mp)
			continue
		}
		mounted = append(mounted, mp)
		dirs = append(dirs, mp)
	}
	return dirs, release, nil
}

// removablePartitions lists the partitions (or whole disks without
// partitions) of block devices the kernel marks removable.
func removablePartitions(sys string) ([]string, error) {
	des, err := os.ReadDir(sys)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("provision: %w", err)
	}
	var out []string
	for _, de := range des {
		b, err := os.ReadFile(filepath.Join(sys, de.Name(), "removable"))
		if err != nil || strings.TrimSpace(string(b)) != "1" {
			continue
		}
		if sz, err := os.ReadFile(filepath.Join(sys, de.Name(), "size")); err == nil && strings.TrimSpace(string(sz)) == "0" {
			continue // a card reader without a card
		}
		parts, _ := filepath.Glob(filepath.Join(sys, de.Name(), de.Name()+"*"))
		if len(parts) == 0 {
			out = append(out, de.Name())
		}
		for _, p := range parts {
			out = append(out, filepath.Base(p))
		}
	}
	slices.Sort(out)
	return out, nil
}

// bundlesIn lists the bundles at the top of a stick folder, newest name
// last.
func bundlesIn(dir string) []string {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, de := range des {
		if de.Type().IsRegular() && strings.HasSuffix(strings.ToLower(de.Name()), BundleExt) && !strings.HasPrefix(de.Name(), ".") {
			out = append(out, filepath.Join(dir, de.Name()))
		}
	}
	slices.Sort(out)
	return out
}

// runOutput runs a short command as every child of the box is run (it dies
// with the box) and returns its output, trimmed, for the log.
func runOutput(cmd *exec.Cmd) (string, error) {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := childproc.Run(cmd)
	return strings.TrimSpace(out.String()), err
}

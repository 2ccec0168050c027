package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cunbo/cunbo/firmware/app"
	"github.com/cunbo/cunbo/firmware/config"
	"github.com/cunbo/cunbo/firmware/provision"
)

// simFactoryFile is the simulated box's factory configuration: only its
// state folder, since everything else comes from the flags until a setup
// bundle says otherwise. app.LoadConfig needs a file to lay a bundle over.
const simFactoryFile = "sim-factory.toml"

// simProvisioning opens the simulated box's setup bundles in its data
// folder (stick: a folder standing in for a USB stick, "" for none) and
// lays the applied version's configuration over cfg, as `cunbo run`
// starts from it after systemd restarted it.
func simProvisioning(cfg *simConfig, stick string, log *slog.Logger) (*app.Provisioning, error) {
	factory := filepath.Join(cfg.DataDir, simFactoryFile)
	body := "state_dir = " + strconv.Quote(cfg.DataDir) + "\ndevice_id = \"sim\"\n"
	if err := os.WriteFile(factory, []byte(body), 0o640); err != nil {
		return nil, fmt.Errorf("factory configuration: %w", err)
	}
	var st provision.Stick
	if stick != "" {
		st = provision.DirStick{Globs: []string{stick}}
	}
	bc, _, prov, err := app.LoadConfig(factory, st, log)
	if err != nil {
		return nil, err
	}
	if prov == nil {
		// As `cunbo run`: bundles are not worth a box that cannot
		// stream (LoadConfig logged why).
		return nil, nil
	}
	if _, ok := prov.Store.Current(); ok {
		overlayBundleConfig(cfg, bc, log)
	}
	return prov, nil
}

// overlayBundleConfig puts what a bundle configures into the simulator's
// description; the camera, microphone and folders stay the simulator's.
func overlayBundleConfig(cfg *simConfig, bc *config.Config, log *slog.Logger) {
	if bc.Catalogue != "" {
		cfg.CatalogCSV, cfg.PhotoDir = bc.Catalogue, ""
	}
	if bc.RulePack != "" {
		cfg.RulePack = bc.RulePack
	}
	if bc.PIN != "" {
		cfg.PIN = bc.PIN
	}
	if bc.Review.URL != "" {
		cfg.ReviewURL = bc.Review.URL
	}
	if len(bc.Dest) > 0 {
		cfg.RTMP = nil
		for _, d := range bc.Dest {
			if d.Kind != "" && d.Kind != "rtmp" {
				log.Warn("the simulator publishes RTMP only: destination skipped", "name", d.Name, "kind", d.Kind)
				continue
			}
			u := strings.TrimSuffix(d.URL, "/")
			if d.Key != "" {
				u += "/" + d.Key
			}
			cfg.RTMP = append(cfg.RTMP, u)
		}
	}
}

// appliedLine is the terminal's one line after a restart for another
// configuration: the new version in use, or the old one back.
func appliedLine(prov *app.Provisioning) string {
	v, _ := prov.Store.Current()
	if o := prov.Store.Outcome(); o != nil && !o.OK {
		return fmt.Sprintf("↩️ 新设置没能用上，已换回第 %d 版：%s", v.Number, o.Message)
	}
	return fmt.Sprintf("✅ 新设置已用上 (第 %d 版)", v.Number)
}

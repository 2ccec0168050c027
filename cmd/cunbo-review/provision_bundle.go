package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cunbo/cunbo/bundle"
)

// boxKeys is --box, given once per target box.
type boxKeys []ed25519.PublicKey

func (b *boxKeys) String() string { return fmt.Sprint(len(*b), " boxes") }

// Set takes a key in hex (what the box's page shows under its QR code) or
// a file holding one (PEM, hex, base64, raw).
func (b *boxKeys) Set(s string) error {
	if pub, err := bundle.ParsePublicKeyHex(strings.ToLower(strings.TrimSpace(s))); err == nil {
		*b = append(*b, pub)
		return nil
	}
	pub, err := readPublicKeyFile(s)
	if err != nil {
		return fmt.Errorf("neither 64 hex digits nor a key file: %w", err)
	}
	*b = append(*b, pub)
	return nil
}

func runProvisionBundle(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("provision bundle", flag.ContinueOnError)
	rootPub := fs.String("root-pub", "", "the organisation's root public key file (root.pub)")
	trainerKey := fs.String("trainer-key", "", "the trainer's key file (trainer.key)")
	trainerCert := fs.String("trainer-cert", "", "the trainer's certificate (default: trainer.cert beside the key)")
	revs := fs.String("revocations", "", "the newest revocation list (revocations.json), passed on to the boxes")
	var boxes boxKeys
	fs.Var(&boxes, "box", "a target box's public key (hex) or key file; repeat for each box")
	config := fs.String("config", "", "the box configuration (config.toml)")
	catalogue := fs.String("catalogue", "", "the catalogue: a spreadsheet file, or a folder with it and the photos")
	rules := fs.String("rules", "", "the rule pack: a file or a folder")
	scenarios := fs.String("scenarios", "", "practice scenarios: a .txt file or a folder of them, checked with the practice parser and the rule pack")
	secrets := fs.String("secrets", "", "JSON file with the Wi-Fi networks, stream keys and PIN, sealed to each box")
	modelName := fs.String("model-name", "", "the speech model the boxes should run")
	modelSum := fs.String("model-sha256", "", "the speech model's SHA-256 (hex)")
	version := fs.Uint64("version", 0, "the bundle's version; boxes take only a newer one (default: the time now in seconds)")
	days := fs.Int("valid-days", 30, "days the bundle can be applied")
	out := fs.String("out", "", "the bundle file to write (x.cunbo)")
	if code, ok := parse(fs, args, 0, stderr); !ok {
		return code
	}
	fail := failer(stderr, "provision bundle")
	if *rootPub == "" || *trainerKey == "" || len(boxes) == 0 || *config == "" || *out == "" || *days <= 0 {
		return fail(2, errors.New("--root-pub, --trainer-key, --box, --config, --out and a positive --valid-days are required"))
	}
	if (*modelName == "") != (*modelSum == "") {
		return fail(2, errors.New("give both --model-name and --model-sha256, or neither"))
	}
	if *trainerCert == "" {
		*trainerCert = filepath.Join(filepath.Dir(*trainerKey), trainerCertFile)
	}
	now := time.Now().UTC()
	if *version == 0 {
		// Seconds since 1970 grow with every bundle any trainer makes, so
		// boxes see a newer version without anyone keeping a counter.
		*version = uint64(now.Unix())
	}

	root, err := readPublicKeyFile(*rootPub)
	if err != nil {
		return fail(1, err)
	}
	keyData, err := os.ReadFile(*trainerKey)
	if err != nil {
		return fail(1, err)
	}
	key, err := parseSeed(keyData)
	if err != nil {
		return fail(1, fmt.Errorf("%s: %w", *trainerKey, err))
	}
	var cert bundle.Certificate
	if err := readJSON(*trainerCert, &cert); err != nil {
		return fail(1, err)
	}
	opts := bundle.Options{
		Version: *version, Created: now, Expires: now.AddDate(0, 0, *days),
		Signer: bundle.Signer{Key: key, Cert: cert}, Root: root,
	}
	if *revs != "" {
		var s bundle.SignedRevocations
		if err := readJSON(*revs, &s); err != nil {
			return fail(1, err)
		}
		opts.Revocations = &s
	}
	var sec bundle.Secrets
	if *secrets != "" {
		if err := readJSON(*secrets, &sec); err != nil {
			return fail(1, err)
		}
	}
	for _, b := range boxes {
		opts.Boxes = append(opts.Boxes, bundle.Box{Key: b, Secrets: sec})
	}

	var c bundle.Contents
	if c.Config, err = os.ReadFile(*config); err != nil {
		return fail(1, err)
	}
	if c.Catalogue, err = readTree(*catalogue); err != nil {
		return fail(1, err)
	}
	if c.Rules, err = readTree(*rules); err != nil {
		return fail(1, err)
	}
	if c.Scenarios, err = readTree(*scenarios); err != nil {
		return fail(1, err)
	}
	if len(c.Scenarios) > 0 {
		ok, err := checkScenarios(c.Scenarios, c.Rules, c.Catalogue, stdout, stderr)
		if err != nil {
			return fail(1, err)
		}
		if !ok {
			return fail(1, errors.New("练习题有要改的地方，设置包没有做 (scenario problems above; no bundle written)"))
		}
	}
	if *modelName != "" {
		sum := strings.ToLower(strings.TrimSpace(*modelSum))
		if b, err := hex.DecodeString(sum); err != nil || len(b) != 32 {
			return fail(2, errors.New("--model-sha256: want 64 hex digits"))
		}
		c.Model = &bundle.ModelRef{Name: *modelName, SHA256: sum}
	}

	var buf bytes.Buffer
	if err := bundle.Build(&buf, c, opts); err != nil {
		return fail(1, err)
	}
	if err := writeFileAtomic(*out, buf.Bytes(), 0o644); err != nil {
		return fail(1, err)
	}
	t, _ := cert.Verify(root) // Build has verified it
	fmt.Fprintf(stdout, "设置包 (bundle): %s  %d 字节 (bytes)\n版本 (version): %d  有效到 (expires): %s\n签名 (signed by): %s (证书 serial %d)\n",
		*out, buf.Len(), *version, opts.Expires.Format(time.DateOnly), t.Name, t.Serial)
	for _, b := range boxes {
		fmt.Fprintf(stdout, "盒子 (box): %s\n", bundle.Fingerprint(b))
	}
	return 0
}

// readTree reads a file (by its base name) or a folder's files (by their
// slash-separated paths inside it). Empty path: nothing.
func readTree(root string) (map[string][]byte, error) {
	if root == "" {
		return nil, nil
	}
	st, err := os.Stat(root)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		data, err := os.ReadFile(root)
		return map[string][]byte{filepath.Base(root): data}, err
	}
	files := map[string][]byte{}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", p)
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		files[filepath.ToSlash(rel)] = data
		return err
	})
	return files, err
}

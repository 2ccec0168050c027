package bundle

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// FormatVersion is the manifest format this package writes and reads.
const FormatVersion = 1

// Names of the archive's entries and folders.
const (
	ManifestFile  = "manifest.json"
	SignatureFile = "manifest.sig"
	ConfigFile    = "config.toml"
	CatalogueDir  = "catalogue"
	RulesDir      = "rules"
	ScenariosDir  = "scenarios"
	SecretsDir    = "secrets"
)

// Limits. A bundle carries a configuration, a catalogue with photos, a
// rule pack and practice scenarios, never the speech model, so tens of megabytes are plenty; the
// limits keep a hostile stick from filling the box's memory or card.
const (
	MaxBundleSize   = 64 << 20
	MaxFileSize     = 32 << 20
	MaxFiles        = 1000
	MaxManifestSize = 1 << 20
	MaxPathLen      = 160
	maxPathDepth    = 4
	maxTargets      = 500
)

// Manifest is manifest.json: everything the trainer signs.
type Manifest struct {
	Format  int       `json:"format"`
	Version uint64    `json:"version"` // grows with every bundle; a box takes only a newer one
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	// Boxes are the targets: a box takes the bundle only if its own key is
	// here, and finds its sealed secrets by it.
	Boxes []Target `json:"boxes"`
	// Signer is the trainer's certificate; the trainer's key in it signs
	// this manifest (manifest.sig).
	Signer Certificate `json:"signer"`
	// Revocations, if set, is the newest revocation list the trainer had;
	// a box keeps it when it is newer than its own.
	Revocations *SignedRevocations `json:"revocations,omitempty"`
	// Model names the speech model the box should run, by name and hash:
	// the model itself is too big for a bundle and is installed apart.
	Model *ModelRef `json:"model,omitempty"`
	Files []File    `json:"files"`
}

// Target is one box a bundle is for.
type Target struct {
	Key     string `json:"key"`     // the box's ed25519 public key, hex
	Secrets string `json:"secrets"` // path of its sealed secrets (secrets/<id>.age)
}

// ModelRef names a speech model.
type ModelRef struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
}

// File is one file of the bundle, with its size and SHA-256 (hex).
type File struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// secretsPath is where a box's sealed secrets go: named by a short hash of
// its key so the archive's names say nothing about the boxes.
func secretsPath(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return SecretsDir + "/" + hex.EncodeToString(sum[:16]) + ".age"
}

// CheckPath reports whether p may name a file in a bundle: a relative,
// clean, slash-separated path of at most a few levels under one of the
// bundle's folders (or config.toml), with no "..", no backslashes, colons
// or control characters, so that wherever the box writes it, it stays in
// its folder on any file system.
func CheckPath(p string) error {
	if p == "" || len(p) > MaxPathLen || !utf8.ValidString(p) {
		return fmt.Errorf("path %.40q: empty, longer than %d bytes or not UTF-8", p, MaxPathLen)
	}
	if !fs.ValidPath(p) || p == "." {
		return fmt.Errorf("path %q: not a clean relative path", p)
	}
	for _, r := range p {
		if r == '\\' || r == ':' || unicode.IsControl(r) || (!unicode.IsPrint(r) && r != ' ') {
			return fmt.Errorf("path %q: character %q not allowed", p, r)
		}
	}
	parts := strings.Split(p, "/")
	if len(parts) > maxPathDepth {
		return fmt.Errorf("path %q: more than %d levels", p, maxPathDepth)
	}
	for _, part := range parts {
		if strings.HasPrefix(part, ".") || strings.HasSuffix(part, " ") || strings.HasPrefix(part, " ") {
			return fmt.Errorf("path %q: hidden name or name with spaces at its ends", p)
		}
	}
	switch {
	case p == ConfigFile:
	case len(parts) >= 2 && (parts[0] == CatalogueDir || parts[0] == RulesDir):
	case len(parts) == 2 && parts[0] == ScenariosDir:
	case len(parts) == 2 && parts[0] == SecretsDir && strings.HasSuffix(parts[1], ".age"):
	default:
		return fmt.Errorf("path %q: not config.toml and not under catalogue/, rules/, scenarios/ or secrets/", p)
	}
	return nil
}

func isHexSHA256(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == sha256.Size && s == strings.ToLower(s)
}

// validate checks the manifest's own fields (its signature is checked
// before). The returned error is a *Error.
func (m *Manifest) validate() error {
	bad := func(format string, args ...any) error { return refuse(Malformed, nil, format, args...) }
	if m.Format != FormatVersion {
		return bad("manifest format %d, want %d", m.Format, FormatVersion)
	}
	if m.Version == 0 {
		return bad("version 0")
	}
	if m.Created.IsZero() || m.Expires.IsZero() || !m.Expires.After(m.Created) {
		return bad("created %v, expires %v: expiry must follow creation", m.Created, m.Expires)
	}
	if m.Model != nil && (m.Model.Name == "" || len(m.Model.Name) > 200 || !isHexSHA256(m.Model.SHA256)) {
		return bad("model reference: want a name and a lower-case hex SHA-256")
	}
	if len(m.Files) > MaxFiles {
		return refuse(Oversize, nil, "%d files, at most %d", len(m.Files), MaxFiles)
	}
	files := make(map[string]bool, len(m.Files))
	folded := make(map[string]bool, len(m.Files))
	var total int64
	haveConfig := false
	for _, f := range m.Files {
		if err := CheckPath(f.Path); err != nil {
			return refuse(BadPath, err, "manifest file")
		}
		if files[f.Path] || folded[strings.ToLower(f.Path)] {
			return bad("file %q listed twice", f.Path)
		}
		files[f.Path], folded[strings.ToLower(f.Path)] = true, true
		if f.Size < 0 || f.Size > MaxFileSize {
			return refuse(Oversize, nil, "file %q: size %d, at most %d", f.Path, f.Size, MaxFileSize)
		}
		if total += f.Size; total > MaxBundleSize {
			return refuse(Oversize, nil, "files total over %d bytes", MaxBundleSize)
		}
		if !isHexSHA256(f.SHA256) {
			return bad("file %q: SHA-256 %.70q is not lower-case hex of 32 bytes", f.Path, f.SHA256)
		}
		haveConfig = haveConfig || f.Path == ConfigFile
	}
	if !haveConfig {
		return bad("no %s", ConfigFile)
	}
	if len(m.Boxes) == 0 || len(m.Boxes) > maxTargets {
		return bad("%d target boxes, want 1 to %d", len(m.Boxes), maxTargets)
	}
	keys := make(map[string]bool, len(m.Boxes))
	secrets := make(map[string]bool, len(m.Boxes))
	for _, b := range m.Boxes {
		pub, err := ParsePublicKeyHex(b.Key)
		if err != nil || b.Key != strings.ToLower(b.Key) {
			return bad("target box key %.70q: want 64 lower-case hex digits", b.Key)
		}
		if keys[b.Key] {
			return bad("target box %s listed twice", b.Key)
		}
		keys[b.Key] = true
		if b.Secrets != secretsPath(pub) || !files[b.Secrets] {
			return bad("target box %s: secrets %q are not its listed file %q", b.Key, b.Secrets, secretsPath(pub))
		}
		secrets[b.Secrets] = true
	}
	for p := range files {
		if strings.HasPrefix(p, SecretsDir+"/") && !secrets[p] {
			return bad("secrets file %q belongs to no target box", p)
		}
	}
	return nil
}

// target returns self's entry, if any.
func (m *Manifest) target(self ed25519.PublicKey) (Target, bool) {
	k := PublicKeyHex(self)
	for _, b := range m.Boxes {
		if b.Key == k {
			return b, true
		}
	}
	return Target{}, false
}

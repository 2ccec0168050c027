package bundle

import (
	"archive/zip"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"
)

// Contents is what a bundle carries besides secrets.
type Contents struct {
	Config    []byte            // config.toml
	Catalogue map[string][]byte // the spreadsheet and photos, by name under catalogue/
	Rules     map[string][]byte // the rule pack, by name under rules/
	// Scenarios are practice scenario files (package practice's format),
	// by name under scenarios/; none: the box keeps its built-in set.
	Scenarios map[string][]byte
	Model     *ModelRef // the speech model the box should run, if any
}

// Box is one target box and the secrets sealed to it.
type Box struct {
	Key     ed25519.PublicKey
	Secrets Secrets
}

// Signer is a trainer's key and the root's certificate for it.
type Signer struct {
	Key  ed25519.PrivateKey
	Cert Certificate
}

// Options are the rest of a bundle.
type Options struct {
	Version     uint64
	Created     time.Time
	Expires     time.Time
	Boxes       []Box
	Signer      Signer
	Root        ed25519.PublicKey  // Build checks the signer's certificate against it
	Revocations *SignedRevocations // the newest list the trainer has, passed on to the boxes
}

// Build writes a signed bundle to w. It refuses to write one the target
// boxes would refuse for its own shape (bad names, sizes, a certificate of
// another root, revoked or not valid at o.Created).
func Build(w io.Writer, c Contents, o Options) error {
	trainer, err := o.Signer.Cert.Verify(o.Root)
	if err != nil {
		return fmt.Errorf("bundle: build: the trainer certificate is not from this root: %w", err)
	}
	if !trainer.ValidAt(o.Created) {
		return fmt.Errorf("bundle: build: the trainer certificate is valid from %v until %v, not at %v",
			trainer.NotBefore, trainer.NotAfter, o.Created)
	}
	if pub, _ := trainer.PublicKey(); len(o.Signer.Key) != ed25519.PrivateKeySize || !pub.Equal(o.Signer.Key.Public()) {
		return errors.New("bundle: build: the trainer key does not match the certificate")
	}
	if o.Revocations != nil {
		r, err := o.Revocations.Verify(o.Root)
		if err != nil {
			return fmt.Errorf("bundle: build: %w", err)
		}
		if r.Revokes(trainer) {
			return fmt.Errorf("bundle: build: certificate %d (%s) is revoked", trainer.Serial, trainer.Name)
		}
	}

	files := map[string][]byte{ConfigFile: c.Config}
	for _, dir := range []struct {
		name  string
		files map[string][]byte
	}{{CatalogueDir, c.Catalogue}, {RulesDir, c.Rules}, {ScenariosDir, c.Scenarios}} {
		for name, data := range dir.files {
			// Not path.Join: it would clean "../config.toml" into a name
			// that overwrites another file; CheckPath refuses it instead.
			p := dir.name + "/" + name
			if _, dup := files[p]; dup {
				return fmt.Errorf("bundle: build: %q given twice", p)
			}
			files[p] = data
		}
	}
	m := Manifest{
		Format: FormatVersion, Version: o.Version,
		Created: o.Created.UTC().Truncate(time.Second), Expires: o.Expires.UTC().Truncate(time.Second),
		Signer: o.Signer.Cert, Revocations: o.Revocations, Model: c.Model,
	}
	for _, b := range o.Boxes {
		if len(b.Key) != ed25519.PublicKeySize {
			return fmt.Errorf("bundle: build: box key of %d bytes", len(b.Key))
		}
		sealed, err := seal(b.Secrets, b.Key)
		if err != nil {
			return err
		}
		p := secretsPath(b.Key)
		files[p] = sealed
		m.Boxes = append(m.Boxes, Target{Key: PublicKeyHex(b.Key), Secrets: p})
	}
	for _, p := range slices.Sorted(maps.Keys(files)) {
		sum := sha256.Sum256(files[p])
		m.Files = append(m.Files, File{Path: p, Size: int64(len(files[p])), SHA256: hex.EncodeToString(sum[:])})
	}
	if err := m.validate(); err != nil {
		return fmt.Errorf("bundle: build: %w", err)
	}
	manifest, err := jsonMarshal(m)
	if err != nil {
		return err
	}
	if len(manifest) > MaxManifestSize {
		return fmt.Errorf("bundle: build: manifest of %d bytes, at most %d", len(manifest), MaxManifestSize)
	}
	entries := []entry{
		{ManifestFile, manifest},
		{SignatureFile, signManifest(o.Signer.Key, manifest)},
	}
	for _, f := range m.Files {
		entries = append(entries, entry{f.Path, files[f.Path]})
	}
	return writeArchive(w, entries, m.Created)
}

func signManifest(key ed25519.PrivateKey, manifest []byte) []byte {
	return ed25519.Sign(key, append([]byte(manifestContext), manifest...))
}

func jsonMarshal(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	return b, nil
}

type entry struct {
	name string
	data []byte
}

// writeArchive writes entries as a zip, each stored (not compressed).
func writeArchive(w io.Writer, entries []entry, modified time.Time) error {
	zw := zip.NewWriter(w)
	for _, e := range entries {
		f, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Store, Modified: modified})
		if err != nil {
			return fmt.Errorf("bundle: write %s: %w", e.name, err)
		}
		if _, err := f.Write(e.data); err != nil {
			return fmt.Errorf("bundle: write %s: %w", e.name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("bundle: write: %w", err)
	}
	return nil
}

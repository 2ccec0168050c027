package bundle

import (
	"archive/zip"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// Verified is a bundle that passed every check in Open: its manifest, its
// signer, and its files' bytes, which are exactly the ones hashed.
type Verified struct {
	Manifest Manifest
	Trainer  Trainer
	// Revocations is the newest revocation list known: the box's own or the
	// bundle's; NewRevocations says it is the bundle's and the box should
	// keep it.
	Revocations    *Revocations
	NewRevocations bool

	self  Target
	files map[string][]byte
}

// Open verifies the bundle in r (size bytes) for the box whose public key
// is self, which has applied version have so far, at time now. Every
// refusal is an *Error; nothing of the bundle is returned, or should be
// used, unless it succeeds. It holds the files in memory (at most
// MaxBundleSize), so what the caller writes out is exactly what was
// hashed, whatever happens to the stick or file afterwards.
func Open(r io.ReaderAt, size int64, trust Trust, self ed25519.PublicKey, have uint64, now time.Time) (*Verified, error) {
	if size > MaxBundleSize {
		return nil, refuse(Oversize, nil, "bundle of %d bytes, at most %d", size, MaxBundleSize)
	}
	if size < 0 {
		return nil, refuse(Malformed, nil, "negative size")
	}
	zr, err := zip.NewReader(r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) { // insecure names are refused below, as BadPath
		return nil, refuse(Malformed, err, "not a zip archive")
	}
	if len(zr.File) > MaxFiles+2 {
		return nil, refuse(Oversize, nil, "%d entries, at most %d", len(zr.File), MaxFiles+2)
	}
	entries := make(map[string]*zip.File, len(zr.File))
	for _, f := range zr.File {
		if f.Name != ManifestFile && f.Name != SignatureFile {
			if err := CheckPath(f.Name); err != nil {
				return nil, refuse(BadPath, err, "archive entry")
			}
		}
		if entries[f.Name] != nil {
			return nil, refuse(Malformed, nil, "entry %q twice", f.Name)
		}
		entries[f.Name] = f
		if f.Method != zip.Store || f.CompressedSize64 != f.UncompressedSize64 {
			return nil, refuse(Malformed, nil, "entry %q is compressed (method %d)", f.Name, f.Method)
		}
		// A stored entry cannot be bigger than the archive: checked here so
		// no entry's claimed size makes the box allocate more than it read.
		if f.UncompressedSize64 > uint64(size) {
			return nil, refuse(Malformed, nil, "entry %q claims %d bytes in a %d-byte archive", f.Name, f.UncompressedSize64, size)
		}
		if f.UncompressedSize64 > MaxFileSize {
			return nil, refuse(Oversize, nil, "entry %q of %d bytes, at most %d", f.Name, f.UncompressedSize64, MaxFileSize)
		}
	}

	sigEntry := entries[SignatureFile]
	if sigEntry == nil || sigEntry.UncompressedSize64 == 0 {
		return nil, refuse(Unsigned, nil, "no %s", SignatureFile)
	}
	if sigEntry.UncompressedSize64 != ed25519.SignatureSize {
		return nil, refuse(BadSignature, nil, "%s of %d bytes, want %d", SignatureFile, sigEntry.UncompressedSize64, ed25519.SignatureSize)
	}
	mEntry := entries[ManifestFile]
	if mEntry == nil {
		return nil, refuse(Malformed, nil, "no %s", ManifestFile)
	}
	if mEntry.UncompressedSize64 > MaxManifestSize {
		return nil, refuse(Oversize, nil, "manifest of %d bytes, at most %d", mEntry.UncompressedSize64, MaxManifestSize)
	}
	manifest, err := readEntry(mEntry)
	if err != nil {
		return nil, refuse(Malformed, err, "read manifest")
	}
	sig, err := readEntry(sigEntry)
	if err != nil {
		return nil, refuse(Malformed, err, "read signature")
	}
	var m Manifest
	if err := decodeStrict(manifest, &m); err != nil {
		return nil, refuse(Malformed, err, "manifest")
	}

	// The signature chain, before anything in the manifest is believed.
	trainer, err := m.Signer.Verify(trust.Root)
	if err != nil {
		return nil, refuse(UnknownSigner, err, "signer's certificate is not from root %s", Fingerprint(trust.Root))
	}
	v := &Verified{Trainer: trainer, Revocations: trust.Revocations}
	if m.Revocations != nil {
		theirs, err := m.Revocations.Verify(trust.Root)
		if err != nil {
			return nil, refuse(Malformed, err, "the bundle's revocation list")
		}
		if v.Revocations == nil || theirs.Version > v.Revocations.Version {
			v.Revocations, v.NewRevocations = &theirs, true
		}
	}
	if v.Revocations.Revokes(trainer) {
		return nil, refuse(Revoked, nil, "certificate %d of trainer %q (key %s) is revoked", trainer.Serial, trainer.Name, trainer.Key)
	}
	tpub, _ := trainer.PublicKey() // validated with the certificate
	if len(sig) != ed25519.SignatureSize || !ed25519.Verify(tpub, append([]byte(manifestContext), manifest...), sig) {
		return nil, refuse(BadSignature, nil, "manifest signature does not match trainer %q's key", trainer.Name)
	}
	// A Pi has no clock battery: when it starts without network its clock
	// may lag. The signed creation time is a floor for the real time.
	if m.Created.After(now) {
		now = m.Created
	}
	if !trainer.ValidAt(now) {
		return nil, refuse(CertExpired, nil, "certificate %d of trainer %q is valid from %v until %v, not at %v",
			trainer.Serial, trainer.Name, trainer.NotBefore, trainer.NotAfter, now)
	}

	if err := m.validate(); err != nil {
		return nil, err
	}
	t, ok := m.target(self)
	if !ok {
		return nil, refuse(NotForBox, nil, "box %s is not among the %d target(s)", PublicKeyHex(self), len(m.Boxes))
	}
	if m.Version <= have {
		return nil, refuse(Replay, nil, "version %d, the box has %d", m.Version, have)
	}
	if now.After(m.Expires) {
		return nil, refuse(Expired, nil, "expired at %v, now %v", m.Expires, now)
	}

	listed := make(map[string]File, len(m.Files))
	for _, f := range m.Files {
		listed[f.Path] = f
	}
	for _, name := range slices.Sorted(maps.Keys(entries)) {
		if _, ok := listed[name]; !ok && name != ManifestFile && name != SignatureFile {
			return nil, refuse(ExtraFile, nil, "%q is not in the manifest", name)
		}
	}
	v.files = make(map[string][]byte, len(m.Files))
	for _, f := range m.Files {
		e := entries[f.Path]
		if e == nil {
			return nil, refuse(MissingFile, nil, "%q is missing", f.Path)
		}
		if e.UncompressedSize64 != uint64(f.Size) {
			return nil, refuse(FileMismatch, nil, "%q: %d bytes, the manifest says %d", f.Path, e.UncompressedSize64, f.Size)
		}
		data, err := readEntry(e)
		if err != nil {
			return nil, refuse(FileMismatch, err, "%q: read", f.Path)
		}
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != f.SHA256 {
			return nil, refuse(FileMismatch, nil, "%q: SHA-256 differs from the manifest", f.Path)
		}
		v.files[f.Path] = data
	}
	v.Manifest, v.self = m, t
	return v, nil
}

// readEntry reads a stored entry whole: exactly its declared size. It reads
// the raw bytes and skips zip's CRC-32: every file is checked against its
// SHA-256 in the signed manifest, and the CRC would be a second pass over
// 20 MB on a Pi for nothing.
func readEntry(f *zip.File) ([]byte, error) {
	r, err := f.OpenRaw()
	if err != nil {
		return nil, err
	}
	data := make([]byte, f.UncompressedSize64) // bounded by MaxFileSize and the archive's size above
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, err
	}
	return data, nil
}

// File returns a file of the bundle by its path in the manifest.
func (v *Verified) File(p string) ([]byte, bool) {
	data, ok := v.files[p]
	return data, ok
}

// Config is config.toml.
func (v *Verified) Config() []byte { return v.files[ConfigFile] }

// Catalogue is the catalogue's files, by name under catalogue/.
func (v *Verified) Catalogue() map[string][]byte { return v.under(CatalogueDir) }

// Rules is the rule pack's files, by name under rules/.
func (v *Verified) Rules() map[string][]byte { return v.under(RulesDir) }

// Scenarios is the practice scenarios' files, by name under scenarios/;
// empty for a bundle without any (every bundle made before they existed).
func (v *Verified) Scenarios() map[string][]byte { return v.under(ScenariosDir) }

func (v *Verified) under(dir string) map[string][]byte {
	out := make(map[string][]byte)
	for p, data := range v.files {
		if rest, ok := strings.CutPrefix(p, dir+"/"); ok {
			out[rest] = data
		}
	}
	return out
}

// Secrets opens this box's sealed secrets with its private key. A refusal
// is an *Error of kind NoSecrets (or Malformed for a sealed file that opens
// but does not parse).
func (v *Verified) Secrets(key ed25519.PrivateKey) (Secrets, error) {
	if len(key) != ed25519.PrivateKeySize {
		return Secrets{}, refuse(NoSecrets, nil, "box key of %d bytes", len(key))
	}
	if pub := key.Public().(ed25519.PublicKey); PublicKeyHex(pub) != v.self.Key {
		return Secrets{}, refuse(NoSecrets, nil, "the key given is not the box's the bundle was opened for")
	}
	return unseal(v.files[v.self.Secrets], key)
}

package bundle

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"
)

// FuzzOpen feeds Open arbitrary archives, seeded with a good bundle and
// tampered ones. Whatever it gets, it must not panic, must refuse with an
// *Error that has a message, and anything it accepts must be exactly what
// its signed manifest lists.
func FuzzOpen(f *testing.F) {
	fx := newFixture(f)
	// Small seeds: the fuzzer minimises every new input it finds, which
	// takes long for big ones.
	good := fx.build(f, func(c *Contents, o *Options) {
		c.Catalogue = map[string][]byte{"c.csv": []byte("a,1\n")}
		c.Rules, c.Model = nil, nil
		o.Boxes = o.Boxes[:1]
	})
	f.Add(good)
	a := parseArchive(f, good)
	a.entries = append(a.entries, entry{"catalogue/../../x", []byte("x")})
	f.Add(a.bytes(f, nil))
	a = parseArchive(f, good)
	a.manifest.Version = 9
	f.Add(a.bytes(f, fx.trainer))
	f.Add(good[:len(good)-30])
	f.Add([]byte("PK\x05\x06" + string(make([]byte, 18))))
	trust := fx.trust()
	self := pub(fx.boxA)
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := Open(bytes.NewReader(b), int64(len(b)), trust, self, 0, t0)
		if err != nil {
			var be *Error
			if !errors.As(err, &be) || be.Message() == "" || v != nil {
				t.Fatalf("refusal %v (%T), verified %v", err, err, v != nil)
			}
			return
		}
		checkVerified(t, v, self)
	})
}

// FuzzOpenSigned fuzzes what follows the signature check: the manifest is
// the fuzzer's, signed by the real trainer, packed with the files it names
// (and one more entry), so inputs are not all stopped at the signature.
func FuzzOpenSigned(f *testing.F) {
	fx := newFixture(f)
	a := parseArchive(f, fx.build(f, func(c *Contents, o *Options) {
		c.Catalogue = map[string][]byte{"c.csv": []byte("a,1\n")}
		c.Rules, c.Model = nil, nil
		o.Boxes = o.Boxes[:1]
	}))
	f.Add(a.raw, "", []byte(nil))
	f.Add(a.raw, "rules/../../x", []byte("x"))
	f.Add(bytes.Replace(a.raw, []byte(`"version": 5`), []byte(`"version": 0`), 1), "", []byte(nil))
	f.Add(bytes.Replace(a.raw, []byte("catalogue/c.csv"), []byte("catalogue/../c.csv"), 1), "", []byte(nil))
	trust, self := fx.trust(), pub(fx.boxA)
	f.Fuzz(func(t *testing.T, manifest []byte, extra string, extraData []byte) {
		var m Manifest
		_ = json.Unmarshal(manifest, &m)
		entries := []entry{{ManifestFile, manifest}, {SignatureFile, signManifest(fx.trainer, manifest)}}
		for _, fl := range m.Files {
			if e := a.entry(fl.Path); e != nil {
				entries = append(entries, *e)
			}
		}
		if extra != "" {
			entries = append(entries, entry{extra, extraData})
		}
		var buf bytes.Buffer
		if err := writeArchive(&buf, entries, t0); err != nil {
			return
		}
		v, err := Open(bytes.NewReader(buf.Bytes()), int64(buf.Len()), trust, self, 0, t0)
		if err != nil {
			var be *Error
			if !errors.As(err, &be) || be.Message() == "" || v != nil {
				t.Fatalf("refusal %v (%T), verified %v", err, err, v != nil)
			}
			return
		}
		checkVerified(t, v, self)
	})
}

// checkVerified checks what Open accepted is what its manifest lists.
func checkVerified(t *testing.T, v *Verified, self ed25519.PublicKey) {
	t.Helper()
	if len(v.files) != len(v.Manifest.Files) {
		t.Fatalf("%d files, manifest lists %d", len(v.files), len(v.Manifest.Files))
	}
	for _, f := range v.Manifest.Files {
		data, ok := v.File(f.Path)
		sum := sha256.Sum256(data)
		if !ok || CheckPath(f.Path) != nil || hex.EncodeToString(sum[:]) != f.SHA256 || int64(len(data)) != f.Size {
			t.Fatalf("accepted file %q that does not match its manifest entry", f.Path)
		}
	}
	if _, ok := v.Manifest.target(self); !ok || v.Manifest.Version == 0 || !v.Manifest.Expires.After(t0) {
		t.Fatalf("accepted a bundle not for this box, of version 0 or expired: %+v", v.Manifest)
	}
}

// BenchmarkVerify20MB is a workshop bundle of about 20 MB (a catalogue of
// 40 photos of 500 KB) checked the way the box checks it.
func BenchmarkVerify20MB(b *testing.B) {
	fx := newFixture(b)
	bundle := fx.build(b, func(c *Contents, _ *Options) {
		for i := range 40 {
			photo := make([]byte, 500<<10)
			rand.Read(photo)
			c.Catalogue[fmt.Sprintf("photos/%02d.jpg", i)] = photo
		}
	})
	trust, self := fx.trust(), pub(fx.boxA)
	b.SetBytes(int64(len(bundle)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := Open(bytes.NewReader(bundle), int64(len(bundle)), trust, self, 0, t0.Add(time.Hour)); err != nil {
			b.Fatal(err)
		}
	}
}

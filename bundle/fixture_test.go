package bundle

import (
	"archive/zip"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"io"
	"testing"
	"time"
)

// key makes a fixed key from a name, so fuzz seeds stay valid across runs.
func key(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("bundle test key: " + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// fixture is an organisation with one trainer and two target boxes, and a
// third box the bundle is not for.
type fixture struct {
	root, trainer, boxA, boxB, stranger ed25519.PrivateKey
	cert                                Certificate
	trainerInfo                         Trainer
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	f := &fixture{root: key("root"), trainer: key("trainer"), boxA: key("box A"), boxB: key("box B"), stranger: key("stranger")}
	f.trainerInfo = Trainer{Serial: 7, Name: "王老师", Key: PublicKeyHex(pub(f.trainer)),
		NotBefore: t0.AddDate(0, -1, 0), NotAfter: t0.AddDate(1, 0, 0)}
	var err error
	if f.cert, err = IssueCertificate(f.root, f.trainerInfo); err != nil {
		tb.Fatal(err)
	}
	return f
}

func (f *fixture) trust() Trust { return Trust{Root: pub(f.root)} }

func secretsFor(name string) Secrets {
	return Secrets{
		WiFi:       []WiFi{{SSID: "榕江-" + name, Password: "wifi-pass-" + name}},
		StreamKeys: map[string]string{"douyin": "stream-key-" + name},
		PIN:        "5182" + name[len(name)-1:] + "4",
	}
}

func (f *fixture) contents() Contents {
	return Contents{
		Config: []byte("[stream]\nurl = \"rtmp://push.example/live\"\n"),
		Catalogue: map[string][]byte{
			"catalogue.csv":  []byte("名称,价格,链接号,图片\n辣椒酱,29.9,1,辣椒酱.jpg\n"),
			"photos/辣椒酱.jpg": bytes.Repeat([]byte{0xff, 0xd8, 0x42}, 1000),
		},
		Rules: map[string][]byte{"pack.toml": []byte("version = 3\n")},
		Model: &ModelRef{Name: "sherpa-zipformer-zh-small", SHA256: hexSum([]byte("model"))},
	}
}

func (f *fixture) options() Options {
	return Options{
		Version: 5, Created: t0, Expires: t0.AddDate(0, 0, 30),
		Boxes: []Box{
			{Key: pub(f.boxA), Secrets: secretsFor("A")},
			{Key: pub(f.boxB), Secrets: secretsFor("B")},
		},
		Signer: Signer{Key: f.trainer, Cert: f.cert},
		Root:   pub(f.root),
	}
}

func (f *fixture) build(tb testing.TB, edit func(*Contents, *Options)) []byte {
	tb.Helper()
	c, o := f.contents(), f.options()
	if edit != nil {
		edit(&c, &o)
	}
	var buf bytes.Buffer
	if err := Build(&buf, c, o); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func hexSum(b []byte) string {
	sum := sha256.Sum256(b)
	return PublicKeyHex(sum[:])
}

// archive is a bundle taken apart, to be changed and put back together the
// way an attacker (or a buggy tool) would.
type archive struct {
	manifest Manifest
	raw      []byte // manifest.json as signed
	sig      []byte
	entries  []entry // everything but manifest and signature, in order
}

func parseArchive(tb testing.TB, b []byte) *archive {
	tb.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		tb.Fatal(err)
	}
	a := &archive{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			tb.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			tb.Fatal(err)
		}
		switch f.Name {
		case ManifestFile:
			a.raw = data
		case SignatureFile:
			a.sig = data
		default:
			a.entries = append(a.entries, entry{f.Name, data})
		}
	}
	if err := json.Unmarshal(a.raw, &a.manifest); err != nil {
		tb.Fatal(err)
	}
	return a
}

// bytes writes the archive back. With signer set, the (edited) manifest is
// re-encoded and signed by it; without, the original manifest bytes and
// signature are kept.
func (a *archive) bytes(tb testing.TB, signer ed25519.PrivateKey) []byte {
	tb.Helper()
	raw, sig := a.raw, a.sig
	if signer != nil {
		var err error
		if raw, err = jsonMarshal(a.manifest); err != nil {
			tb.Fatal(err)
		}
		sig = signManifest(signer, raw)
	}
	var entries []entry
	if raw != nil {
		entries = append(entries, entry{ManifestFile, raw})
	}
	if sig != nil {
		entries = append(entries, entry{SignatureFile, sig})
	}
	var buf bytes.Buffer
	if err := writeArchive(&buf, append(entries, a.entries...), t0); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// unsignedEdit re-encodes the edited manifest but keeps the old signature:
// what someone without the trainer's key can do.
func (a *archive) unsignedEdit(tb testing.TB) []byte {
	tb.Helper()
	raw, err := jsonMarshal(a.manifest)
	if err != nil {
		tb.Fatal(err)
	}
	a.raw = raw
	return a.bytes(tb, nil)
}

func (a *archive) file(p string) *File {
	for i := range a.manifest.Files {
		if a.manifest.Files[i].Path == p {
			return &a.manifest.Files[i]
		}
	}
	return nil
}

func (a *archive) entry(p string) *entry {
	for i := range a.entries {
		if a.entries[i].name == p {
			return &a.entries[i]
		}
	}
	return nil
}

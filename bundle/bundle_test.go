package bundle

import (
	"archive/zip"
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func open(b []byte, trust Trust, self ed25519.PublicKey, have uint64, now time.Time) (*Verified, error) {
	return Open(bytes.NewReader(b), int64(len(b)), trust, self, have, now)
}

func TestRoundTrip(t *testing.T) {
	f := newFixture(t)
	b := f.build(t, nil)
	for _, box := range []ed25519.PrivateKey{f.boxA, f.boxB} {
		v, err := open(b, f.trust(), pub(box), 4, t0.Add(time.Hour))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		c := f.contents()
		if !bytes.Equal(v.Config(), c.Config) {
			t.Errorf("config = %q", v.Config())
		}
		for name, want := range c.Catalogue {
			if got := v.Catalogue()[name]; !bytes.Equal(got, want) {
				t.Errorf("catalogue %s: %d bytes, want %d", name, len(got), len(want))
			}
		}
		if len(v.Catalogue()) != len(c.Catalogue) || !bytes.Equal(v.Rules()["pack.toml"], c.Rules["pack.toml"]) {
			t.Errorf("catalogue %d files, rules %q", len(v.Catalogue()), v.Rules()["pack.toml"])
		}
		if v.Manifest.Version != 5 || *v.Manifest.Model != *c.Model || v.Trainer.Name != "王老师" {
			t.Errorf("manifest %+v, trainer %+v", v.Manifest, v.Trainer)
		}
		if _, ok := v.File("secrets/../config.toml"); ok {
			t.Error("File resolved a path with ..")
		}
	}
}

// TestScenariosRoundTrip: practice scenarios travel under scenarios/ and
// come out byte for byte; a bundle without them (every older one) is still
// valid and carries none.
func TestScenariosRoundTrip(t *testing.T) {
	f := newFixture(t)
	scn := map[string][]byte{
		"榕江 第一课.txt": []byte("scenario 榕江\nversion 1\n3 | 阿英 | - | - | - | 主播好\n"),
		"蜂蜜.txt":     []byte("scenario 蜂蜜\nversion 1\n"),
	}
	for _, c := range []struct {
		name string
		scn  map[string][]byte
	}{{"with scenarios", scn}, {"without", nil}} {
		t.Run(c.name, func(t *testing.T) {
			b := f.build(t, func(co *Contents, _ *Options) { co.Scenarios = c.scn })
			v, err := open(b, f.trust(), pub(f.boxA), 0, t0)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			got := v.Scenarios()
			if len(got) != len(c.scn) {
				t.Fatalf("Scenarios() = %d files, want %d", len(got), len(c.scn))
			}
			for name, want := range c.scn {
				if !bytes.Equal(got[name], want) {
					t.Errorf("scenario %s = %q, want %q", name, got[name], want)
				}
			}
			if len(v.Rules()) != 1 || len(v.Catalogue()) != 2 {
				t.Errorf("rules %d, catalogue %d files: scenarios leaked into other folders", len(v.Rules()), len(v.Catalogue()))
			}
		})
	}
	for _, bad := range []string{"a/b.txt", "../config.toml", ".hidden.txt"} {
		co, o := f.contents(), f.options()
		co.Scenarios = map[string][]byte{bad: []byte("x")}
		if err := Build(&bytes.Buffer{}, co, o); err == nil {
			t.Errorf("Build took scenario %q", bad)
		}
	}
}

func TestSecretsOnlyForTheirBox(t *testing.T) {
	f := newFixture(t)
	b := f.build(t, nil)
	// A lost stick: none of the secrets is in the file in the clear.
	for _, s := range []string{"wifi-pass-A", "stream-key-A", "wifi-pass-B", "stream-key-B", "榕江-A"} {
		if bytes.Contains(b, []byte(s)) {
			t.Errorf("bundle holds %q in the clear", s)
		}
	}
	for _, c := range []struct {
		name string
		box  ed25519.PrivateKey
		want Secrets
	}{{"A", f.boxA, secretsFor("A")}, {"B", f.boxB, secretsFor("B")}} {
		v, err := open(b, f.trust(), pub(c.box), 0, t0)
		if err != nil {
			t.Fatal(err)
		}
		got, err := v.Secrets(c.box)
		if err != nil {
			t.Fatalf("box %s: %v", c.name, err)
		}
		if got.PIN != c.want.PIN || got.WiFi[0] != c.want.WiFi[0] || got.StreamKeys["douyin"] != c.want.StreamKeys["douyin"] {
			t.Errorf("box %s: secrets %+v, want %+v", c.name, got, c.want)
		}
		// Another key than the box's: refused.
		if _, err := v.Secrets(f.stranger); !errors.Is(err, NoSecrets) {
			t.Errorf("box %s, stranger's key: %v, want NoSecrets", c.name, err)
		}
	}
	// The sealing itself, not only the key check: box B's key cannot open
	// box A's file, nor can the trainer's or the root's.
	v, err := open(b, f.trust(), pub(f.boxA), 0, t0)
	if err != nil {
		t.Fatal(err)
	}
	sealedA, _ := v.File(secretsPath(pub(f.boxA)))
	for name, k := range map[string]ed25519.PrivateKey{"box B": f.boxB, "trainer": f.trainer, "root": f.root} {
		if _, err := unseal(sealedA, k); !errors.Is(err, NoSecrets) {
			t.Errorf("%s opened box A's secrets: %v", name, err)
		}
	}
	if s, err := unseal(sealedA, f.boxA); err != nil || s.PIN != secretsFor("A").PIN {
		t.Errorf("box A's own key: %+v, %v", s, err)
	}
}

// TestRefusals is one row per refusal: a tampered or wrong bundle, or a
// bundle at the wrong time, box or version, and the refusal it must get.
func TestRefusals(t *testing.T) {
	f := newFixture(t)
	good := f.build(t, nil)
	otherRoot := key("other root")
	otherCert, err := IssueCertificate(otherRoot, f.trainerInfo)
	if err != nil {
		t.Fatal(err)
	}
	selfCert, err := IssueCertificate(f.trainer, f.trainerInfo)
	if err != nil {
		t.Fatal(err)
	}
	revokedList := func(r Revocations) *Revocations {
		s, err := SignRevocations(f.root, r)
		if err != nil {
			t.Fatal(err)
		}
		v, err := s.Verify(pub(f.root))
		if err != nil {
			t.Fatal(err)
		}
		return &v
	}
	edit := func(change func(a *archive)) func() []byte {
		return func() []byte { a := parseArchive(t, good); change(a); return a.unsignedEdit(t) }
	}
	resigned := func(change func(a *archive)) func() []byte {
		return func() []byte { a := parseArchive(t, good); change(a); return a.bytes(t, f.trainer) }
	}
	entries := func(change func(a *archive)) func() []byte {
		return func() []byte { a := parseArchive(t, good); change(a); return a.bytes(t, nil) }
	}
	photo := CatalogueDir + "/photos/辣椒酱.jpg"
	secretsA := secretsPath(pub(f.boxA))

	type row struct {
		name  string
		make  func() []byte
		trust *Trust
		self  ed25519.PublicKey
		have  uint64
		now   time.Time
		want  Kind
	}
	rows := []row{
		// The signature.
		{name: "no signature", make: entries(func(a *archive) { a.sig = nil }), want: Unsigned},
		{name: "empty signature", make: entries(func(a *archive) { a.sig = []byte{} }), want: Unsigned},
		{name: "signature bit flipped", make: entries(func(a *archive) { a.sig = flip(a.sig, 10) }), want: BadSignature},
		{name: "signature short", make: entries(func(a *archive) { a.sig = a.sig[:63] }), want: BadSignature},
		{name: "signed by another trainer key", make: func() []byte { return parseArchive(t, good).bytes(t, key("impostor")) }, want: BadSignature},
		{name: "manifest whitespace", make: entries(func(a *archive) { a.raw = append(a.raw, ' ') }), want: BadSignature},
		// Each manifest field, changed by someone without the trainer's key.
		{name: "field format", make: edit(func(a *archive) { a.manifest.Format = 2 }), want: BadSignature},
		{name: "field version", make: edit(func(a *archive) { a.manifest.Version = 99 }), want: BadSignature},
		{name: "field created", make: edit(func(a *archive) { a.manifest.Created = a.manifest.Created.Add(time.Second) }), want: BadSignature},
		{name: "field expires", make: edit(func(a *archive) { a.manifest.Expires = a.manifest.Expires.AddDate(1, 0, 0) }), want: BadSignature},
		{name: "field boxes key", make: edit(func(a *archive) { a.manifest.Boxes[1].Key = PublicKeyHex(pub(f.stranger)) }), want: BadSignature},
		{name: "field boxes secrets", make: edit(func(a *archive) { a.manifest.Boxes[0].Secrets = a.manifest.Boxes[1].Secrets }), want: BadSignature},
		{name: "field boxes added", make: edit(func(a *archive) {
			a.manifest.Boxes = append(a.manifest.Boxes, Target{Key: PublicKeyHex(pub(f.stranger)), Secrets: secretsA})
		}), self: pub(f.stranger), want: BadSignature},
		{name: "field signer body", make: edit(func(a *archive) {
			a.manifest.Signer.Body = bytes.Replace(a.manifest.Signer.Body, []byte("王"), []byte("李"), 1)
		}), want: UnknownSigner},
		{name: "field signer sig", make: edit(func(a *archive) { a.manifest.Signer.Sig = flip(a.manifest.Signer.Sig, 0) }), want: UnknownSigner},
		{name: "field model name", make: edit(func(a *archive) { a.manifest.Model.Name = "other" }), want: BadSignature},
		{name: "field model sha256", make: edit(func(a *archive) { a.manifest.Model.SHA256 = hexSum([]byte("other")) }), want: BadSignature},
		{name: "field model removed", make: edit(func(a *archive) { a.manifest.Model = nil }), want: BadSignature},
		{name: "field files path", make: edit(func(a *archive) {
			a.file(photo).Path = CatalogueDir + "/photos/x.jpg"
			a.entry(photo).name = CatalogueDir + "/photos/x.jpg"
		}), want: BadSignature},
		{name: "field files size", make: edit(func(a *archive) { a.file(ConfigFile).Size++ }), want: BadSignature},
		{name: "field files sha256", make: edit(func(a *archive) {
			a.entry(ConfigFile).data = []byte("evil = true\n")
			a.file(ConfigFile).SHA256 = hexSum([]byte("evil = true\n"))
			a.file(ConfigFile).Size = int64(len("evil = true\n"))
		}), want: BadSignature},
		{name: "field files removed", make: edit(func(a *archive) { a.manifest.Files = a.manifest.Files[1:] }), want: BadSignature},
		{name: "field revocations added", make: edit(func(a *archive) {
			s, _ := SignRevocations(f.root, Revocations{Version: 1})
			a.manifest.Revocations = &s
		}), want: BadSignature},
		// The chain.
		{name: "certificate from another root", make: resigned(func(a *archive) { a.manifest.Signer = otherCert }), want: UnknownSigner},
		{name: "certificate signed by the trainer herself", make: resigned(func(a *archive) { a.manifest.Signer = selfCert }), want: UnknownSigner},
		{name: "box trusts another root", make: func() []byte { return good }, trust: &Trust{Root: pub(otherRoot)}, want: UnknownSigner},
		{name: "trainer revoked by serial", make: func() []byte { return good },
			trust: &Trust{Root: pub(f.root), Revocations: revokedList(Revocations{Version: 2, Serials: []uint64{3, 7}})}, want: Revoked},
		{name: "trainer revoked by key", make: func() []byte { return good },
			trust: &Trust{Root: pub(f.root), Revocations: revokedList(Revocations{Version: 2, Keys: []string{PublicKeyHex(pub(f.trainer))}})}, want: Revoked},
		{name: "revocation list from another root in the bundle", make: resigned(func(a *archive) {
			s, _ := SignRevocations(otherRoot, Revocations{Version: 9})
			a.manifest.Revocations = &s
		}), want: Malformed},
		{name: "certificate expired", make: func() []byte { return good }, now: f.trainerInfo.NotAfter.Add(time.Second), want: CertExpired},
		{name: "certificate not yet valid", make: resigned(func(a *archive) {
			info := f.trainerInfo
			info.NotBefore = t0.Add(2 * time.Hour) // after the bundle's creation and the box's clock
			a.manifest.Signer, _ = IssueCertificate(f.root, info)
		}), want: CertExpired},
		// A box whose clock lags (no clock battery) takes the signed
		// creation time as the least the time can be: still expired.
		{name: "certificate expired, box clock behind", make: resigned(func(a *archive) {
			a.manifest.Created = f.trainerInfo.NotAfter.Add(24 * time.Hour)
			a.manifest.Expires = a.manifest.Created.AddDate(0, 0, 30)
		}), now: t0, want: CertExpired},
		// Box, version, time.
		{name: "not for this box", make: func() []byte { return good }, self: pub(f.stranger), want: NotForBox},
		{name: "equal version", make: func() []byte { return good }, have: 5, want: Replay},
		{name: "older version", make: func() []byte { return good }, have: 6, want: Replay},
		{name: "bundle expired", make: func() []byte { return good }, now: t0.AddDate(0, 0, 30).Add(time.Second), want: Expired},
		// The files.
		{name: "config changed", make: entries(func(a *archive) { a.entry(ConfigFile).data = flip(a.entry(ConfigFile).data, 3) }), want: FileMismatch},
		{name: "photo changed", make: entries(func(a *archive) { a.entry(photo).data = flip(a.entry(photo).data, 2000) }), want: FileMismatch},
		{name: "rules changed", make: entries(func(a *archive) { a.entry(RulesDir + "/pack.toml").data = []byte("version = 4\n") }), want: FileMismatch},
		{name: "catalogue changed", make: entries(func(a *archive) {
			a.entry(CatalogueDir + "/catalogue.csv").data = flip(a.entry(CatalogueDir+"/catalogue.csv").data, 0)
		}), want: FileMismatch},
		{name: "secrets swapped", make: entries(func(a *archive) {
			sb := secretsPath(pub(f.boxB))
			a.entry(secretsA).data, a.entry(sb).data = a.entry(sb).data, a.entry(secretsA).data
		}), want: FileMismatch},
		{name: "file grown", make: entries(func(a *archive) { a.entry(ConfigFile).data = append(a.entry(ConfigFile).data, '\n') }), want: FileMismatch},
		{name: "file missing", make: entries(func(a *archive) { a.entries = a.entries[1:] }), want: MissingFile},
		{name: "extra file", make: entries(func(a *archive) {
			a.entries = append(a.entries, entry{CatalogueDir + "/photos/extra.jpg", []byte("x")})
		}), want: ExtraFile},
		{name: "extra file resigned but not listed", make: resigned(func(a *archive) { a.entries = append(a.entries, entry{RulesDir + "/more.toml", []byte("x")}) }), want: ExtraFile},
		// Names.
		{name: "traversal entry", make: entries(func(a *archive) { a.entries = append(a.entries, entry{"../../etc/cunbo/config.toml", []byte("x")}) }), want: BadPath},
		{name: "traversal inside folder", make: entries(func(a *archive) { a.entries = append(a.entries, entry{"catalogue/../../x", []byte("x")}) }), want: BadPath},
		{name: "absolute entry", make: entries(func(a *archive) { a.entries = append(a.entries, entry{"/etc/passwd", []byte("x")}) }), want: BadPath},
		{name: "backslash entry", make: entries(func(a *archive) { a.entries = append(a.entries, entry{`rules\..\..\x`, []byte("x")}) }), want: BadPath},
		{name: "traversal signed by a real trainer", make: resigned(func(a *archive) {
			a.file(photo).Path = "catalogue/../../../boot/cmdline.txt"
			a.entry(photo).name = "catalogue/../../../boot/cmdline.txt"
		}), want: BadPath},
		{name: "traversal only in the signed manifest", make: resigned(func(a *archive) { a.file(photo).Path = "../x.jpg" }), want: BadPath},
		{name: "file outside the folders", make: resigned(func(a *archive) {
			a.file(photo).Path = "etc.sh"
			a.entry(photo).name = "etc.sh"
		}), want: BadPath},
		{name: "hidden file", make: resigned(func(a *archive) {
			a.file(photo).Path = "rules/.profile"
			a.entry(photo).name = "rules/.profile"
		}), want: BadPath},
		// Shape.
		{name: "not a zip", make: func() []byte { return []byte("PK\x03\x04 not really") }, want: Malformed},
		{name: "empty", make: func() []byte { return nil }, want: Malformed},
		{name: "truncated", make: func() []byte { return good[:len(good)/2] }, want: Malformed},
		{name: "no manifest", make: entries(func(a *archive) { a.raw = nil }), want: Malformed},
		{name: "manifest not JSON", make: func() []byte {
			a := parseArchive(t, good)
			a.raw = []byte("{not json")
			a.sig = signManifest(f.trainer, a.raw)
			return a.bytes(t, nil)
		}, want: Malformed},
		{name: "manifest unknown field", make: func() []byte {
			a := parseArchive(t, good)
			a.raw = bytes.Replace(a.raw, []byte(`"format"`), []byte(`"extra": 1, "format"`), 1)
			a.sig = signManifest(f.trainer, a.raw)
			return a.bytes(t, nil)
		}, want: Malformed},
		{name: "format 2 signed", make: resigned(func(a *archive) { a.manifest.Format = 2 }), want: Malformed},
		{name: "version 0 signed", make: resigned(func(a *archive) { a.manifest.Version = 0 }), want: Malformed},
		{name: "sha256 not hex signed", make: resigned(func(a *archive) { a.file(ConfigFile).SHA256 = "zz" }), want: Malformed},
		{name: "no config signed", make: resigned(func(a *archive) {
			a.file(ConfigFile).Path = CatalogueDir + "/config.toml"
			a.entry(ConfigFile).name = CatalogueDir + "/config.toml"
		}), want: Malformed},
		{name: "box secrets unlisted signed", make: resigned(func(a *archive) {
			a.manifest.Boxes[0].Secrets = "secrets/0000.age"
		}), want: Malformed},
		{name: "duplicate entry", make: entries(func(a *archive) { a.entries = append(a.entries, a.entries[0]) }), want: Malformed},
		{name: "compressed entry", make: func() []byte { return deflated(t, good, ConfigFile) }, want: Malformed},
		// Sizes.
		{name: "bundle too big", make: func() []byte { return good }, want: Oversize},
		{name: "too many files", make: entries(func(a *archive) {
			for i := range MaxFiles + 1 {
				a.entries = append(a.entries, entry{fmt.Sprintf("catalogue/%d.jpg", i), nil})
			}
		}), want: Oversize},
		{name: "file too big signed", make: resigned(func(a *archive) { a.file(photo).Size = MaxFileSize + 1 }), want: Oversize},
	}
	seen := map[Kind]bool{}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			b := r.make()
			trust := f.trust()
			if r.trust != nil {
				trust = *r.trust
			}
			self := pub(f.boxA)
			if r.self != nil {
				self = r.self
			}
			now := t0.Add(time.Hour)
			if !r.now.IsZero() {
				now = r.now
			}
			size := int64(len(b))
			if r.name == "bundle too big" {
				size = MaxBundleSize + 1
			}
			v, err := Open(bytes.NewReader(b), size, trust, self, r.have, now)
			if v != nil {
				t.Fatalf("accepted, want %s", r.want)
			}
			var be *Error
			if !errors.As(err, &be) || !errors.Is(err, r.want) {
				t.Fatalf("err = %v, want kind %s", err, r.want)
			}
			if be.Message() == "" || be.Reason == "" || strings.ContainsAny(be.Message(), "abcdefghijklmnopqrstuvwxyz") {
				t.Errorf("message %q, reason %q", be.Message(), be.Reason)
			}
			seen[r.want] = true
		})
	}
	for _, k := range []Kind{Oversize, Malformed, Unsigned, BadSignature, UnknownSigner, Revoked, CertExpired,
		NotForBox, Replay, Expired, FileMismatch, MissingFile, ExtraFile, BadPath} {
		if !seen[k] {
			t.Errorf("no row refused with %s", k)
		}
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

// deflated rewrites the bundle with one entry compressed.
func deflated(t *testing.T, b []byte, name string) []byte {
	a := parseArchive(t, b)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	all := append([]entry{{ManifestFile, a.raw}, {SignatureFile, a.sig}}, a.entries...)
	for _, e := range all {
		method := zip.Store
		if e.name == name {
			method = zip.Deflate
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: method})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(e.data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A bundle may bring a newer revocation list, which the box keeps; an
// older one than the box's does not replace it.
func TestRevocationsTravel(t *testing.T) {
	f := newFixture(t)
	list, err := SignRevocations(f.root, Revocations{Version: 3, Issued: t0, Serials: []uint64{11}})
	if err != nil {
		t.Fatal(err)
	}
	b := f.build(t, func(_ *Contents, o *Options) { o.Revocations = &list })
	v, err := open(b, f.trust(), pub(f.boxA), 0, t0)
	if err != nil {
		t.Fatal(err)
	}
	if !v.NewRevocations || v.Revocations.Version != 3 || v.Revocations.Serials[0] != 11 {
		t.Errorf("revocations %+v, new %v", v.Revocations, v.NewRevocations)
	}
	newer := &Revocations{Version: 4}
	v, err = open(b, Trust{Root: pub(f.root), Revocations: newer}, pub(f.boxA), 0, t0)
	if err != nil {
		t.Fatal(err)
	}
	if v.NewRevocations || v.Revocations != newer {
		t.Errorf("an older list replaced the box's: %+v", v.Revocations)
	}
	// A bundle from a revoked trainer is refused even if it carries no list.
	revoking, _ := SignRevocations(f.root, Revocations{Version: 5, Serials: []uint64{7}})
	b = f.build(t, func(_ *Contents, o *Options) { o.Revocations = &list })
	trustRevoked, _ := revoking.Verify(pub(f.root))
	if _, err := open(b, Trust{Root: pub(f.root), Revocations: &trustRevoked}, pub(f.boxA), 0, t0); !errors.Is(err, Revoked) {
		t.Errorf("revoked trainer's bundle: %v", err)
	}
}

// Build refuses what boxes would refuse, and a signer outside the chain.
func TestBuildRefuses(t *testing.T) {
	f := newFixture(t)
	revoking, _ := SignRevocations(f.root, Revocations{Version: 1, Serials: []uint64{7}})
	for _, c := range []struct {
		name string
		edit func(*Contents, *Options)
	}{
		{"key not the certificate's", func(_ *Contents, o *Options) { o.Signer.Key = key("impostor") }},
		{"another root", func(_ *Contents, o *Options) { o.Root = pub(key("other root")) }},
		{"certificate expired", func(_ *Contents, o *Options) { o.Created = f.trainerInfo.NotAfter.Add(time.Hour) }},
		{"revoked", func(_ *Contents, o *Options) { o.Revocations = &revoking }},
		{"traversal", func(c *Contents, _ *Options) { c.Catalogue["../../x.jpg"] = []byte("x") }},
		{"a catalogue name that cleans to the config", func(c *Contents, _ *Options) { c.Catalogue["../config.toml"] = []byte("x") }},
		{"unclean name", func(c *Contents, _ *Options) { c.Rules["a/../pack.toml"] = []byte("x") }},
		{"no boxes", func(_ *Contents, o *Options) { o.Boxes = nil }},
		{"version 0", func(_ *Contents, o *Options) { o.Version = 0 }},
		{"expires before created", func(_ *Contents, o *Options) { o.Expires = o.Created }},
	} {
		t.Run(c.name, func(t *testing.T) {
			co, o := f.contents(), f.options()
			c.edit(&co, &o)
			if err := Build(&bytes.Buffer{}, co, o); err == nil {
				t.Fatal("built")
			}
		})
	}
}

func TestCheckPath(t *testing.T) {
	for _, c := range []struct {
		path string
		ok   bool
	}{
		{"config.toml", true}, {"catalogue/货品.xlsx", true}, {"catalogue/photos/辣椒 酱.jpg", true},
		{"rules/pack/rules.toml", true}, {"secrets/ab.age", true}, {"scenarios/榕江 第一课.txt", true},
		{"scenarios/a/b.txt", false}, {"scenarios", false}, {"scenarios/.x.txt", false},
		{"", false}, {".", false}, {"..", false}, {"/config.toml", false}, {"catalogue/../config.toml", false},
		{"catalogue//x", false}, {"catalogue/x/", false}, {`catalogue\x`, false}, {"catalogue/c:x", false},
		{"catalogue/.x", false}, {"catalogue/x\n", false}, {"catalogue/a/b/c/d", false}, {"other/x", false},
		{"catalogue", false}, {"secrets/a/b.age", false}, {"secrets/x.txt", false}, {"config.toml/x", false},
		{"catalogue/\xff", false}, {"catalogue/x\u202e", false}, {"catalogue/ x", false},
		{"catalogue/" + strings.Repeat("长", 60), false},
	} {
		if err := CheckPath(c.path); (err == nil) != c.ok {
			t.Errorf("CheckPath(%q) = %v, want ok %v", c.path, err, c.ok)
		}
	}
}

func TestCertificateAndFingerprint(t *testing.T) {
	f := newFixture(t)
	got, err := f.cert.Verify(pub(f.root))
	if err != nil || got.Serial != 7 || got.Name != "王老师" || !got.NotAfter.Equal(f.trainerInfo.NotAfter) {
		t.Fatalf("Verify = %+v, %v", got, err)
	}
	// A revocation list is not a certificate, even with the same signer.
	r, _ := SignRevocations(f.root, Revocations{Version: 1})
	if _, err := Certificate(r).Verify(pub(f.root)); err == nil {
		t.Error("a revocation list verified as a certificate")
	}
	fp := Fingerprint(pub(f.root))
	if len(fp) != 24 || strings.Count(fp, "-") != 4 || fp == Fingerprint(pub(f.trainer)) {
		t.Errorf("Fingerprint = %q", fp)
	}
}

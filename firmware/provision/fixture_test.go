package provision

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/bundle"
)

// key makes a fixed key from a name, so a child process makes the same.
func key(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("provision test key: " + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// org is an organisation with one trainer, and the box under test.
type org struct {
	root, trainer, box ed25519.PrivateKey
	cert               bundle.Certificate
}

func newOrg(tb testing.TB) *org {
	tb.Helper()
	o := &org{root: key("root"), trainer: key("trainer"), box: key("box")}
	var err error
	o.cert, err = bundle.IssueCertificate(o.root, bundle.Trainer{Serial: 3, Name: "王老师",
		Key: bundle.PublicKeyHex(pub(o.trainer)), NotBefore: t0.AddDate(0, -1, 0), NotAfter: t0.AddDate(1, 0, 0)})
	if err != nil {
		tb.Fatal(err)
	}
	return o
}

// configFor is version n's config.toml: it names its version, so a test
// tells which configuration it reads.
func configFor(n uint64) string {
	return fmt.Sprintf("device_id = \"box-v%d\"\ncatalogue = \"catalogue/商品.csv\"\n", n)
}

func scenarioFor(n uint64) string {
	return fmt.Sprintf("scenario 第%d版\nversion 1\n3 | 阿英 | - | - | - | 主播好\n", n)
}

// bundle makes version n for the box; photo bytes make it bigger.
func (o *org) bundle(tb testing.TB, n uint64, photoBytes int) []byte {
	tb.Helper()
	c := bundle.Contents{
		Config: []byte(configFor(n)),
		Catalogue: map[string][]byte{
			"商品.csv":         []byte(fmt.Sprintf("名称,价格,链接号,图片\n辣椒酱 %d,29.9,1,辣椒酱.jpg\n", n)),
			"photos/辣椒酱.jpg": bytes.Repeat([]byte{0xff, 0xd8, byte(n)}, photoBytes/3+1),
		},
		Rules: map[string][]byte{"pack.toml": []byte(fmt.Sprintf("version = %d\n", n))},
	}
	if n%2 == 1 {
		// Odd versions carry practice scenarios, even ones none: every
		// switch and rollback between them must bring the folder along.
		c.Scenarios = map[string][]byte{"练习.txt": []byte(scenarioFor(n))}
	}
	opts := bundle.Options{
		Version: n, Created: t0, Expires: t0.AddDate(0, 0, 30),
		Boxes:  []bundle.Box{{Key: pub(o.box), Secrets: bundle.Secrets{PIN: fmt.Sprintf("5%06d", 182000+n), StreamKeys: map[string]string{"douyin": fmt.Sprintf("key-%d", n)}}}},
		Signer: bundle.Signer{Key: o.trainer, Cert: o.cert}, Root: pub(o.root),
	}
	var buf bytes.Buffer
	if err := bundle.Build(&buf, c, opts); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// verify opens b as the box would.
func (o *org) verify(tb testing.TB, s *Store, b []byte) *bundle.Verified {
	tb.Helper()
	v, err := bundle.Open(bytes.NewReader(b), int64(len(b)), bundle.Trust{Root: pub(o.root)}, pub(o.box), s.Have(), t0.Add(time.Hour))
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func (o *org) apply(tb testing.TB, s *Store, n uint64) Version {
	tb.Helper()
	v, err := s.Apply(o.verify(tb, s, o.bundle(tb, n, 3000)), o.box, pub(o.root))
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func openStore(tb testing.TB, dir string) *Store {
	tb.Helper()
	s, err := Open(Options{Dir: dir, Now: func() time.Time { return t0.Add(time.Hour) }})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// configVersion is the version the store's current configuration says it
// is (0: none), after checking it is whole.
func configVersion(tb testing.TB, s *Store) uint64 {
	tb.Helper()
	v, ok := s.Current()
	if !ok {
		return 0
	}
	if err := Check(v); err != nil {
		tb.Fatalf("current (version %d) is not whole: %v", v.Number, err)
	}
	data, err := os.ReadFile(v.ConfigPath())
	if err != nil {
		tb.Fatal(err)
	}
	if string(data) != configFor(v.Number) {
		tb.Fatalf("version %d's config.toml is %q", v.Number, data)
	}
	sec, err := v.Secrets()
	if err != nil || sec.StreamKeys["douyin"] != fmt.Sprintf("key-%d", v.Number) {
		tb.Fatalf("version %d's secrets: %+v %v", v.Number, sec, err)
	}
	csv, err := os.ReadFile(filepath.Join(v.Dir, "catalogue", "商品.csv"))
	if err != nil || !strings.Contains(string(csv), fmt.Sprintf("辣椒酱 %d,", v.Number)) {
		tb.Fatalf("version %d's catalogue: %q %v", v.Number, csv, err)
	}
	scn, err := os.ReadFile(filepath.Join(v.ScenariosDir(), "练习.txt"))
	switch {
	case v.Number%2 == 1 && (err != nil || string(scn) != scenarioFor(v.Number)):
		tb.Fatalf("version %d's scenarios: %q %v", v.Number, scn, err)
	case v.Number%2 == 0:
		if _, err := os.Stat(v.ScenariosDir()); !os.IsNotExist(err) {
			tb.Fatalf("version %d carried no scenarios, but its folder has: %v", v.Number, err)
		}
	}
	return v.Number
}

package provision_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cunbo/cunbo/bundle"
	"github.com/cunbo/cunbo/firmware/provision"
	"github.com/cunbo/cunbo/firmware/upload"
	"github.com/cunbo/cunbo/review/blob"
	"github.com/cunbo/cunbo/review/boxauth"
	"github.com/cunbo/cunbo/review/server"
	"github.com/cunbo/cunbo/review/store"
)

// fetchOrg is an organisation (root, one trainer) and a review service
// with one enrolled box, where bundles are published as the trainer's
// page publishes them.
type fetchOrg struct {
	root    ed25519.PrivateKey
	signer  bundle.Signer
	st      store.Store
	blobs   blob.Store
	url     string
	box     ed25519.PrivateKey
	boxID   string
	otherID string
	mu      sync.Mutex
	fetches int
}

func newFetchOrg(t *testing.T) *fetchOrg {
	t.Helper()
	o := &fetchOrg{}
	var err error
	if _, o.root, err = ed25519.GenerateKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	o.signer = trainerOf(t, o.root, 1)
	dir := t.TempDir()
	srv, err := server.Open(context.Background(), server.Config{DataDir: dir, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	o.st = srv.Store()
	// The service's own blob store (files under its data folder).
	if o.blobs, err = blob.OpenURL(context.Background(), "", dir); err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/bundle") {
			o.mu.Lock()
			o.fetches++
			o.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	o.url = hs.URL
	var pub ed25519.PublicKey
	if pub, o.box, err = ed25519.GenerateKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	if o.boxID, err = boxauth.Enroll(context.Background(), o.st, pub, "三江 村A", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	if o.otherID, err = boxauth.Enroll(context.Background(), o.st, otherPub, "三江 村B", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	return o
}

func trainerOf(t *testing.T, root ed25519.PrivateKey, serial uint64) bundle.Signer {
	t.Helper()
	tPub, tKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := bundle.IssueCertificate(root, bundle.Trainer{Serial: serial, Name: "杨老师", Key: bundle.PublicKeyHex(tPub),
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	return bundle.Signer{Key: tKey, Cert: cert}
}

// make builds a bundle of version for the box, signed by s of root.
func (o *fetchOrg) make(t *testing.T, version uint64, root ed25519.PrivateKey, s bundle.Signer) []byte {
	t.Helper()
	var buf bytes.Buffer
	now := time.Now()
	err := bundle.Build(&buf, bundle.Contents{Config: []byte("device_id = \"sanjiang-a\"\n")}, bundle.Options{
		Version: version, Created: now, Expires: now.AddDate(0, 0, 30), Signer: s, Root: root.Public().(ed25519.PublicKey),
		Boxes: []bundle.Box{{Key: o.box.Public().(ed25519.PublicKey), Secrets: bundle.Secrets{PIN: "502817"}}}})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// publish stores data for boxes as the console's 发到盒子 does.
func (o *fetchOrg) publish(t *testing.T, version uint64, data []byte, boxes ...string) {
	t.Helper()
	ctx := context.Background()
	sum := sha256.Sum256(data)
	key := "provision/bundles/test-" + hex.EncodeToString(sum[:8]) + ".cunbo"
	if err := o.blobs.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	pb := store.PublishedBundle{Version: version, BlobKey: key, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]), Published: time.Now(), Actor: "user:杨老师"}
	if err := o.st.PublishBundle(ctx, pb, boxes, store.AuditEntry{At: time.Now(), Actor: "test", Action: "bundle.publish"}); err != nil {
		t.Fatal(err)
	}
}

func (o *fetchOrg) fetchCount() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.fetches
}

// idleGate is a box that is idle.
type idleGate struct{}

func (idleGate) WaitIdle(context.Context) error { return nil }

// The network path against a real review service: a box trusting no root
// takes nothing; a bundle published for another box is not this box's; a
// newer one of its own is applied; one from an unknown signer is refused
// with its reason and not fetched again; nothing is asked while live.
func TestFetcher(t *testing.T) {
	o := newFetchOrg(t)
	client, err := upload.NewBoxClient(o.url, o.box, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := provision.Open(provision.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var applied []uint64
	var outcomes []provision.Outcome
	f, err := provision.NewFetcher(provision.FetcherOptions{Store: st, Client: client, Key: o.box, Idle: idleGate{},
		Applied: func(v provision.Version) { applied = append(applied, v.Number) }, OnOutcome: func(out provision.Outcome) { outcomes = append(outcomes, out) },
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	once := func(what string, want bool) {
		t.Helper()
		got, err := f.Once(ctx)
		if err != nil || got != want {
			t.Fatalf("%s: applied %v, %v; want %v", what, got, err, want)
		}
	}

	o.publish(t, 100, o.make(t, 100, o.root, o.signer), o.boxID)
	once("no root trusted yet", false)
	if n := o.fetchCount(); n != 0 {
		t.Fatalf("a box trusting no root asked the network %d times", n)
	}
	// The first bundle comes on a stick (trust on first use).
	first := o.make(t, 50, o.root, o.signer)
	v, err := bundle.Open(bytes.NewReader(first), int64(len(first)), bundle.Trust{Root: o.root.Public().(ed25519.PublicKey)}, o.box.Public().(ed25519.PublicKey), 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Apply(v, o.box, o.root.Public().(ed25519.PublicKey)); err != nil {
		t.Fatal(err)
	}

	o.publish(t, 200, o.make(t, 200, o.root, o.signer), o.otherID)
	once("a newer one published for its own box", true)
	if cur, ok := st.Current(); !ok || cur.Number != 100 || len(applied) != 1 || applied[0] != 100 {
		t.Fatalf("current %+v %v, applied %v; want version 100", cur, ok, applied)
	}
	if sec, err := mustCurrent(t, st).Secrets(); err != nil || sec.PIN != "502817" {
		t.Fatalf("secrets after the network path: %+v %v", sec, err)
	}
	once("nothing newer for this box (200 is the other box's)", false)

	_, strangerRoot, _ := ed25519.GenerateKey(rand.Reader)
	o.publish(t, 300, o.make(t, 300, strangerRoot, trainerOf(t, strangerRoot, 9)), o.boxID)
	once("signed under another root", false)
	if len(outcomes) == 0 || outcomes[len(outcomes)-1].Kind != string(bundle.UnknownSigner) || !strings.HasPrefix(outcomes[len(outcomes)-1].Message, "❌") {
		t.Fatalf("outcomes %+v, want the unknown signer's", outcomes)
	}
	if cur := mustCurrent(t, st); cur.Number != 100 {
		t.Fatalf("current %d after a refused bundle", cur.Number)
	}
	refusals := len(outcomes)
	once("the refused one again", false)
	if len(outcomes) != refusals {
		t.Fatalf("the refused bundle was taken again: %+v", outcomes[refusals:])
	}
	if n, err := o.st.Audit(ctx, 1000); err != nil || countFetched(n) != 2 {
		t.Fatalf("%d bundles served, want 2 (version 100, then 300 once): %v", countFetched(n), err)
	}

	// While she is live nothing is asked.
	lctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	f2, _ := provision.NewFetcher(provision.FetcherOptions{Store: st, Client: client, Key: o.box, Idle: liveGate{}, Logger: slog.New(slog.DiscardHandler)})
	before := o.fetchCount()
	if _, err := f2.Once(lctx); err == nil {
		t.Fatal("Once returned while live")
	}
	if o.fetchCount() != before {
		t.Fatal("asked the network while live")
	}
}

// liveGate is a box that stays live.
type liveGate struct{}

func (liveGate) WaitIdle(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }

func mustCurrent(t *testing.T, st *provision.Store) provision.Version {
	t.Helper()
	v, ok := st.Current()
	if !ok {
		t.Fatal("no current version")
	}
	return v
}

func countFetched(es []store.AuditEntry) int {
	n := 0
	for _, e := range es {
		if e.Action == "bundle.fetch" {
			n++
		}
	}
	return n
}

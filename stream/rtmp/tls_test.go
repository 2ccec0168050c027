package rtmp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cunbo/cunbo/stream/fanout"
	"github.com/cunbo/cunbo/stream/rtmp/rtmptest"
	"github.com/cunbo/cunbo/stream/streamtest"
)

// tlsTerminator is what an rtmps ingest looks like from the box: TLS on the
// outside, plain RTMP behind it (nginx-rtmp has no TLS of its own).
func tlsTerminator(t *testing.T, backend string) (addr string, roots *x509.CertPool, handshakes func() int) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "ingest.test"},
		DNSNames:     []string{"ingest.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	n := 0
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				if err := c.(*tls.Conn).Handshake(); err != nil {
					return
				}
				mu.Lock()
				n++
				mu.Unlock()
				b, err := net.Dial("tcp", backend)
				if err != nil {
					return
				}
				defer b.Close()
				done := make(chan struct{}, 2)
				go func() { io.Copy(b, c); b.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
				go func() { io.Copy(c, b); done <- struct{}{} }()
				<-done
				<-done
			}()
		}
	}()
	return ln.Addr().String(), roots, func() int { mu.Lock(); defer mu.Unlock(); return n }
}

// TestPushOverRTMPS publishes through TLS and checks both that the
// certificate is verified (a wrong name is refused) and that the stream
// arrives intact behind the terminator.
func TestPushOverRTMPS(t *testing.T) {
	srv := rtmptest.New(t)
	plain, err := url.Parse(srv.URL("secure"))
	if err != nil {
		t.Fatal(err)
	}
	addr, roots, handshakes := tlsTerminator(t, plain.Host)
	rtmps := "rtmps://" + addr + plain.Path

	// wrong server name: the publisher must refuse the certificate
	bad, err := New(Config{URL: rtmps, TLSConfig: &tls.Config{RootCAs: roots, ServerName: "other.test"}, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	stopBad := startPublisher(t, bad)
	bad.SetTracks(testTracks(t))
	waitFor(t, 10*time.Second, func() bool { return bad.Stats().LastError != nil })
	if st := bad.Stats(); st.Connected || !strings.Contains(st.LastError.Error(), "certificate") {
		t.Fatalf("publisher accepted a certificate for the wrong name: %+v", st)
	}
	stopBad()

	p, err := New(Config{URL: rtmps, TLSConfig: &tls.Config{RootCAs: roots, ServerName: "ingest.test"}, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	stop := startPublisher(t, p)
	fan := fanout.New(nil)
	defer fan.Close()
	if _, err := fan.Add("rtmps", p, fanout.QueueLimits{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const dur = 4 * time.Second
	if _, err := streamtest.Run(ctx, t, fan, streamtest.Options{Duration: dur, Width: 320, Height: 240, FPS: 30, VideoKbps: 400}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return p.Stats().BacklogUnits == 0 })
	if st := p.Stats(); !st.Connected || st.BytesSent < 100_000 {
		t.Fatalf("stats after rtmps push: %+v", st)
	}
	stop()
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if handshakes() == 0 {
		t.Fatal("no TLS handshake completed")
	}
	r, err := rtmptest.Probe(srv.RecordingPath("secure"))
	if err != nil {
		t.Fatalf("%v\n%s", err, srv.ErrorLog())
	}
	if v, a := r.Video(), r.Audio(); v == nil || a == nil || v.CodecName != "h264" || a.CodecName != "aac" {
		t.Fatalf("recording behind TLS: %+v", r.Streams)
	}
	if d := r.Duration - dur; d < -500*time.Millisecond || d > 500*time.Millisecond {
		t.Errorf("duration %v, want %v ± 0.5 s", r.Duration, dur)
	}
}

package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cunbo/cunbo/review/boxauth"
	"github.com/cunbo/cunbo/review/pgtest"
	"github.com/cunbo/cunbo/review/s3test"
	"github.com/cunbo/cunbo/review/server"
	"github.com/cunbo/cunbo/review/wiretest"
)

// boxes is how many boxes upload at once: a county's worth, each with its
// own key and token, over loopback.
const boxes = 300

// BenchmarkUploads300Boxes: b.N segments (a real 1 s MP4 clip each) from
// 300 boxes at once into one server, each box with its own key and token.
//
//	saturated  every box uploads back to back: the most segments/s
//	50/s       the boxes together start 50 segments a second (the target
//	           load): the acknowledgement latency a box sees
//
// Reported: segments/s completed, the p99 of the acknowledgement (the
// final PATCH, which checks, stores and answers), and the peak Go heap and
// process RSS (the boxes' HTTP clients and their prepared bodies live in
// the same process, so both are upper bounds for the server).
func BenchmarkUploads300Boxes(b *testing.B) {
	clip := wiretest.Clip(b)
	for _, rate := range []int{0, 50} {
		name := "saturated"
		if rate > 0 {
			name = strconv.Itoa(rate) + "/s"
		}
		b.Run("sqlite+files/"+name, func(b *testing.B) {
			benchUploads(b, server.Config{DataDir: b.TempDir()}, clip, rate)
		})
		b.Run("postgres+s3/"+name, func(b *testing.B) {
			pg := pgtest.Start(b)
			s3 := s3test.Start(b, "clips")
			benchUploads(b, server.Config{DataDir: b.TempDir(), DB: pgURL(pg.NewDB(b)), Blobs: s3.Spec("clips")}, clip, rate)
		})
	}
}

// pgURL turns pgtest's key=value DSN into the postgres:// URL --db takes.
func pgURL(dsn string) string {
	kv := map[string]string{}
	for _, f := range strings.Fields(dsn) {
		k, v, _ := strings.Cut(f, "=")
		kv[k] = v
	}
	return "postgres:///" + kv["dbname"] + "?host=" + kv["host"] + "&user=" + kv["user"] + "&sslmode=disable"
}

type benchBox struct {
	id    string
	token string
}

func benchUploads(b *testing.B, cfg server.Config, clip []byte, rate int) {
	ctx := context.Background()
	cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	srv, err := server.Open(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 2 * boxes, MaxIdleConnsPerHost: 2 * boxes}, Timeout: 2 * time.Minute}

	bx := make([]benchBox, boxes)
	for i := range bx {
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		id, err := boxauth.Enroll(ctx, srv.Store(), pub, fmt.Sprintf("bench %d", i), "bench", time.Now())
		if err != nil {
			b.Fatal(err)
		}
		bx[i] = benchBox{id: id, token: benchSignIn(b, client, hs.URL, id, priv)}
	}
	// Bodies are built before timing: a box has its tar on disk already.
	bodies := make([][]byte, b.N)
	ids := make([]string, b.N)
	for n := range b.N {
		ids[n] = fmt.Sprintf("20261128T093000000Z-%08x", n)
		bodies[n] = wiretest.SegmentTar(b, ids[n], clip)
	}

	var peakHeap, peakRSS atomic.Uint64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peakHeap.Load() {
				peakHeap.Store(ms.HeapInuse)
			}
			if r := rss(); r > peakRSS.Load() {
				peakRSS.Store(r)
			}
			select {
			case <-stopSampling:
				return
			case <-t.C:
			}
		}
	}()

	// go is where a box waits for its turn; with a rate, a ticker paces it.
	turns := make(chan struct{})
	stopPacing := make(chan struct{})
	defer close(stopPacing)
	go func() {
		var tick <-chan time.Time
		if rate > 0 {
			t := time.NewTicker(time.Second / time.Duration(rate))
			defer t.Stop()
			tick = t.C
		}
		for {
			if tick != nil {
				select {
				case <-tick:
				case <-stopPacing:
					return
				}
			}
			select {
			case turns <- struct{}{}:
			case <-stopPacing:
				return
			}
		}
	}()
	var next atomic.Int64
	acks := make([]time.Duration, b.N)
	var wg sync.WaitGroup
	var failed atomic.Value
	b.ResetTimer()
	start := time.Now()
	for i := range bx {
		wg.Add(1)
		go func(bb benchBox) {
			defer wg.Done()
			for {
				n := int(next.Add(1) - 1)
				if n >= b.N {
					return
				}
				<-turns
				d, err := benchUpload(client, hs.URL, bb.token, ids[n], bodies[n])
				if err != nil {
					failed.Store(err)
					return
				}
				acks[n] = d
			}
		}(bx[i])
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(stopSampling)
	<-sampled
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	slices.Sort(acks)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "segments/s")
	b.ReportMetric(float64(acks[min(len(acks)-1, len(acks)*99/100)].Microseconds())/1000, "p99-ack-ms")
	b.ReportMetric(float64(peakHeap.Load())/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(peakRSS.Load())/(1<<20), "peak-rss-MiB")
}

// rss is the process's resident set now, in bytes (sampled: VmHWM would
// carry one sub-benchmark's peak into the next).
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for l := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func benchSignIn(b testing.TB, c *http.Client, base, id string, priv ed25519.PrivateKey) string {
	b.Helper()
	for {
		resp, err := c.Post(base+"/api/box/challenge", "application/json", nil)
		if err != nil {
			b.Fatal(err)
		}
		var ch struct{ Nonce string }
		json.NewDecoder(resp.Body).Decode(&ch)
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			// Challenges are bounded service-wide (50/s).
			time.Sleep(50 * time.Millisecond)
			continue
		}
		sig := base64.StdEncoding.EncodeToString(ed25519.Sign(priv, []byte(boxauth.TokenContext+ch.Nonce)))
		in, _ := json.Marshal(map[string]string{"box_id": id, "nonce": ch.Nonce, "signature": sig})
		resp, err = c.Post(base+"/api/box/token", "application/json", bytes.NewReader(in))
		if err != nil {
			b.Fatal(err)
		}
		var tok struct{ Token string }
		json.NewDecoder(resp.Body).Decode(&tok)
		resp.Body.Close()
		if tok.Token == "" {
			b.Fatalf("sign in: %d", resp.StatusCode)
		}
		return tok.Token
	}
}

// benchUpload is one tus upload (creation, one PATCH); it returns how long
// the final PATCH took to be acknowledged.
func benchUpload(c *http.Client, base, tok, id string, body []byte) (time.Duration, error) {
	sum := sha256.Sum256(body)
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	req, _ := http.NewRequest("POST", base+"/api/uploads/", nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Upload-Length", strconv.Itoa(len(body)))
	req.Header.Set("Upload-Metadata", "kind "+b64("segment")+",id "+b64(id)+",sha256 "+b64(hex.EncodeToString(sum[:])))
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return 0, fmt.Errorf("create %s: %d", id, resp.StatusCode)
	}
	req, _ = http.NewRequest("PATCH", resp.Header.Get("Location"), bytes.NewReader(body))
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Upload-Offset", "0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	start := time.Now()
	for {
		resp, err = c.Do(req)
		if err != nil {
			return 0, err
		}
		if resp.StatusCode != http.StatusLocked {
			break
		}
		// Every upload lock of the server is taken (PostgreSQL): a box
		// waits and sends the PATCH again, as this one does.
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		time.Sleep(100 * time.Millisecond)
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	d := time.Since(start)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Cunbo-Stored") != "created" {
		return 0, fmt.Errorf("patch %s: %d %q", id, resp.StatusCode, resp.Header.Get("Cunbo-Stored"))
	}
	return d, nil
}

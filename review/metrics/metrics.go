// Package metrics is the review service's Prometheus metrics, served at
// /metrics:
//
//	cunbo_review_uploads_started_total{kind}            tus uploads created
//	cunbo_review_uploads_completed_total{kind,stored}   stored: created | existing
//	cunbo_review_received_bytes_total                   upload bytes written
//	cunbo_review_failures_total{reason}                 refusals by the JSON error code
//	cunbo_review_box_queue_age_seconds                  boxes' oldest pending segment (Cunbo-Queue-Age)
//	cunbo_review_request_duration_seconds{route,method,code}
//	cunbo_review_fleet_boxes{state}                    boxes in use by fleet state (ok, attention, lost)
//
// Failures are counted where responses are written, from the same
// {"error": code} body the box acts on, so the reasons here are exactly the
// protocol's; a refusal without one (tusd's own, such as an offset
// mismatch) counts as its tus error code or as "http_<status>".
//
// Each Metrics has its own registry: two servers in one test process do
// not share counters.
package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is one service's collectors.
type Metrics struct {
	reg       *prometheus.Registry
	started   *prometheus.CounterVec
	completed *prometheus.CounterVec
	bytes     prometheus.Counter
	failures  *prometheus.CounterVec
	queueAge  prometheus.Histogram
	duration  *prometheus.HistogramVec
}

// New returns Metrics registered on a fresh registry, with the Go runtime
// and process collectors (heap, RSS) beside them.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		started: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cunbo_review_uploads_started_total", Help: "tus uploads created, by kind (segment, session).",
		}, []string{"kind"}),
		completed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cunbo_review_uploads_completed_total", Help: "uploads stored and acknowledged, by kind and whether they were new (created) or a retry (existing).",
		}, []string{"kind", "stored"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cunbo_review_received_bytes_total", Help: "upload bytes received and written.",
		}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cunbo_review_failures_total", Help: "refused or failed box requests, by the error code answered.",
		}, []string{"reason"}),
		queueAge: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "cunbo_review_box_queue_age_seconds", Help: "age of a box's oldest pending segment, as boxes report it when they start an upload.",
			// A minute to a month: a box that has been offline for weeks
			// is what this is for.
			Buckets: []float64{60, 600, 3600, 6 * 3600, 86400, 3 * 86400, 7 * 86400, 30 * 86400},
		}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "cunbo_review_request_duration_seconds", Help: "time to answer a request, by route, method and status.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method", "code"}),
	}
	m.reg.MustRegister(m.started, m.completed, m.bytes, m.failures, m.queueAge, m.duration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry is where the collectors live (for tests and for adding more).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// UploadStarted counts a created upload.
func (m *Metrics) UploadStarted(kind string) { m.started.WithLabelValues(kind).Inc() }

// UploadCompleted counts a stored upload; stored is "created" or "existing".
func (m *Metrics) UploadCompleted(kind, stored string) {
	m.completed.WithLabelValues(kind, stored).Inc()
}

// BytesReceived counts upload bytes written.
func (m *Metrics) BytesReceived(n int64) {
	if n > 0 {
		m.bytes.Add(float64(n))
	}
}

// QueueAge records a box's reported queue age.
func (m *Metrics) QueueAge(d time.Duration) { m.queueAge.Observe(d.Seconds()) }

// Instrument times every request by the route route names it, and counts
// the failures of those that are a box's (by their error code). Routes must
// be a fixed set (a mux's patterns), never the URL, so upload ids do not
// become label values.
func (m *Metrics) Instrument(route func(*http.Request) (name string, box bool), h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		name, countFailures := route(r)
		rec := &recorder{ResponseWriter: w, code: http.StatusOK, keep: countFailures}
		h.ServeHTTP(rec, r)
		m.duration.WithLabelValues(name, r.Method, strconv.Itoa(rec.code)).Observe(time.Since(start).Seconds())
		if countFailures && rec.code >= 400 {
			m.failures.WithLabelValues(reason(rec.code, rec.body.Bytes())).Inc()
		}
	})
}

// reason is the error code of a refusal's body.
func reason(code int, body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" && len(e.Error) <= 40 {
		return e.Error
	}
	// tusd's own refusals: "ERR_MISMATCHED_OFFSET: ..."
	if s := string(body); strings.HasPrefix(s, "ERR_") {
		if i := strings.IndexAny(s, ": \n"); i > 0 && i <= 40 {
			return s[:i]
		}
	}
	return "http_" + strconv.Itoa(code)
}

// maxBody is how much of a refusal's body is kept to read its code; the
// protocol's error bodies are far smaller.
const maxBody = 1024

// recorder notes the status and the start of an error body.
type recorder struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
	keep        bool
	body        bytes.Buffer
}

func (r *recorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.code, r.wroteHeader = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if !r.wroteHeader {
		r.WriteHeader(http.StatusOK)
	}
	if r.keep && r.code >= 400 && r.body.Len() < maxBody {
		r.body.Write(p[:min(len(p), maxBody-r.body.Len())])
	}
	return r.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection (tusd sets
// read deadlines through it).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Flush passes flushes on.
func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// FleetCounter counts the boxes in use by state (ok, attention, lost).
type FleetCounter func(ctx context.Context) (map[string]int, error)

// fleetTimeout bounds one scrape's count, so a slow database answers the
// scrape without the fleet instead of hanging it.
const fleetTimeout = 5 * time.Second

// fleetCollector reads the states at scrape time: a box goes 失联 by the
// clock alone, with no request to count it.
type fleetCollector struct {
	desc  *prometheus.Desc
	count FleetCounter
}

func (f fleetCollector) Describe(ch chan<- *prometheus.Desc) { ch <- f.desc }

func (f fleetCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), fleetTimeout)
	defer cancel()
	n, err := f.count(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(f.desc, err)
		return
	}
	for state, v := range n {
		ch <- prometheus.MustNewConstMetric(f.desc, prometheus.GaugeValue, float64(v), state)
	}
}

// Fleet registers cunbo_review_fleet_boxes{state}, the boxes in use by
// their state on the fleet page, counted by count at each scrape.
func (m *Metrics) Fleet(count FleetCounter) error {
	return m.reg.Register(fleetCollector{
		desc:  prometheus.NewDesc("cunbo_review_fleet_boxes", "boxes in use by their fleet state (ok, attention, lost), as the fleet page shows them.", []string{"state"}, nil),
		count: count,
	})
}

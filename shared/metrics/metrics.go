// Package metrics exposes logagg's Prometheus metrics: HTTP requests,
// consumed batches, and the store's exact counters read at scrape time.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/logagg/logagg/shared/event"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics owns one registry; every process builds one in main.
type Metrics struct {
	Registry *prometheus.Registry

	requests       *prometheus.CounterVec
	requestSeconds *prometheus.HistogramVec
	published      *prometheus.CounterVec
	batches        *prometheus.CounterVec
	batchSeconds   prometheus.Histogram
	batchEvents    prometheus.Histogram
	consumed       *prometheus.CounterVec
	suppressed     prometheus.Counter
	otlpRejected   prometheus.Counter
	maintenance    *prometheus.CounterVec
	retained       prometheus.Counter
	takenOver      prometheus.Counter
}

// New registers logagg's metrics and the Go runtime's on a fresh registry.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logagg_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		requestSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "logagg_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logagg_published_events_total",
			Help: "Events queued in this process, by ingest protocol: json (/publish), otlp (/v1/logs), replay (dead letters).",
		}, []string{"protocol"}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logagg_consume_batches_total", Help: "Consume transactions by outcome (committed, failed).",
		}, []string{"outcome"}),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "logagg_consume_batch_duration_seconds", Help: "Time to commit one consume batch.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		batchEvents: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "logagg_consume_batch_events", Help: "Events per committed consume batch.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14),
		}),
		consumed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logagg_consumed_events_total", Help: "Events consumed by this process, by outcome.",
		}, []string{"outcome"}),
		suppressed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logagg_log_details_suppressed_total",
			Help: "Log lines naming one payload conflict or dead letter that were not printed (over the rate limit, or past the first conflicts of a batch).",
		}),
		otlpRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logagg_otlp_rejected_log_records_total",
			Help: "OTLP log records refused by /v1/logs (partial success, or every record of a 400).",
		}),
		maintenance: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logagg_maintenance_passes_total",
			Help: "Store maintenance passes run by this process, by outcome: done, skipped (another process was maintaining the store), failed.",
		}, []string{"outcome"}),
		retained: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logagg_retention_dropped_events_total",
			Help: "Events removed by retention in this process's maintenance passes, as PostgreSQL estimated them in the partitions dropped.",
		}),
		takenOver: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logagg_taken_over_messages_total",
			Help: "Queue messages this process held and found, when it came to acknowledge them, taken over by another consumer: it was paused or cut off for longer than CLAIM_IDLE. It left them to that consumer and counted nothing for them.",
		}),
	}
	m.Registry.MustRegister(m.requests, m.requestSeconds, m.published, m.batches, m.batchSeconds,
		m.batchEvents, m.consumed, m.suppressed, m.otlpRejected, m.maintenance, m.retained, m.takenOver, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// ObserveRequest records one HTTP request.
func (m *Metrics) ObserveRequest(route string, code int, took time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.requestSeconds.WithLabelValues(route).Observe(took.Seconds())
}

// ObservePublished records n events queued that came in by protocol.
func (m *Metrics) ObservePublished(protocol string, n int) {
	m.published.WithLabelValues(protocol).Add(float64(n))
}

// ObserveOTLPRejected counts n OTLP log records refused.
func (m *Metrics) ObserveOTLPRejected(n int) { m.otlpRejected.Add(float64(n)) }

// Outcomes of a maintenance pass, for ObserveMaintenance.
const (
	MaintenanceDone    = "done"
	MaintenanceSkipped = "skipped"
	MaintenanceFailed  = "failed"
)

// ObserveMaintenance records one store maintenance pass, and the events that
// retention dropped in it (about as many).
func (m *Metrics) ObserveMaintenance(outcome string, droppedEvents int64) {
	m.maintenance.WithLabelValues(outcome).Inc()
	m.retained.Add(float64(droppedEvents))
}

// ObserveBatch records one consume batch (it implements consume.Observer).
func (m *Metrics) ObserveBatch(res event.BatchResult, err error, took time.Duration) {
	if err != nil {
		m.batches.WithLabelValues("failed").Inc()
		return
	}
	m.batches.WithLabelValues("committed").Inc()
	m.batchSeconds.Observe(took.Seconds())
	m.batchEvents.Observe(float64(res.Received + res.DeadLettered))
	m.consumed.WithLabelValues("unique").Add(float64(res.Unique))
	m.consumed.WithLabelValues("duplicate").Add(float64(res.Duplicates))
	m.consumed.WithLabelValues("dead_lettered").Add(float64(res.DeadLettered))
}

// ObserveSuppressedDetails counts log lines naming a conflict or a dead
// letter that were not printed (it implements consume.Observer).
func (m *Metrics) ObserveSuppressedDetails(lines int) { m.suppressed.Add(float64(lines)) }

// ObserveTakenOver counts messages a worker found taken over by another
// consumer (it implements worker.Observer).
func (m *Metrics) ObserveTakenOver(messages int) { m.takenOver.Add(float64(messages)) }

// StatsFunc reads the store's exact counters.
type StatsFunc func(ctx context.Context) (event.Stats, error)

// RegisterStats exports the store's counters as gauges read at scrape time,
// so every replica reports the same exact totals.
func (m *Metrics) RegisterStats(stats StatsFunc) {
	m.Registry.MustRegister(statsCollector{stats: stats})
}

var (
	descReceived  = prometheus.NewDesc("logagg_received_events", "Events taken off the queue (all replicas).", nil, nil)
	descUnique    = prometheus.NewDesc("logagg_unique_processed_events", "Distinct events stored.", nil, nil)
	descDuplicate = prometheus.NewDesc("logagg_duplicate_dropped_events", "Duplicate events dropped.", nil, nil)
	descConflicts = prometheus.NewDesc("logagg_payload_conflicts", "Duplicates whose payload differed from the stored one.", nil, nil)
	descDead      = prometheus.NewDesc("logagg_dead_lettered_events", "Events set aside as dead letters.", nil, nil)
	descTopics    = prometheus.NewDesc("logagg_topics", "Distinct topics.", nil, nil)
	descUp        = prometheus.NewDesc("logagg_database_up", "1 when the counters could be read.", nil, nil)
)

type statsCollector struct{ stats StatsFunc }

func (c statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descReceived, descUnique, descDuplicate, descConflicts, descDead, descTopics, descUp} {
		ch <- d
	}
}

func (c statsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := c.stats(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 1)
	for _, v := range []struct {
		d *prometheus.Desc
		n int64
	}{{descReceived, s.Received}, {descUnique, s.UniqueProcessed}, {descDuplicate, s.DuplicateDropped},
		{descConflicts, s.PayloadConflicts}, {descDead, s.DeadLettered}, {descTopics, s.Topics}} {
		ch <- prometheus.MustNewConstMetric(v.d, prometheus.GaugeValue, float64(v.n))
	}
}

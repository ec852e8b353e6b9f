package loadgen

// Report is what `publisher -json` prints about one run; the benchmark
// harness reads it back.
type Report struct {
	URL                 string   `json:"url"`
	RunID               string   `json:"run_id"`
	Input               string   `json:"input,omitempty"` // the file sent with -file or -lines; "stdin" for -`
	Protocol            Protocol `json:"protocol"`        // json: POST /publish; otlp: POST /v1/logs, protobuf
	Events              int      `json:"events"`
	Unique              int      `json:"unique"`
	Duplicates          int      `json:"duplicates"`
	BatchSize           int      `json:"batch_size"`
	Concurrency         int      `json:"concurrency"`
	Requests            int      `json:"requests"`
	Retries             int      `json:"retries"`
	PublishSeconds      float64  `json:"publish_seconds"`
	PublishEventsPerSec float64  `json:"publish_events_per_sec"`
	E2ESeconds          *float64 `json:"e2e_seconds"`        // null without -wait
	E2EEventsPerSec     *float64 `json:"e2e_events_per_sec"` // null without -wait
	LatencyP50Ms        float64  `json:"latency_p50_ms"`
	LatencyP95Ms        float64  `json:"latency_p95_ms"`
	LatencyP99Ms        float64  `json:"latency_p99_ms"`
	StatsBefore         Stats    `json:"stats_before"`
	StatsAfter          Stats    `json:"stats_after"`
}

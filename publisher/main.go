// Command publisher sends a load of events with a chosen share of
// duplicates to a running logagg over its HTTP API and reports throughput,
// request latency and, with -wait, the end-to-end time until the queue has
// drained. The benchmark harness and docker-compose's publisher service run
// it; -json prints one machine-readable result.
//
//	publisher -url http://127.0.0.1:8080 -events 100000 -dup-rate 0.3 -wait -json
//
// With -file it sends the events of an NDJSON file instead, and with -lines
// the lines of a plain text file, each line an event whose event_id is
// stable across runs, so that sending a file again stores nothing twice.
//
//	publisher -file events.ndjson
//	publisher -lines app.log -lines-topic app -lines-source web-1
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/logagg/logagg/internal/loadgen"
	"github.com/logagg/logagg/internal/proc"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

func main() {
	proc.Main("publisher", func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
		return run(ctx, args, getenv, os.Stdin, stdout, stderr)
	})
}

// config is the command line, checked.
type config struct {
	url          string
	apiKey       string
	events       int
	dupRate      float64
	batch        int
	concurrency  int
	topics       int
	payloadBytes int
	rate         float64
	seed         int64
	runID        string
	wait         bool
	sentAt       bool
	timeout      time.Duration
	json         bool

	// Sending a file instead of generated events: file (NDJSON) or lines
	// (plain text), "-" for stdin.
	file, lines string
	linesTopic  string
	linesSource string
	linesID     string
	linesTime   time.Time
	batchBytes  int
	protocol    loadgen.Protocol
}

// inputPath is the file to send, "-" for stdin, or "" for generated load.
func (c config) inputPath() string { return c.file + c.lines }

// generatorFlags shape generated load only; they make no sense with a file.
var generatorFlags = []string{"events", "dup-rate", "topics", "payload-bytes", "seed", "run-id", "sent-at", "protocol"}

// firstKey is the first key of a comma-separated list, as API_KEYS is
// written (a key never holds a comma, since the server splits on them).
// docker compose passes the aggregator's API_KEYS when no
// PUBLISHER_API_KEY is set.
func firstKey(list string) string {
	for key := range strings.SplitSeq(list, ",") {
		if key = strings.TrimSpace(key); key != "" {
			return key
		}
	}
	return ""
}

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	defaultURL := getenv("LOGAGG_URL")
	if defaultURL == "" {
		defaultURL = "http://127.0.0.1:8080"
	}
	var c config
	fs := flag.NewFlagSet("publisher", flag.ContinueOnError)
	fs.StringVar(&c.url, "url", defaultURL, "logagg's base URL (env LOGAGG_URL)")
	fs.StringVar(&c.apiKey, "api-key", firstKey(getenv("API_KEY")),
		"API key sent as X-API-Key (env API_KEY; a comma-separated list such as API_KEYS gives its first key)")
	fs.IntVar(&c.events, "events", 20000, "events to send, duplicates included")
	fs.Float64Var(&c.dupRate, "dup-rate", 0.3, "fraction of sent events that repeat an earlier one, in [0, 1)")
	fs.IntVar(&c.batch, "batch", 500, "events per request")
	fs.IntVar(&c.concurrency, "concurrency", 4, "requests in flight at once")
	fs.IntVar(&c.topics, "topics", 10, "distinct topics")
	fs.IntVar(&c.payloadBytes, "payload-bytes", 120, "approximate payload size in bytes")
	fs.Float64Var(&c.rate, "rate", 0, "cap in events per second; 0 sends as fast as the service accepts")
	fs.Int64Var(&c.seed, "seed", 1, "seed of the event generator: the same seed gives the same shape of load")
	fs.StringVar(&c.runID, "run-id", "", "goes into every event_id (default: random, so runs never collide)")
	fs.BoolVar(&c.wait, "wait", false, "after publishing, wait until the service has consumed every event sent and report the end-to-end time")
	fs.BoolVar(&c.sentAt, "sent-at", false, `put "sent_at", the time each event was first sent, in its payload, to measure publish-to-store latency from the stored rows`)
	fs.DurationVar(&c.timeout, "timeout", 5*time.Minute, "give up after this long, publishing and waiting included")
	fs.BoolVar(&c.json, "json", false, "print one JSON object of results on stdout")
	fs.StringVar(&c.file, "file", "", "send the events of this NDJSON file (one event object a line; - reads stdin) instead of generated ones")
	fs.StringVar(&c.lines, "lines", "", "send each line of this plain text file (- reads stdin) as an event with a stable event_id; needs -lines-topic and -lines-source")
	fs.StringVar(&c.linesTopic, "lines-topic", "", "with -lines: the events' topic")
	fs.StringVar(&c.linesSource, "lines-source", "", "with -lines: the events' source")
	fs.StringVar(&c.linesID, "lines-id", "", "with -lines: the file's name in event_ids and payloads (default: its absolute path; required with -lines -)")
	linesTime := fs.String("lines-time", "", "with -lines: the events' timestamp, RFC 3339 (default: the time each line is read)")
	fs.IntVar(&c.batchBytes, "batch-bytes", 4<<20, "with -file or -lines: the most bytes of events per request, under the service's MAX_BODY_BYTES")
	protocol := fs.String("protocol", string(loadgen.ProtocolJSON),
		"json: POST /publish; otlp: POST /v1/logs as OTLP/HTTP protobuf exports of -batch log records (service.name = topic, log.record.uid = event_id); generated load only")
	if err := proc.ParseFlags(fs, args, "Sends events with duplicates to logagg's POST /publish (or, with -protocol otlp, POST /v1/logs) and reports throughput.", stderr); err != nil {
		return c, err
	}
	if err := c.checkInput(fs, *linesTime); err != nil {
		return c, err
	}
	p, perr := loadgen.ParseProtocol(*protocol)
	c.protocol = p
	u, err := url.Parse(c.url)
	switch {
	case perr != nil:
		return c, proc.UsageError("-protocol: " + perr.Error())
	case c.sentAt && c.protocol == loadgen.ProtocolOTLP:
		return c, proc.UsageError("-sent-at works only with -protocol json")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return c, proc.UsageError(fmt.Sprintf("-url %q is not an http(s) URL such as http://127.0.0.1:8080", c.url))
	case c.events < 1:
		return c, proc.UsageError("-events must be at least 1")
	case !(c.dupRate >= 0 && c.dupRate < 1):
		return c, proc.UsageError("-dup-rate must be at least 0 and below 1, e.g. 0.3 for 30% duplicates")
	case c.batch < 1:
		return c, proc.UsageError("-batch must be at least 1")
	case c.concurrency < 1:
		return c, proc.UsageError("-concurrency must be at least 1")
	case c.topics < 1:
		return c, proc.UsageError("-topics must be at least 1")
	case c.payloadBytes < 1:
		return c, proc.UsageError("-payload-bytes must be at least 1")
	case !(c.rate >= 0):
		return c, proc.UsageError("-rate must be 0 (no cap) or a positive number of events per second")
	case c.timeout <= 0:
		return c, proc.UsageError("-timeout must be positive, e.g. 5m")
	case len(c.runID) > 200 || !utf8.ValidString(c.runID):
		return c, proc.UsageError("-run-id must be valid UTF-8 of at most 200 bytes")
	}
	for _, r := range c.runID {
		if r < 0x20 || r == 0x7f {
			return c, proc.UsageError("-run-id must not contain control characters")
		}
	}
	return c, nil
}

// checkInput checks the flags of -file and -lines.
func (c *config) checkInput(fs *flag.FlagSet, linesTime string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if c.inputPath() == "" {
		for _, name := range []string{"lines-topic", "lines-source", "lines-id", "lines-time", "batch-bytes"} {
			if set[name] {
				return proc.UsageError(fmt.Sprintf("-%s applies to -file or -lines only", name))
			}
		}
		return nil
	}
	for _, name := range generatorFlags {
		if set[name] {
			return proc.UsageError(fmt.Sprintf("-%s shapes generated events; it does not apply to -file or -lines", name))
		}
	}
	switch {
	case set["file"] && set["lines"]:
		return proc.UsageError("give -file or -lines, not both")
	case c.batchBytes < 1024:
		return proc.UsageError("-batch-bytes must be at least 1024")
	case c.file != "":
		for _, name := range []string{"lines-topic", "lines-source", "lines-id", "lines-time"} {
			if set[name] {
				return proc.UsageError(fmt.Sprintf("-%s applies to -lines only: -file's events carry their own fields", name))
			}
		}
		return nil
	case c.linesTopic == "" || c.linesSource == "":
		return proc.UsageError("-lines needs -lines-topic and -lines-source: the topic and source of its events")
	case c.lines == "-" && c.linesID == "":
		return proc.UsageError("-lines - needs -lines-id: a name for the input, which goes into every event_id so that a resend deduplicates")
	}
	if linesTime != "" {
		t, err := time.Parse(time.RFC3339Nano, linesTime)
		if err != nil {
			return proc.UsageError(fmt.Sprintf("-lines-time %q is not an RFC 3339 time such as 2026-11-25T10:00:00Z", linesTime))
		}
		c.linesTime = t
	}
	return nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeoutCause(ctx, cfg.timeout, fmt.Errorf("gave up after -timeout %s", cfg.timeout))
	defer cancel()

	client := &loadgen.Client{BaseURL: cfg.url, APIKey: cfg.apiKey, HTTP: loadgen.NewHTTPClient(2 * cfg.concurrency)}
	before, err := client.Stats(ctx)
	if err != nil {
		return fmt.Errorf("reading %s/stats before publishing: %w%s", cfg.url, withCause(ctx, err), hint(err))
	}

	start := time.Now()
	var sent published
	if cfg.inputPath() != "" {
		sent, err = publishInput(ctx, client, cfg, stdin, stderr)
	} else {
		sent, err = publishGenerated(ctx, client, cfg, stderr)
	}
	if err != nil {
		return fmt.Errorf("publishing to %s: %w", cfg.url, withCause(ctx, err))
	}
	pub := sent.result

	res := loadgen.Report{
		URL:                 cfg.url,
		RunID:               sent.runID,
		Input:               sent.input,
		Protocol:            cfg.protocol,
		Events:              pub.Sent,
		Unique:              sent.unique,
		Duplicates:          pub.Sent - sent.unique,
		BatchSize:           cfg.batch,
		Concurrency:         cfg.concurrency,
		Requests:            pub.Requests,
		Retries:             pub.Retries,
		PublishSeconds:      pub.Elapsed.Seconds(),
		PublishEventsPerSec: perSecond(pub.Sent, pub.Elapsed),
		LatencyP50Ms:        ms(loadgen.Percentile(pub.Latencies, 50)),
		LatencyP95Ms:        ms(loadgen.Percentile(pub.Latencies, 95)),
		LatencyP99Ms:        ms(loadgen.Percentile(pub.Latencies, 99)),
		StatsBefore:         before,
	}

	if cfg.wait {
		// The run has drained once the service has taken every event sent
		// off the queue, as stored, dropped as a duplicate or set aside.
		target := before.Received + before.DeadLettered + int64(pub.Sent)
		drain := newBar(stderr, int64(pub.Sent), "consuming", false)
		after, _, err := client.WaitFor(ctx, func(s loadgen.Stats) bool {
			drain.set(s.Received + s.DeadLettered - before.Received - before.DeadLettered)
			return s.Received+s.DeadLettered >= target
		})
		drain.finish()
		e2e := time.Since(start)
		if err != nil {
			consumed := max(after.Received+after.DeadLettered-before.Received-before.DeadLettered, 0)
			return fmt.Errorf("waiting for the queue to drain (%d of %d events consumed): %w", consumed, pub.Sent, withCause(ctx, err))
		}
		secs, rate := e2e.Seconds(), perSecond(pub.Sent, e2e)
		res.E2ESeconds, res.E2EEventsPerSec = &secs, &rate
		res.StatsAfter = after
	} else {
		if res.StatsAfter, err = client.Stats(ctx); err != nil {
			return fmt.Errorf("reading %s/stats after publishing: %w", cfg.url, withCause(ctx, err))
		}
	}

	if cfg.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	printSummary(stdout, res)
	return nil
}

// hint suggests what to check when the first request fails.
func hint(err error) string {
	var se *loadgen.StatusError
	switch {
	case errors.As(err, &se) && se.Status == http.StatusUnauthorized:
		return " (give the key with -api-key or API_KEY)"
	case errors.As(err, &se), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return ""
	default:
		return " (is logagg running there? set -url or LOGAGG_URL)"
	}
}

// withCause names the -timeout when it is what ended err.
func withCause(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w (%v)", err, cause)
	}
	return err
}

func printSummary(w io.Writer, r loadgen.Report) {
	from := ""
	if r.Input != "" {
		from = " from " + r.Input
	}
	fmt.Fprintf(w, "published %d events (%d unique, %d duplicates)%s to %s%s in %d requests, %d retries\n",
		r.Events, r.Unique, r.Duplicates, from, r.URL, publishPath(r.Protocol), r.Requests, r.Retries)
	fmt.Fprintf(w, "publish:    %.3fs, %.0f events/s; request latency p50 %.1fms, p95 %.1fms, p99 %.1fms\n",
		r.PublishSeconds, r.PublishEventsPerSec, r.LatencyP50Ms, r.LatencyP95Ms, r.LatencyP99Ms)
	if r.E2ESeconds != nil {
		fmt.Fprintf(w, "end to end: %.3fs, %.0f events/s until the queue drained\n", *r.E2ESeconds, *r.E2EEventsPerSec)
	}
	b, a := r.StatsBefore, r.StatsAfter
	fmt.Fprintf(w, "/stats:     received %+d, unique_processed %+d, duplicate_dropped %+d, dead_lettered %+d, payload_conflicts %+d; queued now %d\n",
		a.Received-b.Received, a.UniqueProcessed-b.UniqueProcessed, a.DuplicateDropped-b.DuplicateDropped,
		a.DeadLettered-b.DeadLettered, a.PayloadConflicts-b.PayloadConflicts, a.Queued)
}

// publishPath names OTLP's route after the URL; /publish goes unsaid.
func publishPath(p loadgen.Protocol) string {
	if p == loadgen.ProtocolOTLP {
		return "/v1/logs (OTLP, protobuf)"
	}
	return ""
}

func perSecond(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// bar is a progress bar on stderr, shown only when stderr is a terminal.
type bar struct {
	pb    *progressbar.ProgressBar
	total int64 // -1 when unknown
}

// newBar counts events, or bytes when inBytes is set; a total of -1 (the
// size of stdin) shows a spinner instead.
func newBar(stderr io.Writer, total int64, what string, inBytes bool) bar {
	f, ok := stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return bar{}
	}
	return drawBar(stderr, total, what, inBytes)
}

// drawBar is newBar on any writer, terminal or not.
func drawBar(w io.Writer, total int64, what string, inBytes bool) bar {
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionClearOnFinish(),
	}
	if inBytes {
		opts = append(opts, progressbar.OptionShowBytes(true))
	} else {
		opts = append(opts, progressbar.OptionShowIts(), progressbar.OptionSetItsString("events"))
	}
	return bar{progressbar.NewOptions64(total, opts...), total}
}

func (b bar) set(n int64) {
	if b.pb == nil {
		return
	}
	if b.total >= 0 { // the library's own max is the spinner's width when the total is unknown
		n = min(n, b.total)
	}
	_ = b.pb.Set64(max(n, 0))
}

func (b bar) finish() {
	if b.pb != nil {
		_ = b.pb.Finish()
	}
}

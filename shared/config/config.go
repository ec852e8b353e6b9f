// Package config reads logagg's configuration from the environment, once,
// into a typed struct. Every bad value fails with a message that names the
// variable, so a misconfigured process stops at start, not at first use.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/logagg/logagg/shared/api"
	"github.com/logagg/logagg/shared/event"
	"github.com/logagg/logagg/shared/otlp"
	"github.com/logagg/logagg/shared/redisqueue"
	"github.com/logagg/logagg/shared/store"
	"github.com/logagg/logagg/shared/worker"
)

// Config is the whole configuration; each composition root uses the part it
// needs and calls Require for the variables it cannot do without.
type Config struct {
	DatabaseURL     string        // DATABASE_URL
	RedisURL        string        // REDIS_URL
	QueueURL        string        // QUEUE_URL: SQS queue (cloud); empty = Redis
	Port            int           // PORT, default 8080
	WorkerCount     int           // WORKER_COUNT, default 4; 0 serves HTTP only
	BatchSize       int           // BATCH_SIZE, events per consume transaction, default 500
	MaxBatch        int           // MAX_BATCH, events per publish request, default 10000
	MaxBodyBytes    int64         // MAX_BODY_BYTES, default 6 MiB
	MaxEventBytes   int           // MAX_EVENT_BYTES, default 256 KiB
	APIKeys         []string      // API_KEYS, comma-separated; empty = open
	Stream          string        // STREAM_NAME, default logagg:events
	Group           string        // CONSUMER_GROUP, default logagg
	MaxBacklog      int64         // MAX_BACKLOG, queued events before /publish answers 429, default 1000000; 0 = no limit
	AllowEviction   bool          // REDIS_ALLOW_EVICTION, start even when Redis's maxmemory-policy may evict the queue's keys, default false
	ClaimIdle       time.Duration // CLAIM_IDLE, pending time after which another consumer reclaims a message, default 30s
	MaxDeliveries   int           // MAX_DELIVERIES, deliveries before a message is dead-lettered, default 5
	DBMaxConns      int           // DB_MAX_CONNS, PostgreSQL pool size, default 8
	IdleInTxTimeout time.Duration // DB_IDLE_IN_TRANSACTION_TIMEOUT, default 5s; 0 leaves PostgreSQL's own setting
	ShutdownTimeout time.Duration // SHUTDOWN_TIMEOUT, default 30s
	ConsumerName    string        // CONSUMER_NAME, this process's name in the consumer group, default host-pid
	LogLevel        string        // LOG_LEVEL: debug, info, warn, error; default info
	PprofAddr       string        // PPROF_ADDR: host:port where localrun serves net/http/pprof; empty = off

	// How long the store keeps each kind of record (0 = for ever), how its
	// events are partitioned, and how often localrun maintains it.
	Retention               time.Duration // RETENTION, events, default for ever
	DedupWindow             time.Duration // DEDUP_WINDOW, keys, default for ever; at least RETENTION
	PartitionInterval       time.Duration // PARTITION_INTERVAL, default store.DefaultPartitionInterval
	DuplicateAuditRetention time.Duration // DUPLICATE_AUDIT_RETENTION, the audit of dropped duplicates, default for ever
	DeadLetterRetention     time.Duration // DEAD_LETTER_RETENTION, default for ever
	LedgerRetention         time.Duration // LEDGER_RETENTION, consumed message IDs, default 168h
	MaintenanceInterval     time.Duration // MAINTENANCE_INTERVAL, between localrun's maintenance passes, default 10m

	// Bounds on what clients can make the HTTP server hold.
	ReadHeaderTimeout time.Duration // READ_HEADER_TIMEOUT, default 10s
	IdleTimeout       time.Duration // IDLE_TIMEOUT, default 30s
	BodyReadTimeout   time.Duration // BODY_READ_TIMEOUT, default 30s
	WriteTimeout      time.Duration // WRITE_TIMEOUT, default 1m; longer than BODY_READ_TIMEOUT
	InflightBodyBytes int64         // INFLIGHT_BODY_BYTES, default 16 × MAX_BODY_BYTES
	AllowedOrigins    []string      // ALLOWED_ORIGINS, comma-separated origins trusted for cross-site writes

	OTLPTopicAttribute string // OTLP_TOPIC_ATTRIBUTE, the resource attribute that is an OTLP log record's topic, default service.name
}

// Load reads the configuration through getenv (os.Getenv in main, a map in
// tests). It reports every bad variable at once.
func Load(getenv func(string) string) (Config, error) {
	c, r := load(getenv)
	return c, errors.Join(r.errs...)
}

// load reads every setting: this is the one place that names each variable,
// its default and its meaning (Settings lists them from here). A default
// that a package also applies to a zero option is that package's constant,
// so that it is written once.
func load(getenv func(string) string) (Config, *reader) {
	r := &reader{getenv: getenv}
	c := Config{
		DatabaseURL:       r.url("DATABASE_URL", "PostgreSQL, e.g. "+databaseExample, "postgres", "postgresql"),
		RedisURL:          r.url("REDIS_URL", "Redis, e.g. "+redisExample, "redis", "rediss", "unix"),
		QueueURL:          r.url("QUEUE_URL", "SQS queue URL (cloud); empty means the Redis Stream", "https", "http"),
		Port:              r.integer("PORT", "HTTP port (on every interface)", 8080, 1, 65535),
		WorkerCount:       r.integer("WORKER_COUNT", "consumer workers; 0 serves HTTP only", 4, 0, 1024),
		BatchSize:         r.integer("BATCH_SIZE", "most events per consume transaction", worker.DefaultBatchSize, 1, 10000),
		MaxBatch:          r.integer("MAX_BATCH", "most events per publish request", event.DefaultMaxEvents, 1, 1000000),
		MaxBodyBytes:      int64(r.integer("MAX_BODY_BYTES", "request body limit, after decompression", api.DefaultMaxBodyBytes, 1024, 1<<30)),
		MaxEventBytes:     r.integer("MAX_EVENT_BYTES", "one encoded event (the SQS message limit)", event.DefaultMaxEventBytes, 256, 1<<30),
		APIKeys:           r.list("API_KEYS", "comma-separated API keys; empty leaves the API open"),
		Stream:            r.str("STREAM_NAME", "the Redis Stream", redisqueue.DefaultStream),
		Group:             r.str("CONSUMER_GROUP", "the stream's consumer group", redisqueue.DefaultGroup),
		MaxBacklog:        int64(r.integer("MAX_BACKLOG", "queued events above which /publish answers 429; 0 = no limit", 1000000, 0, 1<<40)),
		AllowEviction:     r.boolean("REDIS_ALLOW_EVICTION", "start even though Redis's maxmemory-policy may evict keys (allkeys-*), which silently drops queued events and counters", false),
		ClaimIdle:         r.duration("CLAIM_IDLE", "pending time after which another consumer reclaims a message", redisqueue.DefaultClaimIdle),
		MaxDeliveries:     r.integer("MAX_DELIVERIES", "deliveries after which a message is dead-lettered", 5, 1, 1000),
		DBMaxConns:        r.integer("DB_MAX_CONNS", "PostgreSQL pool size per process", store.DefaultMaxConns, 1, 1000),
		IdleInTxTimeout:   r.durationOrOff("DB_IDLE_IN_TRANSACTION_TIMEOUT", "how long a database session may sit idle inside a transaction before PostgreSQL ends it and frees its locks (those of a paused or cut-off replica); 0 leaves PostgreSQL's own setting", store.DefaultIdleInTransactionTimeout),
		ShutdownTimeout:   r.duration("SHUTDOWN_TIMEOUT", "how long in-flight requests and batches may take after SIGTERM", 30*time.Second),
		ConsumerName:      r.str("CONSUMER_NAME", "this process's name in the consumer group; empty = <host>-<pid>", ""),
		LogLevel:          r.oneOf("LOG_LEVEL", "debug, info, warn or error (JSON logs on stderr)", "info", "debug", "info", "warn", "error"),
		PprofAddr:         r.hostPort("PPROF_ADDR", "localrun only: host:port where net/http/pprof is served; empty = off"),
		ReadHeaderTimeout: r.duration("READ_HEADER_TIMEOUT", "time a client has to send a request's headers", 10*time.Second),
		IdleTimeout:       r.duration("IDLE_TIMEOUT", "time an idle keep-alive connection is kept open", 30*time.Second),
		BodyReadTimeout:   r.duration("BODY_READ_TIMEOUT", "time a client has to send a whole request body (then 408)", 30*time.Second),
		WriteTimeout:      r.duration("WRITE_TIMEOUT", "time a request has from its headers until its whole answer is written; a client that does not read its answer is cut off", 60*time.Second),
		InflightBodyBytes: r.multiple("INFLIGHT_BODY_BYTES", "request body bytes held at once, decompressed (then 503)", inflightBodies, "MAX_BODY_BYTES"),
		AllowedOrigins:    r.origins("ALLOWED_ORIGINS", "comma-separated origins (https://ops.example.com) whose pages may send state-changing requests"),

		OTLPTopicAttribute: r.str("OTLP_TOPIC_ATTRIBUTE", "the resource attribute whose value is an OTLP log record's topic (POST /v1/logs)", otlp.DefaultTopicAttribute),

		Retention:               r.retention("RETENTION", "how long events are kept after they were processed; they are removed a partition at a time, so up to PARTITION_INTERVAL later; 0 = for ever", 0),
		DedupWindow:             r.retention("DEDUP_WINDOW", "how long an event's key is remembered after it was processed, so that a later duplicate is dropped; at least RETENTION; 0 = for ever", 0),
		PartitionInterval:       r.atLeast("PARTITION_INTERVAL", "processing time that one partition of the events covers; every replica and function should use the same", store.DefaultPartitionInterval, store.MinPartitionInterval),
		DuplicateAuditRetention: r.retention("DUPLICATE_AUDIT_RETENTION", "how long the audit of dropped duplicates is kept; 0 = for ever", 0),
		DeadLetterRetention:     r.retention("DEAD_LETTER_RETENTION", "how long dead letters are kept, replayed or not; 0 = for ever", 0),
		LedgerRetention:         r.retention("LEDGER_RETENTION", "how long consumed message IDs are kept to recognise a redelivery; longer than the queue may take to redeliver; 0 = for ever", store.DefaultLedgerRetention),
		MaintenanceInterval:     r.duration("MAINTENANCE_INTERVAL", "localrun only: time between maintenance passes (partitions ahead, retention, pruning); the first runs at start", 10*time.Minute),
	}
	r.dedupWindowCoversRetention(c.DedupWindow, c.Retention)
	if c.PartitionInterval%time.Minute != 0 {
		r.fail("PARTITION_INTERVAL", r.get("PARTITION_INTERVAL"), "must be a whole number of minutes: partitions are named to the minute")
	}
	if c.WriteTimeout <= c.BodyReadTimeout {
		r.fail("WRITE_TIMEOUT", formatDuration(c.WriteTimeout), "must be longer than BODY_READ_TIMEOUT ("+formatDuration(c.BodyReadTimeout)+"), or a body read in time could not be answered")
	}
	return c, r
}

// inflightBodies is how many bodies of the largest size INFLIGHT_BODY_BYTES
// holds by default.
const inflightBodies = 16

// Require fails, naming each variable, when any of the given ones is unset.
func (c Config) Require(names ...string) error {
	var errs []error
	for _, n := range names {
		var v string
		switch n {
		case "DATABASE_URL":
			v = c.DatabaseURL
		case "REDIS_URL":
			v = c.RedisURL
		case "QUEUE_URL":
			v = c.QueueURL
		default:
			errs = append(errs, fmt.Errorf("%s: not a variable that can be required", n))
			continue
		}
		if v == "" {
			errs = append(errs, fmt.Errorf("%s is required (%s)", n, examples[n]))
		}
	}
	return errors.Join(errs...)
}

const (
	databaseExample = "postgres://postgres@127.0.0.1:5432/logagg?sslmode=disable"
	redisExample    = "redis://127.0.0.1:6379/0"
)

var examples = map[string]string{
	"DATABASE_URL": "for example " + databaseExample,
	"REDIS_URL":    "for example " + redisExample,
	"QUEUE_URL":    "the SQS queue URL, for example https://sqs.eu-west-1.amazonaws.com/123456789012/logagg-events",
}

// reader reads variables, collecting every error and, for Settings, what
// each variable is.
type reader struct {
	getenv   func(string) string
	errs     []error
	settings []Setting
	numbers  map[string]int64 // whole-number values read so far, for defaults derived from them
}

func (r *reader) get(name string) string { return strings.TrimSpace(r.getenv(name)) }

// describe records one setting for Settings.
func (r *reader) describe(name, meaning, def string) {
	r.settings = append(r.settings, Setting{Name: name, Default: def, Meaning: meaning})
}

func (r *reader) fail(name, value, why string) {
	r.errs = append(r.errs, fmt.Errorf("%s=%q: %s", name, value, why))
}

func (r *reader) str(name, meaning, def string) string {
	r.describe(name, meaning, def)
	if v := r.get(name); v != "" {
		return v
	}
	return def
}

func (r *reader) integer(name, meaning string, def, min, max int) int {
	r.describe(name, meaning, strconv.Itoa(def))
	n := r.wholeNumber(name, def, min, max)
	if r.numbers == nil {
		r.numbers = map[string]int64{}
	}
	r.numbers[name] = int64(n)
	return n
}

func (r *reader) wholeNumber(name string, def, min, max int) int {
	v := r.get(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		r.fail(name, v, "not a whole number")
		return def
	}
	if n < min || n > max {
		r.fail(name, v, fmt.Sprintf("must be between %d and %d", min, max))
		return def
	}
	return n
}

// multiple reads a whole number whose default is factor times the value of
// base, read before it; it may not be below that value.
func (r *reader) multiple(name, meaning string, factor int, base string) int64 {
	r.describe(name, meaning, fmt.Sprintf("%d × %s", factor, base))
	least := int(r.numbers[base])
	n := r.wholeNumber(name, factor*least, 1, 1<<40)
	if n < least {
		r.fail(name, r.get(name), fmt.Sprintf("must be at least %s (%d), or a body of the largest size could never be read", base, least))
		return int64(factor * least)
	}
	return int64(n)
}

func (r *reader) boolean(name, meaning string, def bool) bool {
	r.describe(name, meaning, strconv.FormatBool(def))
	v := r.get(name)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(name, v, "not true or false")
		return def
	}
	return b
}

func (r *reader) duration(name, meaning string, def time.Duration) time.Duration {
	r.describe(name, meaning, formatDuration(def))
	v := r.get(name)
	if v == "" {
		return def
	}
	d, err := parseDuration(v)
	if err != nil || d <= 0 {
		r.fail(name, v, "not a positive duration such as 500ms, 30s, 2m or 7d")
		return def
	}
	return d
}

// retention reads how long something is kept. 0 (or 0s, 0h) keeps it for
// ever; time.ParseDuration reads "0" as zero, which duration refuses.
func (r *reader) retention(name, meaning string, def time.Duration) time.Duration {
	r.describe(name, meaning, formatRetention(def))
	v := r.get(name)
	if v == "" {
		return def
	}
	d, err := parseDuration(v)
	if err != nil || d < 0 {
		r.fail(name, v, "not a duration such as 30d, 720h or 90m, nor 0 for ever")
		return def
	}
	return d
}

// formatRetention writes a retention as it would be set: 0 for ever.
func formatRetention(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	return formatDuration(d)
}

// atLeast reads a duration that may not be shorter than least.
func (r *reader) atLeast(name, meaning string, def, least time.Duration) time.Duration {
	d := r.duration(name, meaning+"; at least "+formatDuration(least), def)
	if d < least {
		r.fail(name, r.get(name), "must be at least "+formatDuration(least))
		return def
	}
	return d
}

// dedupWindowCoversRetention fails unless keys are remembered at least as
// long as their events are kept: a duplicate of a stored event must never
// be stored again.
func (r *reader) dedupWindowCoversRetention(window, retention time.Duration) {
	switch {
	case window == 0:
	case retention == 0:
		r.fail("DEDUP_WINDOW", r.get("DEDUP_WINDOW"), "must be at least RETENTION, which is unset (0, events kept for ever): leave DEDUP_WINDOW unset too, or set RETENTION")
	case window < retention:
		r.fail("DEDUP_WINDOW", r.get("DEDUP_WINDOW"), "must be at least RETENTION ("+formatDuration(retention)+"), or a duplicate of an event still stored would be stored again")
	}
}

// durationOrOff is duration that also takes 0, which turns the thing off.
func (r *reader) durationOrOff(name, meaning string, def time.Duration) time.Duration {
	if d, err := parseDuration(r.get(name)); err == nil && d == 0 {
		r.describe(name, meaning, formatDuration(def))
		return 0
	}
	return r.duration(name, meaning, def)
}

// parseDuration reads a Go duration (90m, 1h30m), which may begin with a
// whole number of days: 30d, 1d12h. Retentions are set in days; Go's own
// syntax stops at hours.
func parseDuration(v string) (time.Duration, error) {
	days, rest, found := strings.Cut(v, "d")
	if !found {
		return time.ParseDuration(v)
	}
	n, err := strconv.ParseUint(days, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("time: invalid duration %q", v)
	}
	d := time.Duration(n) * 24 * time.Hour
	if rest == "" {
		return d, nil
	}
	more, err := time.ParseDuration(rest)
	if err != nil || more < 0 {
		return 0, fmt.Errorf("time: invalid duration %q", v)
	}
	return d + more, nil
}

// formatDuration writes d as it would be set: 168h rather than 168h0m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func (r *reader) list(name, meaning string) []string {
	r.describe(name, meaning, "")
	var out []string
	for _, part := range strings.Split(r.get(name), ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// origins reads a list of web origins, each checked by the rule that
// net/http's cross-origin protection applies to the origins it trusts.
func (r *reader) origins(name, meaning string) []string {
	list := r.list(name, meaning)
	check := http.NewCrossOriginProtection()
	for _, o := range list {
		if err := check.AddTrustedOrigin(o); err != nil {
			r.fail(name, o, "not an origin such as https://ops.example.com (scheme://host[:port], no path)")
		}
	}
	return list
}

func (r *reader) oneOf(name, meaning, def string, allowed ...string) string {
	r.describe(name, meaning, def)
	v := strings.ToLower(r.get(name))
	if v == "" {
		return def
	}
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	r.fail(name, v, "must be one of "+strings.Join(allowed, ", "))
	return def
}

// hostPort reads a listen address such as 127.0.0.1:6060 or :6060.
func (r *reader) hostPort(name, meaning string) string {
	r.describe(name, meaning, "")
	v := r.get(name)
	if v == "" {
		return ""
	}
	_, port, err := net.SplitHostPort(v)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
		r.fail(name, v, "not a listen address such as 127.0.0.1:6060")
		return ""
	}
	return v
}

func (r *reader) url(name, meaning string, schemes ...string) string {
	r.describe(name, meaning, "")
	v := r.get(name)
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil {
		r.fail(name, redact(v), "not a URL")
		return ""
	}
	for _, s := range schemes {
		if u.Scheme == s {
			return v
		}
	}
	r.fail(name, redact(v), "scheme must be one of "+strings.Join(schemes, ", "))
	return ""
}

// redact hides a password so that a configuration error never prints it.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		if i := strings.LastIndex(raw, "@"); i >= 0 {
			return "…" + raw[i:]
		}
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

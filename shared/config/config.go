// Package config reads logagg's configuration from the environment, once,
// into a typed struct. Every bad value fails with a message that names the
// variable, so a misconfigured process stops at start, not at first use.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
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
	ClaimIdle       time.Duration // CLAIM_IDLE, pending time after which another consumer reclaims a message, default 30s
	MaxDeliveries   int           // MAX_DELIVERIES, deliveries before a message is dead-lettered, default 5
	DBMaxConns      int           // DB_MAX_CONNS, PostgreSQL pool size, default 8
	ShutdownTimeout time.Duration // SHUTDOWN_TIMEOUT, default 30s
	LedgerRetention time.Duration // LEDGER_RETENTION, how long consumed message IDs are kept, default 168h
	ConsumerName    string        // CONSUMER_NAME, this process's name in the consumer group, default host-pid
	LogLevel        string        // LOG_LEVEL: debug, info, warn, error; default info
	PprofAddr       string        // PPROF_ADDR: host:port where localrun serves net/http/pprof; empty = off
}

// Load reads the configuration through getenv (os.Getenv in main, a map in
// tests). It reports every bad variable at once.
func Load(getenv func(string) string) (Config, error) {
	r := reader{getenv: getenv}
	c := Config{
		DatabaseURL:     r.url("DATABASE_URL", "postgres", "postgresql"),
		RedisURL:        r.url("REDIS_URL", "redis", "rediss", "unix"),
		QueueURL:        r.url("QUEUE_URL", "https", "http"),
		Port:            r.integer("PORT", 8080, 1, 65535),
		WorkerCount:     r.integer("WORKER_COUNT", 4, 0, 1024),
		BatchSize:       r.integer("BATCH_SIZE", 500, 1, 10000),
		MaxBatch:        r.integer("MAX_BATCH", 10000, 1, 1000000),
		MaxBodyBytes:    int64(r.integer("MAX_BODY_BYTES", 6<<20, 1024, 1<<30)),
		MaxEventBytes:   r.integer("MAX_EVENT_BYTES", 256<<10, 256, 1<<30),
		APIKeys:         r.list("API_KEYS"),
		Stream:          r.str("STREAM_NAME", "logagg:events"),
		Group:           r.str("CONSUMER_GROUP", "logagg"),
		MaxBacklog:      int64(r.integer("MAX_BACKLOG", 1000000, 0, 1<<40)),
		ClaimIdle:       r.duration("CLAIM_IDLE", 30*time.Second),
		MaxDeliveries:   r.integer("MAX_DELIVERIES", 5, 1, 1000),
		DBMaxConns:      r.integer("DB_MAX_CONNS", 8, 1, 1000),
		ShutdownTimeout: r.duration("SHUTDOWN_TIMEOUT", 30*time.Second),
		LedgerRetention: r.duration("LEDGER_RETENTION", 168*time.Hour),
		ConsumerName:    r.str("CONSUMER_NAME", ""),
		LogLevel:        r.oneOf("LOG_LEVEL", "info", "debug", "info", "warn", "error"),
		PprofAddr:       r.hostPort("PPROF_ADDR"),
	}
	return c, errors.Join(r.errs...)
}

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

var examples = map[string]string{
	"DATABASE_URL": "for example postgres://postgres@127.0.0.1:5432/logagg?sslmode=disable",
	"REDIS_URL":    "for example redis://127.0.0.1:6379/0",
	"QUEUE_URL":    "the SQS queue URL, for example https://sqs.eu-west-1.amazonaws.com/123456789012/logagg-events",
}

type reader struct {
	getenv func(string) string
	errs   []error
}

func (r *reader) get(name string) string { return strings.TrimSpace(r.getenv(name)) }

func (r *reader) fail(name, value, why string) {
	r.errs = append(r.errs, fmt.Errorf("%s=%q: %s", name, value, why))
}

func (r *reader) str(name, def string) string {
	if v := r.get(name); v != "" {
		return v
	}
	return def
}

func (r *reader) integer(name string, def, min, max int) int {
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

func (r *reader) duration(name string, def time.Duration) time.Duration {
	v := r.get(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		r.fail(name, v, "not a positive duration such as 500ms, 30s or 2m")
		return def
	}
	return d
}

func (r *reader) list(name string) []string {
	var out []string
	for _, part := range strings.Split(r.get(name), ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (r *reader) oneOf(name, def string, allowed ...string) string {
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
func (r *reader) hostPort(name string) string {
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

func (r *reader) url(name string, schemes ...string) string {
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

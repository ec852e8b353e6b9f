package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// services are the PostgreSQL server and Redis every run uses; each run gets
// its own database and stream on them and removes both afterwards.
type services struct {
	serverURL *url.URL // the PostgreSQL server, any database
	redis     *redis.Client
}

func connectServices(ctx context.Context, databaseURL, redisURL string) (*services, error) {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("redis URL: %w", err)
	}
	s := &services{serverURL: u, redis: redis.NewClient(opts)}
	if err := s.redis.Ping(ctx).Err(); err != nil {
		_ = s.redis.Close()
		return nil, fmt.Errorf("redis at %s does not answer (is it running? make services): %w", opts.Addr, err)
	}
	conn, err := s.admin(ctx)
	if err != nil {
		_ = s.redis.Close()
		return nil, err
	}
	_ = conn.Close(ctx)
	return s, nil
}

func (s *services) Close() error { return s.redis.Close() }

// databaseURL returns the URL of database name on the server.
func (s *services) databaseURL(name string) string {
	u := *s.serverURL
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

// admin connects to the server's maintenance database, where databases
// are created and dropped.
func (s *services) admin(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, s.databaseURL("postgres"))
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL at %s does not answer (is it running? make services): %w", s.serverURL.Host, err)
	}
	return conn, nil
}

// scratch is one run's database and stream.
type scratch struct {
	id       string // random, in both names
	database string // bench_<id>
	stream   string // bench:<id>:events
}

func newScratch() scratch {
	var b [6]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	return scratch{id: id, database: "bench_" + id, stream: "bench:" + id + ":events"}
}

// keyPattern matches every Redis key of the run: the stream and the keys
// named after it, such as its published counter.
func (sc scratch) keyPattern() string { return "bench:" + sc.id + ":*" }

// create makes the run's database; the stream is created by localrun.
func (s *services) create(ctx context.Context, sc scratch) error {
	conn, err := s.admin(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{sc.database}.Sanitize()); err != nil {
		return fmt.Errorf("creating database %s: %w", sc.database, err)
	}
	return nil
}

// remove drops the run's database and deletes its Redis keys, and nothing
// else: the names hold the run's random id.
func (s *services) remove(ctx context.Context, sc scratch) error {
	var errs []string
	conn, err := s.admin(ctx)
	if err == nil {
		_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{sc.database}.Sanitize()+" WITH (FORCE)")
		_ = conn.Close(ctx)
	}
	if err != nil {
		errs = append(errs, fmt.Sprintf("dropping database %s: %v", sc.database, err))
	}
	if err := s.deleteKeys(ctx, sc); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return fmt.Errorf("cleaning up: %s", strings.Join(errs, "; "))
	}
	return nil
}

// deleteKeys deletes the run's Redis keys: its stream and the keys named
// after it.
func (s *services) deleteKeys(ctx context.Context, sc scratch) error {
	var errs []string
	keys := []string{sc.stream, sc.stream + ":published"}
	iter := s.redis.Scan(ctx, 0, sc.keyPattern(), 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		errs = append(errs, fmt.Sprintf("listing keys %s: %v", sc.keyPattern(), err))
	}
	if err := s.redis.Del(ctx, keys...).Err(); err != nil {
		errs = append(errs, fmt.Sprintf("deleting keys %s: %v", sc.keyPattern(), err))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// postgresVersion returns the server's version, e.g. "15.20 (Debian …)".
func (s *services) postgresVersion(ctx context.Context) (string, error) {
	conn, err := s.admin(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var v string
	err = conn.QueryRow(ctx, "SHOW server_version").Scan(&v)
	return v, err
}

// redisVersion returns redis_version from INFO server.
func (s *services) redisVersion(ctx context.Context) (string, error) {
	info, err := s.redis.Info(ctx, "server").Result()
	if err != nil {
		return "", err
	}
	return parseInfo(info)["redis_version"], nil
}

// parseInfo reads the "key:value" lines of a Redis INFO reply; section
// headers ("# Memory") and blank lines are skipped.
func parseInfo(info string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			out[k] = v
		}
	}
	return out
}

// commitLatency is the delay from publishing an event to its row being
// stored, over every row of a run whose payloads carry "sent_at".
type commitLatency struct {
	Rows               int64
	P50, P95, P99, Max float64 // milliseconds
}

// readCommitLatency computes the percentiles of processed_at − sent_at in
// the run's database. processed_at is now() of the consuming transaction,
// that is its start, so every figure falls short of the commit by that
// transaction's duration. percentile_disc is the nearest-rank percentile, as
// the publisher's request latencies are.
func readCommitLatency(ctx context.Context, databaseURL string) (commitLatency, error) {
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return commitLatency{}, err
	}
	defer conn.Close(ctx)
	var l commitLatency
	var p50, p95, p99, maxMs *float64
	err = conn.QueryRow(ctx, `
WITH d AS (
	SELECT extract(epoch FROM processed_at - (payload->>'sent_at')::timestamptz) * 1000 AS ms
	FROM processed_events
	WHERE payload ? 'sent_at'
)
SELECT count(*),
	percentile_disc(0.50) WITHIN GROUP (ORDER BY ms)::float8,
	percentile_disc(0.95) WITHIN GROUP (ORDER BY ms)::float8,
	percentile_disc(0.99) WITHIN GROUP (ORDER BY ms)::float8,
	max(ms)::float8
FROM d`).Scan(&l.Rows, &p50, &p95, &p99, &maxMs)
	if err != nil {
		return commitLatency{}, fmt.Errorf("reading publish-to-commit latency: %w", err)
	}
	if l.Rows == 0 {
		return l, fmt.Errorf("no stored event carries sent_at")
	}
	l.P50, l.P95, l.P99, l.Max = *p50, *p95, *p99, *maxMs
	return l, nil
}

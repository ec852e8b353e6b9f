package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/logagg/logagg/internal/envmap"
	"github.com/logagg/logagg/internal/loadgen"
	"github.com/logagg/logagg/internal/loadgen/loadgentest"
	"github.com/logagg/logagg/internal/proc"
	"github.com/stretchr/testify/require"
)

// preload publishes n events and lets the fake consume them, so that runs
// start against a service that already holds events.
func preload(t *testing.T, fake *loadgentest.Server, apiKey string, n int) loadgen.Stats {
	t.Helper()
	c := loadgen.NewClient(fake.URL, apiKey)
	events, _ := loadgen.Generate(loadgen.Plan{Events: n, DupRate: 0.1, Seed: 99})
	_, err := c.Publish(context.Background(), events, loadgen.PublishOptions{})
	require.NoError(t, err)
	st, _, err := c.WaitFor(context.Background(), func(s loadgen.Stats) bool { return s.Queued == 0 })
	require.NoError(t, err)
	return st
}

func TestRunJSON(t *testing.T) {
	t.Parallel()
	fake := loadgentest.New(t, loadgentest.Options{APIKey: "k", DrainPerPoll: 700})
	base := preload(t, fake, "k", 300)

	var stdout, stderr bytes.Buffer
	err := run(context.Background(),
		[]string{"-events", "3000", "-dup-rate", "0.3", "-batch", "250", "-concurrency", "3", "-topics", "4", "-seed", "5", "-wait", "-json"},
		envmap.Env{"LOGAGG_URL": fake.URL, "API_KEY": "k"}.Getenv, nil, &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	require.Empty(t, stderr.String(), "no progress bar when stderr is not a terminal")

	var fields map[string]any
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &fields))
	for _, k := range []string{
		"events", "unique", "duplicates", "publish_seconds", "publish_events_per_sec", "e2e_seconds",
		"e2e_events_per_sec", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "retries",
		"stats_before", "stats_after", "requests", "run_id",
	} {
		require.Contains(t, fields, k)
	}

	var res loadgen.Report
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &res))
	require.Equal(t, fake.URL, res.URL)
	require.Equal(t, 3000, res.Events)
	require.Equal(t, 2100, res.Unique)
	require.Equal(t, 900, res.Duplicates)
	require.Equal(t, 12, res.Requests)
	require.Zero(t, res.Retries)
	require.Positive(t, res.PublishSeconds)
	require.Positive(t, res.PublishEventsPerSec)
	require.NotNil(t, res.E2ESeconds)
	require.NotNil(t, res.E2EEventsPerSec)
	require.GreaterOrEqual(t, *res.E2ESeconds, res.PublishSeconds, "end to end includes publishing")
	require.Positive(t, res.LatencyP50Ms)
	require.LessOrEqual(t, res.LatencyP50Ms, res.LatencyP95Ms)
	require.LessOrEqual(t, res.LatencyP95Ms, res.LatencyP99Ms)

	require.Equal(t, base, res.StatsBefore)
	b, a := res.StatsBefore, res.StatsAfter
	require.Equal(t, int64(3000), a.Received-b.Received)
	require.Equal(t, int64(3000), a.Published-b.Published)
	require.Equal(t, int64(2100), a.UniqueProcessed-b.UniqueProcessed)
	require.Equal(t, int64(900), a.DuplicateDropped-b.DuplicateDropped)
	require.Zero(t, a.PayloadConflicts)
	require.Zero(t, a.Queued)
	require.Equal(t, int64(10), a.Topics, "the run's 4 topics are among the 10 the service already had")
}

func TestRunHumanSummary(t *testing.T) {
	t.Parallel()
	for _, wait := range []bool{false, true} {
		fake := loadgentest.New(t, loadgentest.Options{})
		args := []string{"-url", fake.URL, "-events", "1000", "-batch", "100"}
		if wait {
			args = append(args, "-wait")
		}
		var stdout, stderr bytes.Buffer
		require.NoError(t, run(context.Background(), args, envmap.Env{}.Getenv, nil, &stdout, &stderr), stderr.String())
		out := stdout.String()
		require.Contains(t, out, "published 1000 events (700 unique, 300 duplicates) to "+fake.URL+" in 10 requests, 0 retries")
		require.Contains(t, out, "events/s; request latency p50 ")
		require.Equal(t, wait, strings.Contains(out, "end to end:"), out)
		if wait {
			require.Contains(t, out, "received +1000, unique_processed +700, duplicate_dropped +300, dead_lettered +0, payload_conflicts +0; queued now 0")
		}
	}
}

func TestRunCountsRetries(t *testing.T) {
	t.Parallel()
	fake := loadgentest.New(t, loadgentest.Options{Intercept: func(attempt, _ int) loadgentest.Reply {
		if attempt == 2 {
			return loadgentest.Reply{Status: http.StatusTooManyRequests, Error: "queue is over its backlog limit"}
		}
		return loadgentest.Reply{}
	}})
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-url", fake.URL, "-events", "500", "-batch", "100", "-concurrency", "1", "-json", "-wait"}, envmap.Env{}.Getenv, nil, &stdout, &stderr)
	require.NoError(t, err)
	var res loadgen.Report
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &res))
	require.Equal(t, 1, res.Retries)
	require.Equal(t, 5, res.Requests)
	require.Equal(t, int64(500), res.StatsAfter.Received)
}

func TestRunRateCap(t *testing.T) {
	t.Parallel()
	fake := loadgentest.New(t, loadgentest.Options{})
	var stdout, stderr bytes.Buffer
	// At 2,000 events/s the third batch of 100 may start only 100ms in.
	err := run(context.Background(), []string{"-url", fake.URL, "-events", "300", "-batch", "100", "-rate", "2000", "-json"}, envmap.Env{}.Getenv, nil, &stdout, &stderr)
	require.NoError(t, err)
	var res loadgen.Report
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &res))
	require.GreaterOrEqual(t, res.PublishSeconds, 0.1)
	require.Nil(t, res.E2ESeconds, "no end-to-end time without -wait")
}

func TestRunSentAt(t *testing.T) {
	t.Parallel()
	fake := loadgentest.New(t, loadgentest.Options{})
	var stdout, stderr bytes.Buffer
	before := time.Now().Truncate(time.Microsecond)
	err := run(context.Background(), []string{"-url", fake.URL, "-events", "400", "-batch", "100", "-sent-at", "-wait", "-json"}, envmap.Env{}.Getenv, nil, &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	var res loadgen.Report
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &res))
	require.Zero(t, res.StatsAfter.PayloadConflicts, "duplicates carry their original's stamp")

	accepted := fake.Accepted()
	require.NotEmpty(t, accepted)
	for _, req := range accepted {
		for _, raw := range req {
			var e struct {
				Payload struct {
					SentAt time.Time `json:"sent_at"`
				} `json:"payload"`
			}
			require.NoError(t, json.Unmarshal(raw, &e))
			require.False(t, e.Payload.SentAt.Before(before), "stamped with the send time: %s", raw)
		}
	}
}

func TestRunFailures(t *testing.T) {
	t.Parallel()
	refusing := loadgentest.New(t, loadgentest.Options{Intercept: func(int, int) loadgentest.Reply {
		return loadgentest.Reply{Status: http.StatusUnprocessableEntity, Error: "event 3: timestamp has no time-zone offset"}
	}})
	keyed := loadgentest.New(t, loadgentest.Options{APIKey: "right"})
	slow := loadgentest.New(t, loadgentest.Options{DrainPerPoll: 1})
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr []string
		code    int
	}{
		{
			name:    "unreachable",
			args:    []string{"-url", "http://127.0.0.1:1"},
			wantErr: []string{"reading http://127.0.0.1:1/stats before publishing", "is logagg running there?"},
			code:    1,
		},
		{
			name:    "wrong key",
			args:    []string{"-url", keyed.URL, "-api-key", "wrong"},
			wantErr: []string{"401 Unauthorized", "missing or wrong API key", "-api-key or API_KEY"},
			code:    1,
		},
		{
			name:    "refused events",
			args:    []string{"-url", refusing.URL, "-events", "10"},
			wantErr: []string{"publishing to " + refusing.URL, "publish stopped after 0 of 10 events", "422 Unprocessable Entity", "timestamp has no time-zone offset"},
			code:    1,
		},
		{
			name:    "queue does not drain in time",
			args:    []string{"-url", slow.URL, "-events", "200", "-wait", "-timeout", "1s"},
			wantErr: []string{"waiting for the queue to drain (", " of 200 events consumed)", "gave up after -timeout 1s"},
			code:    1,
		},
		{name: "dup rate", args: []string{"-dup-rate", "1"}, wantErr: []string{"-dup-rate must be at least 0 and below 1"}, code: 2},
		{name: "events", args: []string{"-events", "0"}, wantErr: []string{"-events must be at least 1"}, code: 2},
		{name: "batch", args: []string{"-batch", "-3"}, wantErr: []string{"-batch must be at least 1"}, code: 2},
		{name: "concurrency", args: []string{"-concurrency", "0"}, wantErr: []string{"-concurrency must be at least 1"}, code: 2},
		{name: "rate", args: []string{"-rate", "-1"}, wantErr: []string{"-rate must be 0"}, code: 2},
		{name: "timeout", args: []string{"-timeout", "0s"}, wantErr: []string{"-timeout must be positive"}, code: 2},
		{name: "url", args: []string{"-url", "localhost:8080"}, wantErr: []string{`-url "localhost:8080" is not an http(s) URL`}, code: 2},
		{name: "url from env", env: map[string]string{"LOGAGG_URL": "ftp://x"}, wantErr: []string{`-url "ftp://x"`}, code: 2},
		{name: "run id", args: []string{"-run-id", "a\tb"}, wantErr: []string{"-run-id must not contain control characters"}, code: 2},
		{name: "stray argument", args: []string{"-events", "5", "extra"}, wantErr: []string{`unexpected argument "extra"`}, code: 2},
		{name: "unknown flag", args: []string{"-nope"}, wantErr: []string{"flag provided but not defined: -nope"}, code: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tc.args, envmap.Env(tc.env).Getenv, nil, &stdout, &stderr)
			require.Error(t, err)
			require.Empty(t, stdout.String())
			var report bytes.Buffer
			require.Equal(t, tc.code, proc.ExitCode("publisher", err, &report))
			all := report.String() + stderr.String()
			for _, want := range tc.wantErr {
				require.Contains(t, all, want)
			}
		})
	}
}

func TestRunHelp(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-h"}, envmap.Env{}.Getenv, nil, &stdout, &stderr)
	require.True(t, errors.Is(err, flag.ErrHelp))
	require.Zero(t, proc.ExitCode("publisher", err, &bytes.Buffer{}))
	require.Contains(t, stderr.String(), "Usage: publisher")
	require.Contains(t, stderr.String(), "-dup-rate")
}

func TestParseFlagsDefaults(t *testing.T) {
	t.Parallel()
	c, err := parseFlags(nil, envmap.Env{}.Getenv, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, config{
		url: "http://127.0.0.1:8080", events: 20000, dupRate: 0.3, batch: 500, concurrency: 4,
		topics: 10, payloadBytes: 120, seed: 1, timeout: 5 * time.Minute, batchBytes: 4 << 20,
		protocol: loadgen.ProtocolJSON,
	}, c)

	c, err = parseFlags([]string{"-api-key", "flag"}, envmap.Env{"LOGAGG_URL": "https://logs.example", "API_KEY": "env"}.Getenv, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, "https://logs.example", c.url)
	require.Equal(t, "flag", c.apiKey, "a flag wins over the environment")
}

// docker compose hands the publisher the aggregator's API_KEYS when no
// PUBLISHER_API_KEY is set: a list, of which any one key will do.
func TestParseFlagsTakesTheFirstKeyOfAList(t *testing.T) {
	t.Parallel()
	for value, want := range map[string]string{"alpha,beta": "alpha", " alpha , beta": "alpha", ",beta": "beta", "solo": "solo", " , ": ""} {
		c, err := parseFlags(nil, envmap.Env{"API_KEY": value}.Getenv, &bytes.Buffer{})
		require.NoError(t, err)
		require.Equal(t, want, c.apiKey, "API_KEY=%q", value)
	}
}

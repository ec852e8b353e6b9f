package main

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logagg/logagg/internal/envmap"
	"github.com/logagg/logagg/internal/loadgen"
	"github.com/logagg/logagg/internal/testenv"
	"github.com/stretchr/testify/require"
)

// startLocalrun runs a localrun binary on its own database, stream and port
// until the test ends, and returns its URL.
func startLocalrun(t *testing.T) string {
	t.Helper()
	bin := testenv.Build(t, "./localrun")
	redisURL, prefix := testenv.NewRedisPrefix(t)
	port := strconv.Itoa(testenv.FreePort(t))
	p := testenv.Start(t, bin, map[string]string{
		"DATABASE_URL": testenv.NewDatabase(t),
		"REDIS_URL":    redisURL,
		"STREAM_NAME":  prefix + "events",
		"PORT":         port,
		"LOG_LEVEL":    "warn",
	})
	url := "http://127.0.0.1:" + port
	testenv.WaitHealthy(t, url, p, 60*time.Second)
	return url
}

// A file sent twice, as a shipper resends after a failure, is stored once:
// every line of the second run is dropped as a duplicate.
func TestFilesSentTwiceAreStoredOnceByLocalrun(t *testing.T) {
	t.Parallel()
	url := startLocalrun(t)

	var log strings.Builder
	for i := range 300 {
		log.WriteString("GET /health 200\n") // the same line over and over: each one an event
		if i%3 == 0 {
			log.WriteString("POST /login user=" + strconv.Itoa(i) + "\n")
		}
	}
	lines := strings.Count(log.String(), "\n")
	ndjsonEvents := 250
	inputs := [][]string{
		{"-lines", writeFile(t, "app.log", log.String()), "-lines-topic", "app", "-lines-source", "web-1", "-batch", "128"},
		{"-file", writeFile(t, "events.ndjson", ndjson("orders", ndjsonEvents)), "-batch", "100"},
	}
	var sent int
	for round := range 2 {
		for _, args := range inputs {
			res := runReport(t, nil, append([]string{"-url", url, "-wait"}, args...)...)
			sent += res.Events
			require.Equal(t, res.Events, res.Unique, "round %d %v: every event of a file is distinct", round, args)
		}
	}
	unique := lines + ndjsonEvents
	require.Equal(t, 2*unique, sent)

	st, err := loadgen.NewClient(url, "").Stats(context.Background())
	require.NoError(t, err)
	require.Equal(t, int64(unique), st.UniqueProcessed, "each line stored once")
	require.Equal(t, int64(unique), st.DuplicateDropped, "each line of the resend dropped")
	require.Equal(t, int64(2*unique), st.Published)
	require.Zero(t, st.PayloadConflicts, "a resent line carries the same payload")
	require.Zero(t, st.Queued)

	// logagg's own 422 details lead back to the line.
	bad := strings.Split(ndjson("orders", 4), "\n")
	bad[2] = strings.Replace(bad[2], `"source":"s"`, `"source":""`, 1)
	path := writeFile(t, "bad.ndjson", strings.Join(bad, "\n"))
	var stdout, stderr bytes.Buffer
	err = run(context.Background(), []string{"-url", url, "-file", path}, envmap.Env{}.Getenv, nil, &stdout, &stderr)
	require.ErrorContains(t, err, path+" line 3: ")
	require.ErrorContains(t, err, "422 Unprocessable Entity")
}

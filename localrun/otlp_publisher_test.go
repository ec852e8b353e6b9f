package main

import (
	"encoding/json"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/loadgen"
	"github.com/logagg/logagg/internal/testenv"
)

// The publisher's OTLP mode against a real localrun: 30% of the records
// are resent as identical records (same log.record.uid), and each event is
// stored once, the resends dropped as duplicates.
func TestPublisherOTLPLoadIsStoredExactlyOnce(t *testing.T) {
	t.Parallel()
	env := serviceEnv(t)
	url := startInProcess(t, env)
	publisher := testenv.Build(t, "./publisher")

	out, err := exec.Command(publisher, "-url", url, "-protocol", "otlp", "-events", "3000", "-dup-rate", "0.3",
		"-batch", "500", "-concurrency", "3", "-seed", "11", "-wait", "-json").Output()
	var stderr []byte
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = ee.Stderr
	}
	require.NoError(t, err, "%s", stderr)
	var rep loadgen.Report
	require.NoError(t, json.Unmarshal(out, &rep))
	require.Equal(t, loadgen.ProtocolOTLP, rep.Protocol)
	require.Equal(t, 3000, rep.Events)
	require.Equal(t, 2100, rep.Unique)
	require.Equal(t, 6, rep.Requests)
	require.NotNil(t, rep.E2ESeconds)

	st := drained(t, loadgen.NewClient(url, ""), 3000)
	requireExact(t, url, st, 3000, rep.Unique)
	require.Zero(t, st.PayloadConflicts, "a resent record maps to the same payload")
	require.Equal(t, int64(rep.Unique), rowCount(t, env["DATABASE_URL"]))
}

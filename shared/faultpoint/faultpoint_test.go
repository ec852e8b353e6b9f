package faultpoint_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/proc"
	"github.com/logagg/logagg/internal/testenv"
	"github.com/logagg/logagg/shared/faultpoint"
)

const stopper = "./shared/faultpoint/testdata/stopper"

// run starts the stopper built with flags, its point armed as armed.
func run(t *testing.T, armed string, flags ...string) *proc.Process {
	t.Helper()
	return testenv.Start(t, testenv.Build(t, stopper, flags...), map[string]string{faultpoint.Variable: armed})
}

func TestAFaultsBuildStopsOnceAtTheArmedPoint(t *testing.T) {
	t.Parallel()
	p := run(t, faultpoint.WorkerAfterCommit, "-tags", "faults")
	require.NoError(t, proc.Await(context.Background(), p, time.Minute, func(context.Context) bool { return p.Stopped() }),
		"stopped at the point; output: %s", p.Output())
	require.Contains(t, p.Output(), faultpoint.Announcement+faultpoint.WorkerAfterCommit)
	require.NotContains(t, p.Output(), "went on")

	require.NoError(t, p.Signal(syscall.SIGCONT))
	require.NoError(t, p.Wait(time.Minute), "the second hit and the other points let it go on")
	require.Contains(t, p.Output(), "went on")
}

func TestAFaultsBuildGoesOnPastPointsNotArmed(t *testing.T) {
	t.Parallel()
	p := run(t, "no.such-point", "-tags", "faults")
	require.NoError(t, p.Wait(time.Minute))
	require.NotContains(t, p.Output(), faultpoint.Announcement)
	require.Contains(t, p.Output(), "went on")
}

func TestANormalBuildNeverStops(t *testing.T) {
	t.Parallel()
	p := run(t, faultpoint.WorkerAfterCommit)
	require.NoError(t, p.Wait(time.Minute))
	require.NotContains(t, p.Output(), faultpoint.Announcement)
	require.Contains(t, p.Output(), "went on")
}

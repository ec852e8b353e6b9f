package testenv

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// recordingTB records what a helper reports instead of failing the test.
type recordingTB struct {
	testing.TB
	errors []string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.errors = append(r.errors, format)
}

func TestRunUntilStopped(t *testing.T) {
	t.Parallel()
	rec := &recordingTB{TB: t}
	started := make(chan struct{})
	stop := RunUntilStopped(rec, time.Minute, func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		return nil
	})
	<-started
	stop()
	require.Empty(t, rec.errors, "a run that returns nil once cancelled passes")

	stop = RunUntilStopped(rec, time.Minute, func(ctx context.Context) error {
		<-ctx.Done()
		return errors.New("boom")
	})
	stop()
	require.Equal(t, []string{"stopped with an error: %v"}, rec.errors)

	rec.errors = nil
	hung := make(chan struct{})
	defer close(hung)
	stop = RunUntilStopped(rec, 10*time.Millisecond, func(context.Context) error {
		<-hung // ignores its context
		return nil
	})
	stop()
	require.Equal(t, []string{"did not stop within %s of cancellation"}, rec.errors)
}

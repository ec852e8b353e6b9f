package proc_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/proc"
)

func never(context.Context) bool { return false }

func TestAwait(t *testing.T) {
	t.Parallel()
	t.Run("ready", func(t *testing.T) {
		t.Parallel()
		var asked atomic.Int32
		require.NoError(t, proc.Await(context.Background(), nil, time.Minute, func(context.Context) bool {
			return asked.Add(1) == 3
		}))
		require.Equal(t, int32(3), asked.Load(), "asked until ready")
	})
	t.Run("exited", func(t *testing.T) {
		t.Parallel()
		p := startChild(t, proc.Options{Env: []string{"CHILD_EXIT=1"}})
		err := proc.Await(context.Background(), p, time.Minute, never)
		require.ErrorIs(t, err, proc.ErrExited)
		require.ErrorContains(t, err, "exit status 1")
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		p := startChild(t, proc.Options{})
		require.ErrorIs(t, proc.Await(context.Background(), p, 50*time.Millisecond, never), proc.ErrNotReady)
		require.False(t, p.Exited())
	})
	t.Run("cancelled", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		require.ErrorIs(t, proc.Await(ctx, nil, time.Minute, never), context.Canceled)
	})
}

func TestWaitHealthy(t *testing.T) {
	t.Parallel()
	port, err := proc.FreePort()
	require.NoError(t, err)
	p := startChild(t, proc.Options{Env: []string{"CHILD_PORT=" + strconv.Itoa(port)}})
	require.NoError(t, proc.WaitHealthy(context.Background(), "http://127.0.0.1:"+strconv.Itoa(port), p, time.Minute), p.Output())
	require.False(t, p.Exited())
}

// A port that answers for someone else does not make an ended process
// healthy.
func TestWaitHealthyWantsTheProcessAlive(t *testing.T) {
	t.Parallel()
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer other.Close()
	require.NoError(t, proc.WaitHealthy(context.Background(), other.URL, nil, time.Minute), "without a process, the answer is enough")

	p := startChild(t, proc.Options{Env: []string{"CHILD_EXIT=0"}})
	require.NoError(t, p.Wait(time.Minute))
	err := proc.WaitHealthy(context.Background(), other.URL, p, time.Minute)
	require.ErrorIs(t, err, proc.ErrExited)
	require.ErrorContains(t, err, other.URL+"/health")
}

func TestWaitHealthyTimesOut(t *testing.T) {
	t.Parallel()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer failing.Close()
	require.ErrorIs(t, proc.WaitHealthy(context.Background(), failing.URL, nil, 50*time.Millisecond), proc.ErrNotReady)
}

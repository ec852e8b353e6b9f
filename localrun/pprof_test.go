package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPprofServesProfilesUntilStopped(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := startPprof(ctx, "127.0.0.1:0", slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	base := "http://" + addr.String()

	resp, err := http.Get(base + "/debug/pprof/")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), "goroutine")

	resp, err = http.Get(base + "/debug/pprof/profile?seconds=1")
	require.NoError(t, err)
	body, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, []byte{0x1f, 0x8b}, body[:2], "a CPU profile, gzipped")

	cancel()
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/debug/pprof/")
		if err != nil {
			return true
		}
		resp.Body.Close()
		return false
	}, 10*time.Second, 10*time.Millisecond, "the pprof server still answers after its context ended")
}

func TestPprofReportsABadAddress(t *testing.T) {
	t.Parallel()
	_, err := startPprof(context.Background(), "127.0.0.1:99999", slog.New(slog.DiscardHandler))
	require.ErrorContains(t, err, "PPROF_ADDR")
}

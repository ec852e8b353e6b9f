package proc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

var (
	// ErrExited says that a process ended before it was ready.
	ErrExited = errors.New("exited before it was ready")
	// ErrNotReady says that a process was not ready within its timeout.
	ErrNotReady = errors.New("not ready")
)

// pollInterval is how often Await asks whether a process is ready.
const pollInterval = 20 * time.Millisecond

// Await asks ready every pollInterval until it answers true, and returns
// nil if p is still running then: a port may answer for another process
// that took it. p may be nil, for a server that is not a child process.
// The error wraps ErrExited when p ends first and ErrNotReady when timeout
// passes; it is ctx's error when ctx ends.
func Await(ctx context.Context, p *Process, timeout time.Duration, ready func(context.Context) bool) error {
	waitCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var exited <-chan struct{} // nil without a process: never ready
	if p != nil {
		exited = p.done
	}
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		if ready(waitCtx) && (p == nil || !p.Exited()) {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("process %d %w (%s)", p.Pid(), ErrExited, p.exitStatus())
		case <-waitCtx.Done():
			if err := ctx.Err(); err != nil {
				return err
			}
			return fmt.Errorf("%w within %s", ErrNotReady, timeout)
		case <-tick.C:
		}
	}
}

// WaitHealthy waits, as Await does, until GET baseURL/health answers 200.
func WaitHealthy(ctx context.Context, baseURL string, p *Process, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	err := Await(ctx, p, timeout, func(ctx context.Context) bool {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/health", nil)
		if err != nil {
			return false
		}
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if err != nil {
		return fmt.Errorf("%s/health: %w", baseURL, err)
	}
	return nil
}

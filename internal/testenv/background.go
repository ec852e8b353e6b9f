package testenv

import (
	"context"
	"testing"
	"time"
)

// RunUntilStopped runs run in the background until stop is called: stop
// cancels run's context and fails the test unless run then returns nil
// within timeout. It reports with t.Errorf, so that a cleanup calling it
// goes on to show what it can.
func RunUntilStopped(t testing.TB, timeout time.Duration, run func(ctx context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	return func() {
		t.Helper()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("stopped with an error: %v", err)
			}
		case <-time.After(timeout):
			t.Errorf("did not stop within %s of cancellation", timeout)
		}
	}
}

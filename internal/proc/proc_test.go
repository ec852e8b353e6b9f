package proc_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/procfs"
	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/proc"
	"github.com/logagg/logagg/internal/testenv"
)

// childBinary builds testdata/child once per test binary.
func childBinary(t *testing.T) string {
	t.Helper()
	return testenv.Build(t, "./internal/proc/testdata/child")
}

// startChild starts the child with opts and kills it when the test ends.
func startChild(t *testing.T, opts proc.Options) *proc.Process {
	t.Helper()
	p, err := proc.Start(childBinary(t), opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Kill() })
	return p
}

// awaitReady waits until the child has set up its signal handling.
func awaitReady(t *testing.T, p *proc.Process) {
	t.Helper()
	require.NoError(t, proc.Await(context.Background(), p, 30*time.Second, func(context.Context) bool {
		return strings.Contains(p.Output(), "ready\n")
	}), p.Output())
}

func TestStartKeepsOutput(t *testing.T) {
	t.Parallel()
	p := startChild(t, proc.Options{Env: []string{"CHILD_EXIT=0"}})
	require.NoError(t, p.Wait(30*time.Second))
	require.True(t, p.Exited())
	require.Equal(t, 0, p.ExitCode())
	require.Contains(t, p.Output(), "out\n", "stdout is kept")
	require.Contains(t, p.Output(), "err\n", "stderr is kept")

	var out bytes.Buffer
	p = startChild(t, proc.Options{Env: []string{"CHILD_EXIT=3"}, Output: &out})
	require.Error(t, p.Wait(30*time.Second))
	require.Equal(t, 3, p.ExitCode())
	require.Empty(t, p.Output(), "the output went to Options.Output")
	require.Contains(t, out.String(), "out\n")
	require.Contains(t, out.String(), "err\n")
}

func TestStartFailsWithoutTheProgram(t *testing.T) {
	t.Parallel()
	_, err := proc.Start(filepath.Join(t.TempDir(), "missing"), proc.Options{})
	require.ErrorContains(t, err, "missing")
}

func TestWaitLeavesARunningProcessRunning(t *testing.T) {
	t.Parallel()
	p := startChild(t, proc.Options{})
	awaitReady(t, p)
	require.ErrorContains(t, p.Wait(10*time.Millisecond), "still running")
	require.False(t, p.Exited())
	require.Equal(t, -1, p.ExitCode())
	require.NoError(t, p.Kill())
	require.True(t, p.Exited())
	require.Equal(t, -1, p.ExitCode(), "a signal ended it")
}

// stopCase is what a child does on SIGTERM and how Stop reports it.
type stopCase struct {
	onTerm   string
	grace    time.Duration
	wantCode int
	killed   bool
}

func TestStop(t *testing.T) {
	t.Parallel()
	cases := []stopCase{
		{onTerm: "0", grace: time.Minute, wantCode: 0},
		{onTerm: "4", grace: time.Minute, wantCode: 4},
		{onTerm: "ignore", grace: 50 * time.Millisecond, wantCode: -1, killed: true},
	}
	for _, tc := range cases {
		t.Run(tc.onTerm, func(t *testing.T) {
			t.Parallel()
			p := startChild(t, proc.Options{Env: []string{"CHILD_TERM=" + tc.onTerm}})
			awaitReady(t, p)
			err := p.Stop(tc.grace)
			require.Equal(t, tc.killed, errors.Is(err, proc.ErrKilled), "%v", err)
			require.Equal(t, tc.wantCode == 0, err == nil, "%v", err)
			require.Equal(t, tc.wantCode, p.ExitCode())
			again := p.Stop(tc.grace)
			require.NotErrorIs(t, again, proc.ErrKilled, "stopping an ended process only says how it ended")
			require.Equal(t, tc.wantCode == 0, again == nil)
		})
	}
}

// With Group, Stop ends the children the process started too, even one
// that ignores SIGTERM and outlives its parent.
func TestStopEndsTheGroup(t *testing.T) {
	t.Parallel()
	p := startChild(t, proc.Options{Env: []string{"CHILD_TERM=0", "CHILD_SPAWN=1"}, Group: true})
	awaitReady(t, p)
	m := regexp.MustCompile(`grandchild (\d+)`).FindStringSubmatch(p.Output())
	require.NotNil(t, m, p.Output())
	grandchild, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	require.True(t, running(grandchild))

	require.NoError(t, p.Stop(time.Minute), "the leader exits 0 on SIGTERM")
	require.Eventually(t, func() bool { return !running(grandchild) }, 30*time.Second, 10*time.Millisecond)
}

// running reports whether pid is a live process (not gone, not a zombie).
func running(pid int) bool {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return false
	}
	stat, err := p.Stat()
	return err == nil && stat.State != "Z"
}

func TestSignalReachesTheProcess(t *testing.T) {
	t.Parallel()
	p := startChild(t, proc.Options{Env: []string{"CHILD_TERM=5"}})
	awaitReady(t, p)
	require.NoError(t, p.Signal(syscall.SIGTERM))
	require.Error(t, p.Wait(30*time.Second))
	require.Equal(t, 5, p.ExitCode())
	require.ErrorIs(t, p.Signal(syscall.SIGTERM), os.ErrProcessDone)
	require.NoError(t, p.Kill(), "killing an ended process is harmless")
}

func TestStoppedFollowsSIGSTOPAndSIGCONT(t *testing.T) {
	t.Parallel()
	p := startChild(t, proc.Options{})
	awaitReady(t, p)
	require.False(t, p.Stopped(), "a running process")
	require.NoError(t, p.Signal(syscall.SIGSTOP))
	require.NoError(t, proc.Await(context.Background(), p, 30*time.Second, func(context.Context) bool { return p.Stopped() }))
	require.NoError(t, p.Signal(syscall.SIGCONT))
	require.NoError(t, proc.Await(context.Background(), p, 30*time.Second, func(context.Context) bool { return !p.Stopped() }))
	require.NoError(t, p.Kill())
	require.False(t, p.Stopped(), "an ended process")
}

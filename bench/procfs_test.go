package main

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBusyCores(t *testing.T) {
	t.Parallel()
	from := systemCPU{Total: 10 * time.Second, Idle: 8500 * time.Millisecond}
	to := systemCPU{Total: 13 * time.Second, Idle: 9500 * time.Millisecond}
	// 3 s passed, 1 s of it idle: two thirds of 2 cores were busy.
	require.InDelta(t, 4.0/3, busyCores(from, to, 2), 1e-9)
	require.Zero(t, busyCores(to, to, 2))
}

// The readers read this machine's real files.
func TestProcfsOfThisProcess(t *testing.T) {
	t.Parallel()
	pid := os.Getpid()
	cpu, err := processCPU(pid)
	require.NoError(t, err)
	require.GreaterOrEqual(t, cpu, time.Duration(0))
	m, err := processMemory(pid)
	require.NoError(t, err)
	require.Positive(t, m.RSS)
	require.GreaterOrEqual(t, m.HWM, m.RSS)
	s, err := readSystemCPU()
	require.NoError(t, err)
	require.Greater(t, s.Total, s.Idle)
	require.Positive(t, s.Idle)
	total, err := memoryTotal()
	require.NoError(t, err)
	require.Greater(t, total, m.RSS)

	_, err = processCPU(-1)
	require.Error(t, err)
	_, err = processMemory(-1)
	require.Error(t, err)
}

// A busy loop shows in the process's CPU time.
func TestProcessCPUCounts(t *testing.T) {
	t.Parallel()
	before, err := processCPU(os.Getpid())
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		for range 1_000_000 {
			_ = time.Now()
		}
		after, err := processCPU(os.Getpid())
		return err == nil && after > before
	}, time.Minute, time.Millisecond)
}

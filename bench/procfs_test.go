package main

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseProcStat(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   string
		want time.Duration
	}{
		{
			name: "plain",
			in:   "27762 (localrun) S 27758 27758 8461 0 -1 4194304 99 0 0 0 250 75 0 0 20 0 9 0 157228 3133440 361 18446744073709551615\n",
			want: 3250 * time.Millisecond,
		},
		{
			name: "name with spaces and parentheses",
			in:   "42 (a) b (c)) R 1 1 1 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 1 1 1",
			want: 100 * time.Millisecond,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseProcStat([]byte(tc.in))
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
	for _, bad := range []string{"", "42 localrun S 1", "42 (x) S 1 2 3", "42 (x) S 1 1 1 0 -1 0 0 0 0 0 ten 3 0"} {
		_, err := parseProcStat([]byte(bad))
		require.Error(t, err, "%q", bad)
	}
}

func TestParseProcStatus(t *testing.T) {
	t.Parallel()
	status := "Name:\tlocalrun\nVmPeak:\t 1300000 kB\nVmHWM:\t   81920 kB\nVmRSS:\t   40960 kB\nThreads:\t9\n"
	m, err := parseProcStatus([]byte(status))
	require.NoError(t, err)
	require.Equal(t, memory{RSS: 40 << 20, HWM: 80 << 20}, m)

	for _, bad := range []string{
		"Name:\tzombie\nState:\tZ (zombie)\n",
		"VmRSS:\t 12 kB\n",
		"VmRSS:\t twelve kB\nVmHWM:\t 12 kB\n",
		"VmRSS:\t 12 MB\nVmHWM:\t 12 kB\n",
	} {
		_, err := parseProcStatus([]byte(bad))
		require.Error(t, err, "%q", bad)
	}
}

func TestParseSystemStat(t *testing.T) {
	t.Parallel()
	from, err := parseSystemStat([]byte("cpu  100 0 50 800 50 0 0 0 30 0\ncpu0 1 2 3 4\n"))
	require.NoError(t, err)
	require.Equal(t, systemCPU{Total: 10 * time.Second, Idle: 8500 * time.Millisecond}, from, "guest time is not counted twice")
	to, err := parseSystemStat([]byte("cpu  250 0 100 900 50 0 0 0 0 0\n"))
	require.NoError(t, err)
	// 300 ticks passed, 100 of them idle: two thirds of 2 cores were busy.
	require.InDelta(t, 4.0/3, busyCores(from, to, 2), 1e-9)
	require.Zero(t, busyCores(to, to, 2))

	for _, bad := range []string{"", "intr 1 2 3\n", "cpu 1 2 x 4 5\n"} {
		_, err := parseSystemStat([]byte(bad))
		require.Error(t, err, "%q", bad)
	}
}

func TestParseMeminfoAndCPUModel(t *testing.T) {
	t.Parallel()
	n, err := parseMeminfo([]byte("MemTotal:       24684000 kB\nMemFree:        20000000 kB\n"))
	require.NoError(t, err)
	require.Equal(t, int64(24684000)*1024, n)
	_, err = parseMeminfo([]byte("MemFree: 1 kB\n"))
	require.Error(t, err)

	cpuinfo := "processor\t: 0\nmodel name\t: AMD EPYC 7B13 64-Core Processor\nflags\t\t: fpu\n\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13 64-Core Processor\n"
	require.Equal(t, "AMD EPYC 7B13 64-Core Processor", parseCPUModel([]byte(cpuinfo)))
	require.Empty(t, parseCPUModel([]byte("processor\t: 0\n")))
}

// The parsers read this machine's real files.
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
}

package main

import (
	"fmt"
	"math"
	"time"

	"github.com/prometheus/procfs"
)

// processCPU reads a process's CPU time (user + system) from
// /proc/PID/stat.
func processCPU(pid int) (time.Duration, error) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return 0, err
	}
	stat, err := p.Stat()
	if err != nil {
		return 0, err
	}
	return cpuSeconds(stat.CPUTime()), nil
}

// memory is a process's resident memory from /proc/PID/status.
type memory struct {
	RSS int64 // VmRSS: resident now, bytes
	HWM int64 // VmHWM: the most it has ever been resident, bytes
}

// processMemory reads a process's resident memory. A process that has none
// (a zombie, a kernel thread) is an error.
func processMemory(pid int) (memory, error) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return memory{}, err
	}
	status, err := p.NewStatus()
	if err != nil {
		return memory{}, err
	}
	if status.VmRSS == 0 || status.VmHWM == 0 {
		return memory{}, fmt.Errorf("/proc/%d/status: no resident memory", pid)
	}
	return memory{RSS: int64(status.VmRSS), HWM: int64(status.VmHWM)}, nil
}

// systemCPU is the machine's CPU time over all cores, from /proc/stat.
type systemCPU struct {
	Total time.Duration // every state
	Idle  time.Duration // idle and waiting for I/O
}

// readSystemCPU reads the machine's CPU time. Guest time is already
// included in user and nice, so it is not added again.
func readSystemCPU() (systemCPU, error) {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return systemCPU{}, err
	}
	stat, err := fs.Stat()
	if err != nil {
		return systemCPU{}, err
	}
	c := stat.CPUTotal
	var s systemCPU
	for _, sec := range []float64{c.User, c.Nice, c.System, c.Idle, c.Iowait, c.IRQ, c.SoftIRQ, c.Steal} {
		s.Total += cpuSeconds(sec)
	}
	s.Idle = cpuSeconds(c.Idle) + cpuSeconds(c.Iowait)
	return s, nil
}

// busyCores returns how many cores were busy on average between two
// readings, given the machine's core count.
func busyCores(from, to systemCPU, cores int) float64 {
	total := to.Total - from.Total
	if total <= 0 {
		return 0
	}
	busy := total - (to.Idle - from.Idle)
	return float64(busy) / float64(total) * float64(cores)
}

// memoryTotal returns MemTotal from /proc/meminfo, in bytes.
func memoryTotal() (int64, error) {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return 0, err
	}
	mem, err := fs.Meminfo()
	if err != nil {
		return 0, err
	}
	if mem.MemTotalBytes == nil {
		return 0, fmt.Errorf("/proc/meminfo: no MemTotal")
	}
	return int64(*mem.MemTotalBytes), nil
}

// cpuModel returns the first "model name" of /proc/cpuinfo, or "" when
// there is none (as on some ARM machines).
func cpuModel() string {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return ""
	}
	cpus, err := fs.CPUInfo()
	if err != nil || len(cpus) == 0 {
		return ""
	}
	return cpus[0].ModelName
}

// cpuSeconds converts the kernel's CPU times, which procfs gives in seconds,
// to a Duration.
func cpuSeconds(s float64) time.Duration {
	return time.Duration(math.Round(s * float64(time.Second)))
}

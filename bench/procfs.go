package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the CPU times in /proc: Linux reports them in
// USER_HZ ticks, which is 100 per second on every architecture Go supports,
// whatever the kernel's own tick rate.
const userHZ = 100

// processCPU reads a process's CPU time (user + system) from
// /proc/PID/stat.
func processCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseProcStat(data)
}

// parseProcStat returns utime+stime from the contents of /proc/PID/stat.
// The command name (field 2) is in parentheses and may itself hold spaces
// and parentheses, so fields are counted from the last ')'.
func parseProcStat(data []byte) (time.Duration, error) {
	end := bytes.LastIndexByte(data, ')')
	if end < 0 {
		return 0, fmt.Errorf("/proc/PID/stat: no command name in %q", truncate(data))
	}
	// After the name: state (field 3), ppid, …, utime (14), stime (15).
	fields := strings.Fields(string(data[end+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/PID/stat: %d fields after the command name, want at least 13", len(fields))
	}
	var ticks uint64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/PID/stat: CPU time %q: %w", f, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// memory is a process's resident memory from /proc/PID/status.
type memory struct {
	RSS int64 // VmRSS: resident now, bytes
	HWM int64 // VmHWM: the most it has ever been resident, bytes
}

// processMemory reads a process's resident memory.
func processMemory(pid int) (memory, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, err
	}
	return parseProcStatus(data)
}

// parseProcStatus reads VmRSS and VmHWM from the contents of
// /proc/PID/status; both must be there (a zombie has neither).
func parseProcStatus(data []byte) (memory, error) {
	kv := keyValues(data, ':')
	rss, err1 := kibibytes(kv, "VmRSS")
	hwm, err2 := kibibytes(kv, "VmHWM")
	if err1 != nil || err2 != nil {
		return memory{}, fmt.Errorf("/proc/PID/status: %w", firstErr(err1, err2))
	}
	return memory{RSS: rss, HWM: hwm}, nil
}

// systemCPU is the machine's CPU time over all cores, from /proc/stat.
type systemCPU struct {
	Total time.Duration // every state
	Idle  time.Duration // idle and waiting for I/O
}

// readSystemCPU reads the machine's CPU time.
func readSystemCPU() (systemCPU, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return systemCPU{}, err
	}
	return parseSystemStat(data)
}

// parseSystemStat reads the first line of /proc/stat: "cpu user nice
// system idle iowait irq softirq steal guest guest_nice". Guest time is
// already included in user and nice, so it is not added again.
func parseSystemStat(data []byte) (systemCPU, error) {
	line, _, _ := bytes.Cut(data, []byte{'\n'})
	fields := strings.Fields(string(line))
	if len(fields) < 5 || fields[0] != "cpu" {
		return systemCPU{}, fmt.Errorf("/proc/stat: first line %q is not the cpu total", truncate(line))
	}
	var s systemCPU
	for i, f := range fields[1:] {
		if i >= 8 { // guest, guest_nice
			break
		}
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return systemCPU{}, fmt.Errorf("/proc/stat: %q: %w", f, err)
		}
		d := time.Duration(n) * time.Second / userHZ
		s.Total += d
		if i == 3 || i == 4 { // idle, iowait
			s.Idle += d
		}
	}
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

// parseMeminfo returns MemTotal in bytes from the contents of /proc/meminfo.
func parseMeminfo(data []byte) (int64, error) {
	n, err := kibibytes(keyValues(data, ':'), "MemTotal")
	if err != nil {
		return 0, fmt.Errorf("/proc/meminfo: %w", err)
	}
	return n, nil
}

// parseCPUModel returns the first "model name" of /proc/cpuinfo, or "" when
// there is none (as on some ARM machines).
func parseCPUModel(data []byte) string {
	return keyValues(data, ':')["model name"]
}

// keyValues splits "key<sep> value" lines; the first occurrence of a key
// wins.
func keyValues(data []byte, sep byte) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), string(sep))
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		if _, seen := out[k]; !seen {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out
}

// kibibytes reads a "1234 kB" value (the kernel's kB are KiB) as bytes.
func kibibytes(kv map[string]string, key string) (int64, error) {
	v, ok := kv[key]
	if !ok {
		return 0, fmt.Errorf("no %s", key)
	}
	num, unit, _ := strings.Cut(v, " ")
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || strings.TrimSpace(unit) != "kB" {
		return 0, fmt.Errorf("%s: %q is not a size in kB", key, v)
	}
	return n * 1024, nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func truncate(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "…"
	}
	return string(b)
}

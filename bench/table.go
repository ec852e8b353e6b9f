package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
)

// printReport writes the human summary.
func printReport(w io.Writer, rep *report, jsonPath, docsChart string) {
	m := rep.Machine
	fmt.Fprintf(w, "\nlogagg benchmark, %s, commit %s, %s\n", rep.StartedAt.Format("2006-01-02 15:04 MST"), orDash(rep.Commit), seconds(float64(rep.Seconds)))
	if len(rep.Changes) > 0 {
		fmt.Fprintf(w, "built with uncommitted changes to: %s\n", strings.Join(rep.Changes, ", "))
	}
	fmt.Fprintf(w, "machine: %d cores (%s), %.1f GiB memory, %s; PostgreSQL %s, Redis %s, %s\n",
		m.Cores, orDash(m.CPUModel), float64(m.MemoryBytes)/(1<<30), orDash(m.Kernel), orDash(m.PostgreSQL), orDash(m.Redis), m.Go)
	s := rep.Settings
	fmt.Fprintf(w, "load: the publisher in its own process, %d-event requests, %d in flight, %.0f%% duplicates; localrun MAX_BACKLOG=%d LOG_LEVEL=warn %s\n",
		s.RequestEvents, s.Concurrency, s.DupRate*100, s.MaxBacklog, strings.Join(s.LocalrunEnv, " "))

	of := fmt.Sprintf("median of %d runs", s.Runs)
	if s.Runs == 1 {
		of = "1 run"
	}
	type named struct {
		name string
		ph   phase
	}
	phases := []named{{"main", rep.Main}}
	if rep.OTLP != nil {
		// The main configuration, the same load sent to /v1/logs.
		phases = append(phases, named{"otlp", *rep.OTLP})
	}
	phases = append(phases, named{"baseline", rep.Baseline})
	fmt.Fprintf(w, "\nThroughput, HTTP publish → Redis → consume → commit → ack (%s)\n", of)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tevents\tpublish events/s\tend-to-end events/s\tpublish p50\tpublish p99\tduplicates\t")
	for _, p := range phases {
		sm := p.ph.Summary
		fmt.Fprintf(tw, "%s BATCH_SIZE=%d WORKER_COUNT=%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			p.name, p.ph.Pipeline.BatchSize, p.ph.Pipeline.WorkerCount, thousands(float64(p.ph.Events)),
			thousands(float64(sm.PublishEventsPerSec)), thousands(float64(sm.E2EEventsPerSec)),
			ms(float64(sm.PublishLatencyMs.P50)), ms(float64(sm.PublishLatencyMs.P99)), pct(float64(sm.DuplicateRate)))
		for _, r := range p.ph.Runs {
			if r.Error != "" {
				fmt.Fprintf(tw, "  %s\tfailed: %s\t\t\t\t\t\t\n", r.Label, oneLine(r.Error))
				continue
			}
			fmt.Fprintf(tw, "  %s%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
				r.Label, exactlyOnceMark(r), thousands(float64(r.Events)),
				thousands(float64(r.PublishEventsPerSec)), thousands(float64(r.E2EEventsPerSec)),
				ms(float64(r.PublishLatencyMs.P50)), ms(float64(r.PublishLatencyMs.P99)), pct(float64(r.DuplicateRate)))
		}
	}
	tw.Flush()

	fmt.Fprintf(w, "\nResources over the end-to-end window, CPU in cores (%s; memory and stream: the highest)\n", of)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tlocalrun\tPostgreSQL\tRedis\tpublisher\tmachine busy\tlocalrun peak RSS\tVmHWM\tevents waiting peak\tRedis stream peak\tRedis memory growth\t")
	for _, p := range phases {
		sm := p.ph.Summary
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", p.name,
			cores(float64(sm.LocalrunCPUCores)), cores(float64(sm.PostgresCPUCores)), cores(float64(sm.RedisCPUCores)),
			cores(float64(sm.PublisherCPUCores)), cores(float64(sm.MachineBusyCores)),
			mb(float64(sm.PeakRSSBytes)), mb(float64(sm.PeakHWMBytes)), count(float64(sm.BacklogPeakEvents)),
			stream(float64(sm.StreamPeakLength), float64(sm.StreamPeakBytes)), mb(float64(sm.RedisGrowthBytes)))
		for _, r := range p.ph.Runs {
			if r.Error != "" {
				continue
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Label,
				cores(float64(r.LocalrunCPUCores)), cores(float64(r.PostgresCPUCores)), cores(float64(r.RedisCPUCores)),
				cores(float64(r.PublisherCPUCores)), cores(float64(r.MachineBusyCores)),
				mb(float64(r.PeakRSSBytes)), mb(float64(r.HWMBytes)), count(float64(r.BacklogPeakEvents)),
				stream(float64(r.StreamPeakLength), float64(r.StreamPeakBytes)), mb(float64(r.RedisUsedPeak-r.RedisUsedBefore)))
		}
	}
	tw.Flush()
	fmt.Fprintln(w, "  (PostgreSQL: the backends serving the run's database; Redis: the whole server, shared with anything else using it)")
	fmt.Fprintf(w, "ratio main / baseline, end-to-end events/s: %s\n", times(float64(rep.Ratio)))
	fmt.Fprintf(w, "  (the baseline sends %s events per run, the main runs %s: both are rates per second, so they compare)\n",
		thousands(float64(s.BaselineEvents)), thousands(float64(s.Events)))
	if rep.OTLP != nil {
		fmt.Fprintf(w, "ratio otlp / main, end-to-end events/s: %s\n", measured("%.2f×", float64(rep.OTLPRatio)))
		fmt.Fprintf(w, "  (otlp: the main runs' events, as OTLP/HTTP protobuf exports of %d log records to POST /v1/logs, log.record.uid = event_id, so the %.0f%% duplicates are resent records)\n",
			s.RequestEvents, s.DupRate*100)
	}

	if l := rep.Latency; l != nil {
		fmt.Fprintf(w, "\nLatency at half the maximum rate: %s events/s asked for %s events (BATCH_SIZE=%d WORKER_COUNT=%d)\n",
			thousands(float64(l.RateEventsPerSec)), thousands(float64(l.Run.Events)), l.Run.Pipeline.BatchSize, l.Run.Pipeline.WorkerCount)
		if l.Run.Error != "" {
			fmt.Fprintf(w, "  failed: %s\n", oneLine(l.Run.Error))
		} else {
			fmt.Fprintf(w, "  achieved: %s events/s published, %s events/s end to end; CPU: localrun %s, PostgreSQL %s, machine %s; localrun peak RSS %s\n",
				thousands(float64(l.Run.PublishEventsPerSec)), thousands(float64(l.Run.E2EEventsPerSec)),
				cores(float64(l.Run.LocalrunCPUCores)), cores(float64(l.Run.PostgresCPUCores)),
				cores(float64(l.Run.MachineBusyCores)), mb(float64(l.Run.PeakRSSBytes)))
		}
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "\tp50\tp95\tp99\tmax\t")
		fmt.Fprintf(tw, "  publish request (%d events)\t%s\t%s\t%s\t\t\n", s.RequestEvents,
			ms(float64(l.PublishLatencyMs.P50)), ms(float64(l.PublishLatencyMs.P95)), ms(float64(l.PublishLatencyMs.P99)))
		fmt.Fprintf(tw, "  publish → commit (%s rows)\t%s\t%s\t%s\t%s\t\n", thousands(float64(l.CommitRows)),
			ms(float64(l.CommitLatencyMs.P50)), ms(float64(l.CommitLatencyMs.P95)), ms(float64(l.CommitLatencyMs.P99)), ms(float64(l.CommitMaxMs)))
		tw.Flush()
		fmt.Fprintln(w, "  (publish → commit: processed_at, the consuming transaction's start, minus the payload's sent_at; each figure is short of the commit by that transaction's duration)")
	}

	if sw := rep.Sweep; sw != nil {
		fmt.Fprintf(w, "\nSweep: end-to-end events/s, one run per point (up to %s events; up to %s for BATCH_SIZE ≤ %d)\n",
			thousands(float64(sw.Events)), thousands(float64(sw.SmallEvents)), sw.SmallBatch)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprint(tw, "BATCH_SIZE\t")
		for _, wc := range sw.Workers {
			fmt.Fprintf(tw, "WORKER_COUNT=%d\t", wc)
		}
		fmt.Fprintln(tw)
		for _, b := range sw.Batches {
			fmt.Fprintf(tw, "%d\t", b)
			for _, wc := range sw.Workers {
				fmt.Fprintf(tw, "%s\t", sweepCell(sw.Points, b, wc))
			}
			fmt.Fprintln(tw)
		}
		tw.Flush()
		if rep.Chart != "" {
			fmt.Fprintf(w, "chart: %s", rep.Chart)
			if docsChart != "" {
				fmt.Fprintf(w, " (copied to %s)", docsChart)
			}
			fmt.Fprintln(w)
		}
	}
	if rep.Profile != "" {
		fmt.Fprintf(w, "\nCPU profile of localrun, from an extra run of the main configuration that no figure counts: %s\n", rep.Profile)
	}

	fmt.Fprintln(w, "\nTargets")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, t := range rep.Targets {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t\n", strings.ToUpper(t.Status), t.Name, t.Goal, figure(float64(t.Value), t.Unit))
	}
	tw.Flush()
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	fmt.Fprintf(w, "results: %s\n", jsonPath)
}

func sweepCell(points []runResult, batch, workers int) string {
	for _, p := range points {
		if p.Pipeline.BatchSize == batch && p.Pipeline.WorkerCount == workers {
			if p.Error != "" {
				return "failed"
			}
			return thousands(float64(p.E2EEventsPerSec)) + exactlyOnceMark(p)
		}
	}
	return "-"
}

// exactlyOnceMark flags a run whose stored events were not exactly the
// distinct events sent.
func exactlyOnceMark(r runResult) string {
	if r.Error == "" && !r.ExactlyOnce {
		return " (NOT EXACTLY ONCE)"
	}
	return ""
}

// thousands writes a count or rate rounded to a whole number with
// thousands separators: 1234567.8 → "1,234,568"; NaN → "-".
func thousands(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	s := strconv.FormatInt(int64(math.Round(math.Abs(v))), 10)
	var b strings.Builder
	if v < 0 && math.Round(v) != 0 {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func figure(v float64, unit string) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case unit == "×":
		return times(v)
	case unit == "ms":
		return ms(v)
	case unit == "MB":
		return fmt.Sprintf("%.0f MB", v)
	case unit == "%": // v is a ratio
		return pct(v)
	case unit == "s":
		return fmt.Sprintf("%.2f s", v)
	default:
		return thousands(v) + " " + unit
	}
}

func ms(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	if v < 10 {
		return fmt.Sprintf("%.2f ms", v)
	}
	return fmt.Sprintf("%.0f ms", v)
}

// measured formats v with format, or is "-" when v was not measured (NaN).
func measured(format string, v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf(format, v)
}

func mb(bytes float64) string  { return measured("%.0f MB", bytes/1e6) }
func pct(v float64) string     { return measured("%.1f%%", v*100) }
func cores(v float64) string   { return measured("%.2f", v) }
func times(v float64) string   { return measured("%.1f×", v) }
func seconds(v float64) string { return measured("%.0f s", v) }

// count is a number of things, or "-" when it was not measured.
func count(n float64) string {
	if math.IsNaN(n) {
		return "-"
	}
	return thousands(n)
}

// stream is a stream's peak length and, when known, its size.
func stream(length, bytes float64) string {
	if math.IsNaN(length) {
		return "-"
	}
	if math.IsNaN(bytes) || bytes == 0 {
		return thousands(length)
	}
	return fmt.Sprintf("%s (%s)", thousands(length), mb(bytes))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
)

// printGrowth writes the human summary of a growth run.
func printGrowth(w io.Writer, rep *growthReport, jsonPath string) {
	m, s := rep.Machine, rep.Settings
	fmt.Fprintf(w, "\nlogagg growth benchmark, %s, commit %s, %s\n", rep.StartedAt.Format("2006-01-02 15:04 MST"), orDash(rep.Commit), seconds(float64(rep.Seconds)))
	if len(rep.Changes) > 0 {
		fmt.Fprintf(w, "built with uncommitted changes to: %s\n", strings.Join(rep.Changes, ", "))
	}
	fmt.Fprintf(w, "machine: %d cores (%s), %.1f GiB memory, %s; PostgreSQL %s, Redis %s, %s\n",
		m.Cores, orDash(m.CPUModel), float64(m.MemoryBytes)/(1<<30), orDash(m.Kernel), orDash(m.PostgreSQL), orDash(m.Redis), m.Go)
	fmt.Fprintf(w, "load: %s events per run, %.0f%% duplicates, %d-event requests, %d in flight; localrun BATCH_SIZE=%d WORKER_COUNT=%d MAX_BACKLOG=%d %s\n",
		thousands(float64(s.Events)), s.DupRate*100, s.RequestEvents, s.Concurrency, s.Pipeline.BatchSize, s.Pipeline.WorkerCount,
		s.MaxBacklog, strings.Join(s.LocalrunEnv, " "))

	fmt.Fprintln(w, "\nStore, per size (preloaded server-side; the close pass vacuums the ended partitions and builds their window indexes)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "preloaded\tpreload\tevents/s\tclose pass\tclosed\tpartitions\tplanning, first page\tplanning, topic\t")
	for _, sz := range rep.Sizes {
		closeSecs, closed := "-", "-"
		if sz.Close != nil {
			closeSecs, closed = secondsShort(float64(sz.Close.Seconds)), thousands(float64(sz.Close.Partitions))
		}
		parts, first, topic := "-", "-", "-"
		if p := sz.Planning; p != nil {
			parts, first, topic = thousands(float64(p.Partitions)), ms(float64(p.FirstPageMs)), ms(float64(p.TopicMs))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", thousands(float64(sz.Preloaded)),
			secondsShort(float64(sz.PreloadSeconds)), thousands(float64(sz.PreloadEventsPerSec)), closeSecs, closed, parts, first, topic)
	}
	tw.Flush()

	fmt.Fprintln(w, "\nDisk, after the preload and the close pass (pg_table_size and pg_indexes_size of the partitions and of event_keys)")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "preloaded\tevents table\tevents indexes\tkeys table\tkeys index\ttotal\tper event\ttables\tindexes\t")
	for _, sz := range rep.Sizes {
		d := sz.Disk
		if d == nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t-\t-\t\n", thousands(float64(sz.Preloaded)))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", thousands(float64(sz.Preloaded)),
			diskBytes(d.EventsTableBytes), diskBytes(d.EventsIndexBytes), diskBytes(d.KeysTableBytes), diskBytes(d.KeysIndexBytes),
			diskBytes(d.TotalBytes), bytesEach(float64(d.BytesPerEvent)), bytesEach(float64(d.TableBytesPerEvent)), bytesEach(float64(d.IndexBytesPerEvent)))
	}
	tw.Flush()

	of := fmt.Sprintf("median of %d runs each", s.Runs)
	if s.Runs == 1 {
		of = "1 run each"
	}
	fmt.Fprintf(w, "\nIngest, end-to-end events/s (%s, alternating; the preloaded store keeps what each run stores)\n", of)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "preloaded\tinto the preloaded store\tinto an empty store\tratio\tPostgreSQL cores\tmachine busy\t")
	for _, sz := range rep.Sizes {
		st, em := sz.Stored.Summary, sz.Empty.Summary
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s / %s\t%s / %s\t\n", thousands(float64(sz.Preloaded)),
			thousands(float64(st.E2EEventsPerSec)), thousands(float64(em.E2EEventsPerSec)), pct(float64(sz.Ratio)),
			cores(float64(st.PostgresCPUCores)), cores(float64(em.PostgresCPUCores)),
			cores(float64(st.MachineBusyCores)), cores(float64(em.MachineBusyCores)))
		for i := range max(len(sz.Stored.Runs), len(sz.Empty.Runs)) {
			fmt.Fprintf(tw, "  run %d\t%s\t%s\t\t\t\t\n", i+1, runCell(sz.Stored.Runs, i), runCell(sz.Empty.Runs, i))
		}
	}
	tw.Flush()

	printReads(w, rep)

	if rp := rep.Retention; rp != nil {
		fmt.Fprintf(w, "\nRetention pass at %s preloaded (%s stored), under load\n", thousands(float64(rp.Preloaded)), thousands(float64(rp.StoredBefore)))
		if rp.Error != "" {
			fmt.Fprintf(w, "  failed: %s\n", oneLine(rp.Error))
		} else {
			keys := ""
			if rp.ForgetsKeys {
				keys = fmt.Sprintf(", and forgot %s keys (DEDUP_WINDOW = RETENTION)", thousands(float64(rp.KeysForgotten)))
			}
			fmt.Fprintf(w, "  dropped %d partitions, %s events processed before %s (RETENTION %s), in %s (%s of it resting between drop steps)%s; %s left\n",
				rp.PartitionsDropped, thousands(float64(rp.EventsDropped)), rp.Cutoff.Format("2006-01-02 15:04 MST"),
				hours(float64(rp.RetentionSeconds)), secondsShort(float64(rp.Seconds)), secondsShort(float64(rp.RestedSeconds)), keys, thousands(float64(rp.EventsLeft)))
			if st := rp.Steps; st != nil {
				fmt.Fprintf(w, "  steps: dropping %s, closing %s, analyzing %s, summarising BRIN ranges %s, partitions ahead %s, pruning %s\n",
					secondsShort(float64(st.Dropping)), secondsShort(float64(st.Closing)), secondsShort(float64(st.Analyzing)),
					secondsShort(float64(st.Summarising)), secondsShort(float64(st.Partitions)), secondsShort(float64(st.Pruning)))
			}
			fmt.Fprintf(w, "  events received per second from the pass's start, over %s: %s; over the same span of the runs without it: %s (%s)\n",
				secondsShort(float64(rp.Span)), thousands(float64(rp.RateDuring)), thousands(float64(rp.RateWithout)), pct(float64(rp.Ratio)))
		}
		fmt.Fprintf(w, "  end-to-end events/s: %s with the pass; without: %s (%s)\n", runCell([]runResult{rp.With}, 0),
			runsCell(rp.Without), pct(float64(rp.E2ERatio)))
	}

	fmt.Fprintln(w, "\nTargets (issue 12, at the largest size)")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, t := range rep.Targets {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t\n", strings.ToUpper(t.Status), t.Name, t.Goal, figure(float64(t.Value), t.Unit))
	}
	tw.Flush()
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	fmt.Fprintf(w, "results: %s", jsonPath)
	if rep.Chart != "" {
		fmt.Fprintf(w, ", chart: %s", rep.Chart)
	}
	fmt.Fprintln(w)
}

// printReads writes the read shapes' p50 / p99, a column per size.
func printReads(w io.Writer, rep *growthReport) {
	if len(rep.Sizes) == 0 {
		return
	}
	fmt.Fprintf(w, "\nReads, ms p50 / p99 over %d requests each, ingest idle; stored events in the column heads\n", rep.Settings.Reads)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "shape\t")
	for _, sz := range rep.Sizes {
		fmt.Fprintf(tw, "%s\t", thousands(float64(sz.StoredAtReads)))
	}
	fmt.Fprintln(tw)
	var remarks []string
	for _, sz := range rep.Sizes {
		if sz.StoredAtReads == 0 && len(sz.Reads) > 0 {
			remarks = append(remarks, fmt.Sprintf("at %s: nothing stored, so every listing is empty and the shapes that need a topic, a source or history are not measured",
				thousands(float64(sz.Preloaded))))
		}
	}
	for i, shape := range readShapeNames(rep) {
		fmt.Fprintf(tw, "%s\t", shape)
		for _, sz := range rep.Sizes {
			if i >= len(sz.Reads) {
				fmt.Fprint(tw, "-\t")
				continue
			}
			r := sz.Reads[i]
			fmt.Fprintf(tw, "%s / %s\t", msShort(float64(r.P50Ms)), msShort(float64(r.P99Ms)))
			switch {
			case sz.StoredAtReads == 0:
			case r.Error != "":
				remarks = append(remarks, fmt.Sprintf("%s at %s: %d errors: %s", r.Name, thousands(float64(sz.Preloaded)), r.Errors, oneLine(r.Error)))
			case r.EmptyPages > 0:
				remarks = append(remarks, fmt.Sprintf("%s at %s: %d of %d pages empty", r.Name, thousands(float64(sz.Preloaded)), r.EmptyPages, r.Requests))
			}
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	for _, r := range remarks {
		fmt.Fprintf(w, "  %s\n", r)
	}
}

// readShapeNames are the shapes of the first size that read, in order.
func readShapeNames(rep *growthReport) []string {
	for _, sz := range rep.Sizes {
		if len(sz.Reads) > 0 {
			names := make([]string, len(sz.Reads))
			for i, r := range sz.Reads {
				names[i] = r.Name
			}
			return names
		}
	}
	return nil
}

// runCell is run i's end-to-end events/s, or why it has none.
func runCell(runs []runResult, i int) string {
	if i >= len(runs) {
		return "-"
	}
	r := runs[i]
	if r.Error != "" {
		return "failed"
	}
	return thousands(float64(r.E2EEventsPerSec)) + exactlyOnceMark(r)
}

// runsCell lists the runs' end-to-end events/s.
func runsCell(runs []runResult) string {
	cells := make([]string, len(runs))
	for i := range runs {
		cells[i] = runCell(runs, i)
	}
	if len(cells) == 0 {
		return "-"
	}
	return strings.Join(cells, ", ")
}

func secondsShort(v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case v < 10:
		return fmt.Sprintf("%.2f s", v)
	default:
		return fmt.Sprintf("%.0f s", v)
	}
}

func msShort(v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case v < 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

func bytesEach(v float64) string { return measured("%.0f B", v) }
func hours(secs float64) string  { return measured("%.0fh", secs/3600) }

// diskBytes is a size in MB, or in GB from 1 GB.
func diskBytes(b int64) string {
	if b >= 1e9 {
		return fmt.Sprintf("%.1f GB", float64(b)/1e9)
	}
	return mb(float64(b))
}

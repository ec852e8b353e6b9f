//go:build faults

package faults

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	chart "github.com/wcharczuk/go-chart/v2"
	"github.com/wcharczuk/go-chart/v2/drawing"
)

// soakReport is what soak.json holds. Times are seconds from the start of
// the load.
type soakReport struct {
	Seed           int64   `json:"seed"`
	Replay         string  `json:"replay"`
	Passed         bool    `json:"passed"`
	Duration       string  `json:"duration"`
	EventsPerSec   float64 `json:"events_per_second"`
	DuplicateShare float64 `json:"duplicate_share"`
	Replicas       int     `json:"replicas"`
	ClaimIdle      string  `json:"claim_idle"`
	MaxDeliveries  int     `json:"max_deliveries"`

	Faults     []faultEntry      `json:"faults"`
	Throughput []throughputEntry `json:"throughput"`

	// After the last fault healed: when the backlog it left was consumed
	// (no more than a second of load queued) while the load went on, and
	// when the queue was empty after the load ended.
	LastFaultHealed        float64 `json:"last_fault_healed_s"`
	CaughtUp               float64 `json:"caught_up_s"`
	CaughtUpAfterLastFault float64 `json:"caught_up_after_last_fault_s"`
	LoadEnded              float64 `json:"load_ended_s"`
	Drained                float64 `json:"drained_s"`
	DrainAfterLastFault    float64 `json:"drain_after_last_fault_s"`

	Checker struct {
		Reads           int64 `json:"reads"`
		Unanswered      int64 `json:"unanswered"`
		HighestDelivery int64 `json:"highest_delivery_count"`
	} `json:"checker"`
	Load struct {
		Accepted  int64 `json:"accepted"`
		Retries   int   `json:"retried_requests"`
		Resumed   int   `json:"resumed_rounds"`
		Failovers int64 `json:"failovers"`
	} `json:"load"`
	Final *finalCounts `json:"final,omitempty"`
}

type faultEntry struct {
	Kind      string  `json:"kind"`
	Target    string  `json:"target"`
	Variant   string  `json:"variant,omitempty"`
	Planned   float64 `json:"planned_s"`
	Began     float64 `json:"began_s,omitempty"`
	Down      float64 `json:"down_s"`
	Healed    float64 `json:"healed_s,omitempty"`
	Recovered float64 `json:"recovered_s,omitempty"` // when the target served again
	Held      int64   `json:"held_messages"`
}

// throughputEntry is one second of the run: events answered 202, counted
// published, and taken off the queue in it.
type throughputEntry struct {
	Second    int   `json:"s"`
	Accepted  int64 `json:"accepted"`
	Published int64 `json:"published"`
	Received  int64 `json:"received"`
}

type finalCounts struct {
	Published        int64 `json:"published"`
	Received         int64 `json:"received"`
	UniqueProcessed  int64 `json:"unique_processed"`
	DuplicateDropped int64 `json:"duplicate_dropped"`
	DeadLettered     int64 `json:"dead_lettered"`
}

// report gathers what the soak saw, so far.
func (so *soak) report() soakReport {
	r := soakReport{
		Seed:           so.cfg.seed,
		Replay:         so.cfg.replay(),
		Passed:         so.passed,
		Duration:       so.cfg.duration.String(),
		EventsPerSec:   so.cfg.rate,
		DuplicateShare: soakDupRate,
		Replicas:       len(so.members),
		ClaimIdle:      so.claimIdle,
		MaxDeliveries:  so.limit,
	}
	if so.nemesis != nil {
		so.nemesis.mu.Lock()
		for _, f := range so.plan {
			r.Faults = append(r.Faults, faultEntry{
				Kind: f.Kind, Target: f.Target, Variant: f.Variant,
				Planned: secs(f.Planned), Began: secs(f.Began), Down: secs(f.Down),
				Healed: secs(f.Healed), Recovered: secs(f.Recovered), Held: f.Held,
			})
		}
		so.nemesis.mu.Unlock()
	}
	r.LastFaultHealed, r.LoadEnded, r.Drained = secs(so.lastHealed), secs(so.loadEnded), secs(so.drained)
	if so.drained > 0 {
		r.DrainAfterLastFault = secs(so.drained - so.lastHealed)
	}
	if so.checker != nil {
		if caught := so.caughtUp(); caught > 0 {
			r.CaughtUp, r.CaughtUpAfterLastFault = secs(caught), secs(caught-so.lastHealed)
		}
		r.Checker.Reads = so.checker.reads.Load()
		r.Checker.Unanswered = so.checker.unanswered.Load()
		r.Checker.HighestDelivery = so.checker.highestDelivery.Load()
	}
	if so.load != nil {
		r.Load.Accepted = so.load.sent()
		so.load.mu.Lock()
		r.Load.Retries, r.Load.Resumed = so.load.retries, so.load.resumed
		so.load.mu.Unlock()
		r.Load.Failovers = failovers(so.load.c)
		r.Throughput = so.throughput()
	}
	if so.passed {
		st := so.final
		r.Final = &finalCounts{st.Published, st.Received, st.UniqueProcessed, st.DuplicateDropped, st.DeadLettered}
	}
	return r
}

func secs(d time.Duration) float64 {
	return float64(d.Round(10*time.Millisecond)) / float64(time.Second)
}

// throughput is the events of each second: accepted as the load counted
// them, published and received as the checker's reads saw the counters
// grow. A counter between two reads is taken to have grown evenly, so
// that a time when no replica could answer (PostgreSQL down) shows what
// the reads on either side of it tell, not a spike after it.
func (so *soak) throughput() []throughputEntry {
	samples := so.checker.readsSoFar()
	var published, received []point
	for _, s := range samples {
		received = append(received, point{s.at, s.received})
		if s.published >= 0 {
			published = append(published, point{s.at, s.published})
		}
	}
	end := time.Since(so.start)
	if so.drained > 0 {
		end = so.drained
	}
	seconds := int(end/time.Second) + 1
	out := make([]throughputEntry, seconds)
	so.load.mu.Lock()
	defer so.load.mu.Unlock()
	for s := range seconds {
		from, to := time.Duration(s)*time.Second, time.Duration(s+1)*time.Second
		out[s] = throughputEntry{
			Second:    s,
			Accepted:  so.load.accepted[s],
			Published: valueAt(published, to) - valueAt(published, from),
			Received:  valueAt(received, to) - valueAt(received, from),
		}
	}
	return out
}

// point is a counter's value read at a time.
type point struct {
	at    time.Duration
	value int64
}

// valueAt is the counter's value at t, drawn straight between the reads
// on either side of it; 0 before the first, the last after it.
func valueAt(points []point, t time.Duration) int64 {
	i, _ := slices.BinarySearchFunc(points, t, func(p point, t time.Duration) int { return int(p.at - t) })
	switch {
	case i == 0:
		if len(points) == 0 {
			return 0
		}
		// From 0 at the start of the load to the first read.
		return int64(float64(points[0].value) * float64(t) / float64(max(points[0].at, 1)))
	case i == len(points):
		return points[i-1].value
	}
	a, b := points[i-1], points[i]
	return a.value + int64(float64(b.value-a.value)*float64(t-a.at)/float64(max(b.at-a.at, 1)))
}

// caughtUp is when, after the last fault healed, a read first found no
// more than a second of load queued: the backlog the faults left consumed.
func (so *soak) caughtUp() time.Duration {
	for _, s := range so.checker.readsSoFar() {
		if s.at > so.lastHealed && s.queued >= 0 && float64(s.queued) <= so.cfg.rate {
			return s.at
		}
	}
	return 0
}

// writeReport writes soak.json and soak.svg into the report directory and
// says where they are.
func (so *soak) writeReport(t *testing.T) {
	t.Helper()
	r := so.report()
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Errorf("soak report: %v", err)
		return
	}
	jsonPath := filepath.Join(so.cfg.report, "soak.json")
	if err := os.WriteFile(jsonPath, append(data, '\n'), 0o644); err != nil {
		t.Errorf("soak report: %v", err)
		return
	}
	svg, err := soakChart(r)
	if err != nil {
		t.Errorf("soak chart: %v", err)
		return
	}
	svgPath := filepath.Join(so.cfg.report, "soak.svg")
	if err := os.WriteFile(svgPath, svg, 0o644); err != nil {
		t.Errorf("soak chart: %v", err)
		return
	}
	t.Logf("soak report: %s and %s", jsonPath, svgPath)
}

// kindColours tell the fault lanes apart; throughput lines are in the
// first three.
var (
	lineColours = []drawing.Color{drawing.ColorFromHex("1f77b4"), drawing.ColorFromHex("ff7f0e"), drawing.ColorFromHex("2ca02c")}
	kindColours = map[string]drawing.Color{
		"kill": drawing.ColorFromHex("d62728"), "pause": drawing.ColorFromHex("9467bd"),
		"postgres": drawing.ColorFromHex("8c564b"), "redis": drawing.ColorFromHex("e377c2"),
	}
	drainColour = drawing.ColorFromHex("7f7f7f")
)

// soakChart draws the throughput over time as SVG, with each fault as a
// bar in a lane of its kind above it, and the drain after the load in a
// lane of its own.
func soakChart(r soakReport) ([]byte, error) {
	if len(r.Throughput) < 2 {
		return nil, fmt.Errorf("%d seconds of throughput: too few to draw", len(r.Throughput))
	}
	var xs []float64
	lines := make([][]float64, 3)
	var top float64
	for _, e := range r.Throughput {
		xs = append(xs, float64(e.Second)+0.5)
		for i, v := range []int64{e.Accepted, e.Published, e.Received} {
			lines[i] = append(lines[i], float64(v))
			top = max(top, float64(v))
		}
	}
	top = max(top, 1)
	var series []chart.Series
	for i, name := range []string{"accepted (202) events/s", "published events/s", "received (consumed) events/s"} {
		series = append(series, chart.ContinuousSeries{
			Name: name, XValues: xs, YValues: lines[i],
			Style: chart.Style{StrokeColor: lineColours[i], StrokeWidth: 1.5},
		})
	}
	// One lane per kind of fault, above the lines.
	lane := func(i int) float64 { return top * (1.08 + 0.07*float64(i)) }
	bar := func(name string, colour drawing.Color, from, to, y float64) chart.Series {
		to = max(to, from+0.3)
		return chart.ContinuousSeries{
			Name: name, XValues: []float64{from, to}, YValues: []float64{y, y},
			Style: chart.Style{StrokeColor: colour, StrokeWidth: 7},
		}
	}
	kinds := make([]string, len(faultKinds))
	for i, k := range faultKinds {
		kinds[i] = k.name
	}
	named := map[string]bool{}
	for _, f := range r.Faults {
		if f.Healed == 0 {
			continue // not carried out
		}
		name := ""
		if !named[f.Kind] {
			named[f.Kind], name = true, "fault: "+f.Kind
		}
		series = append(series, bar(name, kindColours[f.Kind], f.Began, f.Healed, lane(slices.Index(kinds, f.Kind))))
	}
	if r.Drained > 0 {
		series = append(series, bar("drain after the load", drainColour, r.LoadEnded, r.Drained, lane(len(kinds))))
	}
	grid := chart.Style{StrokeColor: drawing.ColorFromHex("dddddd"), StrokeWidth: 1}
	last := xs[len(xs)-1] + 0.5
	graph := chart.Chart{
		Title:      fmt.Sprintf("logagg soak, seed %d: %s at %.0f events/s, %d replicas", r.Seed, r.Duration, r.EventsPerSec, r.Replicas),
		TitleStyle: chart.Style{FontSize: 14},
		Width:      1200,
		Height:     600,
		// Room above the plot for the title, then the legend.
		Background: chart.Style{Padding: chart.Box{Top: 90, Left: 20, Right: 30, Bottom: 20}},
		XAxis: chart.XAxis{
			Name:           "seconds from the start of the load",
			Range:          &chart.ContinuousRange{Min: 0, Max: last},
			Ticks:          ticks(last, []float64{5, 10, 15, 30, 60, 120, 300, 600, 1800}, 16, last),
			GridMajorStyle: grid,
		},
		YAxis: chart.YAxis{
			Name:           "events/s; the faults in lanes above",
			Range:          &chart.ContinuousRange{Min: 0, Max: lane(len(kinds) + 1)},
			Ticks:          ticks(top, []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5}, 8, lane(len(kinds)+1)),
			GridMajorStyle: grid,
		},
		Series: series,
	}
	graph.Elements = []chart.Renderable{chart.LegendThin(&graph)}
	var buf bytes.Buffer
	if err := graph.Render(chart.SVG, &buf); err != nil {
		return nil, fmt.Errorf("drawing the chart: %w", err)
	}
	return buf.Bytes(), nil
}

// ticks marks 0 to top in the first of steps that needs no more than
// most marks, labelled like "2k", and ends with an unlabelled mark at end:
// go-chart draws an axis from its first mark to its last.
func ticks(top float64, steps []float64, most int, end float64) []chart.Tick {
	step := steps[len(steps)-1]
	for _, st := range steps {
		if top/st <= float64(most) {
			step = st
			break
		}
	}
	var out []chart.Tick
	for v := 0.0; v <= top; v += step {
		label := strconv.FormatFloat(v, 'f', -1, 64)
		if v >= 1000 {
			label = strconv.FormatFloat(v/1000, 'f', -1, 64) + "k"
		}
		out = append(out, chart.Tick{Value: v, Label: label})
	}
	return append(out, chart.Tick{Value: end})
}

// logSummary logs the soak's closing row: what was broken when, what the
// targets held, how long they took to serve again, how long the queue
// took to drain after the last fault, and the final counts.
func (so *soak) logSummary(t *testing.T) {
	t.Helper()
	r := so.report()
	counts := map[string]int{}
	recover := map[string][]time.Duration{}
	var heldMost int64
	for _, f := range so.plan {
		counts[f.Kind]++
		if f.Recovered > 0 {
			recover[f.Kind] = append(recover[f.Kind], f.Recovered-f.Healed)
		}
		if kindNamed(f.Kind).target == oneReplica {
			heldMost = max(heldMost, f.Held)
		}
	}
	var kinds, recovery []string
	for _, k := range faultKinds {
		if counts[k.name] == 0 {
			continue
		}
		kinds = append(kinds, fmt.Sprintf("%d %s", counts[k.name], k.name))
		if d := recover[k.name]; len(d) > 0 {
			slices.Sort(d)
			recovery = append(recovery, fmt.Sprintf("%s %s median, %s at most", k.name,
				d[len(d)/2].Round(10*time.Millisecond), d[len(d)-1].Round(10*time.Millisecond)))
		}
	}
	var accepted int64
	for _, e := range r.Throughput {
		accepted += e.Accepted
	}
	t.Logf("soak, seed %d: %s, %d replicas, %.0f events/s offered (%.0f%% duplicates), %d accepted (%.0f/s over the load)",
		so.cfg.seed, so.cfg.duration, len(so.members), so.cfg.rate, 100*soakDupRate, accepted, float64(accepted)/so.loadEnded.Seconds())
	t.Logf("  %d faults, at most 2 at a time: %s; replicas held up to %d messages when broken", len(so.plan), strings.Join(kinds, ", "), heldMost)
	t.Logf("  served again after the heal: %s", strings.Join(recovery, "; "))
	t.Logf("  last fault healed %s; its backlog consumed %s (%.1fs after it); load ended %s, queue empty %s (%.1fs after the last fault)",
		at(so.lastHealed), at(time.Duration(r.CaughtUp*float64(time.Second))), r.CaughtUpAfterLastFault,
		at(so.loadEnded), at(so.drained), r.DrainAfterLastFault)
	t.Logf("  checker: %d reads of /stats (%d unanswered), no promise broken; highest delivery count %d (MAX_DELIVERIES %d); "+
		"%d requests retried after 429/503/network errors, %d failed over, %d rounds resumed",
		r.Checker.Reads, r.Checker.Unanswered, r.Checker.HighestDelivery, so.limit, r.Load.Retries, r.Load.Failovers, r.Load.Resumed)
	logEnd(t, so.final)
}

// TestValueAt checks the straight line drawn between a counter's reads.
func TestValueAt(t *testing.T) {
	t.Parallel()
	s := time.Second
	points := []point{{s, 100}, {3 * s, 300}, {4 * s, 300}}
	for _, tc := range []struct {
		at   time.Duration
		want int64
	}{
		{0, 0}, {s / 2, 50}, {s, 100}, {2 * s, 200}, {3 * s, 300}, {3*s + s/2, 300}, {10 * s, 300},
	} {
		require.Equal(t, tc.want, valueAt(points, tc.at), "at %s", tc.at)
	}
	require.Zero(t, valueAt(nil, s))
}

// TestSoakChart draws a small report: the lines, a lane for each kind of
// fault carried out, and the drain.
func TestSoakChart(t *testing.T) {
	t.Parallel()
	r := soakReport{Seed: 3, Duration: "30s", EventsPerSec: 2000, Replicas: 3, LoadEnded: 3, Drained: 3.5}
	for s := range 4 {
		r.Throughput = append(r.Throughput, throughputEntry{Second: s, Accepted: 2000, Published: 2000, Received: int64(1000 * s)})
	}
	r.Faults = []faultEntry{
		{Kind: "kill", Target: "r1", Began: 1, Healed: 2},
		{Kind: "redis", Target: "redis", Began: 1.5, Healed: 2.5},
		{Kind: "pause", Target: "r2", Planned: 3}, // never carried out
	}
	svg, err := soakChart(r)
	require.NoError(t, err)
	for _, want := range []string{"<svg", "seed 3", "accepted (202) events/s", "fault: kill", "fault: redis", "drain after the load"} {
		require.Contains(t, string(svg), want)
	}
	require.NotContains(t, string(svg), "fault: pause", "a fault not carried out has no bar")

	_, err = soakChart(soakReport{Throughput: r.Throughput[:1]})
	require.Error(t, err, "one second is too little to draw")
}

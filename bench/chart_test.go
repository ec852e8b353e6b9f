package main

import (
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// sampleSweep is a full sweep with made-up rates: batching helps, more
// workers help less and less.
func sampleSweep() *sweep {
	sw := &sweep{Events: 100000, SmallEvents: 20000, SmallBatch: smallBatch,
		Batches: []int{1, 10, 50, 100, 500, 1000}, Workers: []int{1, 2, 4, 8}}
	for _, b := range sw.Batches {
		for _, w := range sw.Workers {
			rate := 900 * math.Pow(float64(b), 0.6) * math.Sqrt(float64(w))
			sw.Points = append(sw.Points, runResult{
				Label: fmt.Sprintf("sweep-b%d-w%d", b, w), Pipeline: pipeline{b, w}, E2EEventsPerSec: num(rate), ExactlyOnce: true,
			})
		}
	}
	return sw
}

func TestThroughputChartIsSVG(t *testing.T) {
	t.Parallel()
	sw := sampleSweep()
	sw.Points[3].Error = "publisher: exit status 1" // a failed point is left out
	sw.Points[3].E2EEventsPerSec = nan()
	svg, err := throughputChart(sw, "a subtitle")
	require.NoError(t, err)
	require.NotEmpty(t, svg)

	// Well-formed XML whose root is an <svg> element.
	dec := xml.NewDecoder(strings.NewReader(string(svg)))
	var root string
	texts := map[string]bool{}
	paths := 0
	inText := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		switch el := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = el.Name.Local
			}
			inText = el.Name.Local == "text"
			if el.Name.Local == "path" {
				paths++
			}
		case xml.CharData:
			if inText {
				texts[strings.TrimSpace(string(el))] = true
			}
		case xml.EndElement:
			inText = false
		}
	}
	require.Equal(t, "svg", root)
	for _, want := range []string{
		"logagg end-to-end events/s by BATCH_SIZE, one line per WORKER_COUNT", "a subtitle",
		"BATCH_SIZE: events per consume transaction (log scale)", "end-to-end events/s",
		"1", "10", "50", "100", "500", "1000", // a tick at each batch size
		"1 worker", "2 workers", "4 workers", "8 workers", // the legend
	} {
		require.True(t, texts[want], "the chart shows %q; it shows %v", want, texts)
	}
	require.Greater(t, paths, 4, "lines, axes and grid are drawn")
}

func TestThroughputChartNeedsAPoint(t *testing.T) {
	t.Parallel()
	_, err := throughputChart(&sweep{Batches: []int{1}, Workers: []int{1},
		Points: []runResult{{Pipeline: pipeline{1, 1}, Error: "failed", E2EEventsPerSec: nan()}}}, "")
	require.Error(t, err)
}

func TestNiceTicks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		top, wantStep, wantLast float64
		wantLabel               string
	}{
		{top: 86000, wantStep: 20000, wantLast: 100000, wantLabel: "100k"},
		{top: 700, wantStep: 200, wantLast: 800, wantLabel: "800"},
		{top: 2.4e6, wantStep: 500000, wantLast: 2.5e6, wantLabel: "2.5M"},
		{top: 0, wantStep: 0.2, wantLast: 1, wantLabel: "1"},
	} {
		ticks := niceTicks(tc.top)
		require.Equal(t, 0.0, ticks[0].Value)
		require.InDelta(t, tc.wantStep, ticks[1].Value, 1e-9, "step for %v", tc.top)
		last := ticks[len(ticks)-1]
		require.InDelta(t, tc.wantLast, last.Value, 1e-6)
		require.Equal(t, tc.wantLabel, last.Label)
		require.GreaterOrEqual(t, last.Value, tc.top)
	}
}

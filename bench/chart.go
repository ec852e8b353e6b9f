package main

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"

	chart "github.com/wcharczuk/go-chart/v2"
	"github.com/wcharczuk/go-chart/v2/drawing"
)

const chartWidth, chartHeight = 1000, 560

// throughputChart draws the sweep as SVG: end-to-end events/s against
// BATCH_SIZE on a log axis, one line per WORKER_COUNT. Points whose run
// failed are left out.
func throughputChart(sw *sweep, subtitle string) ([]byte, error) {
	byWorkers := map[int][]runResult{}
	var top float64
	for _, p := range sw.Points {
		rate := float64(p.E2EEventsPerSec)
		if p.Error != "" || math.IsNaN(rate) || p.Pipeline.BatchSize < 1 {
			continue
		}
		byWorkers[p.Pipeline.WorkerCount] = append(byWorkers[p.Pipeline.WorkerCount], p)
		top = max(top, rate)
	}
	if len(byWorkers) == 0 {
		return nil, errors.New("no sweep point was measured")
	}
	workers := make([]int, 0, len(byWorkers))
	for w := range byWorkers {
		workers = append(workers, w)
	}
	slices.Sort(workers)

	// The x axis is linear in log10(BATCH_SIZE), with a tick at each size
	// measured: an exact log scale labelled with the sizes themselves.
	var ticks []chart.Tick
	var minX, maxX = math.Inf(1), math.Inf(-1)
	for _, b := range sw.Batches {
		x := math.Log10(float64(b))
		ticks = append(ticks, chart.Tick{Value: x, Label: strconv.Itoa(b)})
		minX, maxX = min(minX, x), max(maxX, x)
	}
	if maxX-minX < 1e-9 {
		minX, maxX = minX-0.5, maxX+0.5
	}
	yTicks := niceTicks(top * 1.08)

	var series []chart.Series
	for i, w := range workers {
		pts := byWorkers[w]
		slices.SortFunc(pts, func(a, b runResult) int { return a.Pipeline.BatchSize - b.Pipeline.BatchSize })
		s := chart.ContinuousSeries{
			Name: workersLabel(w),
			Style: chart.Style{
				StrokeColor: palette[i%len(palette)], StrokeWidth: 2.5,
				DotColor: palette[i%len(palette)], DotWidth: 4,
			},
		}
		for _, p := range pts {
			s.XValues = append(s.XValues, math.Log10(float64(p.Pipeline.BatchSize)))
			s.YValues = append(s.YValues, float64(p.E2EEventsPerSec))
		}
		series = append(series, s)
	}

	grid := chart.Style{StrokeColor: drawing.ColorFromHex("dddddd"), StrokeWidth: 1}
	graph := chart.Chart{
		Title:      "logagg end-to-end events/s by BATCH_SIZE, one line per WORKER_COUNT",
		TitleStyle: chart.Style{FontSize: 14},
		Width:      chartWidth,
		Height:     chartHeight,
		Background: chart.Style{Padding: chart.Box{Top: 60, Left: 20, Right: 30, Bottom: 20}},
		XAxis: chart.XAxis{
			Name:           "BATCH_SIZE: events per consume transaction (log scale)",
			Range:          &chart.ContinuousRange{Min: minX, Max: maxX},
			Ticks:          ticks,
			GridMajorStyle: grid,
		},
		YAxis: chart.YAxis{
			Name:           "end-to-end events/s",
			Range:          &chart.ContinuousRange{Min: 0, Max: yTicks[len(yTicks)-1].Value},
			Ticks:          yTicks,
			GridMajorStyle: grid,
		},
		Series: series,
	}
	graph.Elements = []chart.Renderable{chart.Legend(&graph), subtitleElement(subtitle)}
	var buf bytes.Buffer
	if err := graph.Render(chart.SVG, &buf); err != nil {
		return nil, fmt.Errorf("drawing the chart: %w", err)
	}
	return buf.Bytes(), nil
}

// subtitleElement writes a line of small text under the title.
func subtitleElement(text string) chart.Renderable {
	return func(r chart.Renderer, _ chart.Box, defaults chart.Style) {
		style := chart.Style{FontSize: 10, FontColor: drawing.ColorFromHex("555555"), Font: defaults.Font}
		style.WriteTextOptionsToRenderer(r)
		box := r.MeasureText(text)
		r.Text(text, max((chartWidth-box.Width())/2, 0), 42)
	}
}

func workersLabel(w int) string {
	if w == 1 {
		return "1 worker"
	}
	return fmt.Sprintf("%d workers", w)
}

// palette tells the lines apart, also in grey scale.
var palette = []drawing.Color{
	drawing.ColorFromHex("1f77b4"), drawing.ColorFromHex("ff7f0e"), drawing.ColorFromHex("2ca02c"),
	drawing.ColorFromHex("d62728"), drawing.ColorFromHex("9467bd"), drawing.ColorFromHex("8c564b"),
}

// niceTicks returns ticks from 0 to at least top in steps of 1, 2 or 5
// times a power of ten, labelled like "25k".
func niceTicks(top float64) []chart.Tick {
	if !(top > 0) {
		top = 1
	}
	raw := top / 6
	pow := math.Pow(10, math.Floor(math.Log10(raw)))
	step := pow
	for _, m := range []float64{1, 2, 5, 10} {
		if m*pow >= raw {
			step = m * pow
			break
		}
	}
	var ticks []chart.Tick
	for v := 0.0; ; v += step {
		ticks = append(ticks, chart.Tick{Value: v, Label: shortCount(v)})
		if v >= top {
			return ticks
		}
	}
}

// shortCount writes 25000 as "25k" and 1500000 as "1.5M".
func shortCount(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "k"
	default:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
}

package main

import (
	"bytes"
	"errors"
	"fmt"
	"math"

	chart "github.com/wcharczuk/go-chart/v2"
	"github.com/wcharczuk/go-chart/v2/drawing"
)

// growthChart draws ingest and reads against the events stored, as SVG.
func growthChart(rep *growthReport) ([]byte, error) {
	graph, err := growthGraph(rep)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := graph.Render(chart.SVG, &buf); err != nil {
		return nil, fmt.Errorf("drawing the chart: %w", err)
	}
	return buf.Bytes(), nil
}

// growthGraph is the chart: each read shape's p99 on the right axis,
// end-to-end events/s into the preloaded store (and, dashed, into an empty
// one in the alternating runs) on the left, and a legend under the plot.
func growthGraph(rep *growthReport) (*chart.Chart, error) {
	var ticks []chart.Tick
	for _, sz := range rep.Sizes {
		ticks = append(ticks, chart.Tick{Value: float64(sz.Preloaded), Label: shortCount(float64(sz.Preloaded))})
	}
	if len(ticks) == 0 {
		return nil, errors.New("no size was measured")
	}

	line := func(name string, color drawing.Color, width float64, dash []float64, value func(growthSize) num) (chart.ContinuousSeries, float64, bool) {
		s := chart.ContinuousSeries{Name: name, Style: chart.Style{
			StrokeColor: color, StrokeWidth: width, StrokeDashArray: dash, DotColor: color, DotWidth: width + 1.5,
		}}
		top := 0.0
		for _, sz := range rep.Sizes {
			v := float64(value(sz))
			if math.IsNaN(v) {
				continue
			}
			s.XValues, s.YValues = append(s.XValues, float64(sz.Preloaded)), append(s.YValues, v)
			top = max(top, v)
		}
		return s, top, len(s.XValues) > 0
	}

	// Reads first, on the primary axis (drawn on the right): the ingest
	// lines go on the secondary one (on the left), scaled into its units.
	var series []chart.Series
	var topMs float64
	for i, name := range readShapeNames(rep) {
		s, top, ok := line(name+" p99", readPalette[i%len(readPalette)], 1.5, nil, func(sz growthSize) num {
			if i < len(sz.Reads) {
				return sz.Reads[i].P99Ms
			}
			return nan()
		})
		if ok {
			series, topMs = append(series, s), max(topMs, top)
		}
	}
	msTicks := niceTicks(max(topMs, goalGrowthReadP99Ms) * 1.08)
	msTop := msTicks[len(msTicks)-1].Value

	var ingest []chart.ContinuousSeries
	var topRate float64
	black := drawing.ColorFromHex("222222")
	for _, l := range []struct {
		name  string
		dash  []float64
		value func(growthSize) num
	}{
		{"ingest, into the preloaded store", nil, func(sz growthSize) num { return sz.Stored.Summary.E2EEventsPerSec }},
		{"ingest, into an empty store (alternating)", []float64{6, 4}, func(sz growthSize) num { return sz.Empty.Summary.E2EEventsPerSec }},
	} {
		if s, top, ok := line(l.name, black, 3, l.dash, l.value); ok {
			ingest, topRate = append(ingest, s), max(topRate, top)
		}
	}
	if len(ingest) == 0 {
		return nil, errors.New("no ingest run was measured")
	}
	// go-chart takes the secondary axis' range from the primary's ticks
	// when the secondary has ticks: both axes span 0 to msTop, and the
	// ingest values and ticks are scaled to it.
	rateTicks := niceTicks(topRate * 1.08)
	scale := msTop / rateTicks[len(rateTicks)-1].Value
	for i := range rateTicks {
		rateTicks[i].Value *= scale
	}
	var first []chart.Series // in the legend
	for _, s := range ingest {
		for i := range s.YValues {
			s.YValues[i] *= scale
		}
		s.YAxis = chart.YAxisSecondary
		first = append(first, s)
	}
	goal := chart.ContinuousSeries{
		Name:    fmt.Sprintf("the read p99 goal, %d ms", goalGrowthReadP99Ms),
		Style:   chart.Style{StrokeColor: drawing.ColorFromHex("d62728"), StrokeWidth: 1, StrokeDashArray: []float64{2, 3}},
		XValues: []float64{ticks[0].Value, ticks[len(ticks)-1].Value},
		YValues: []float64{goalGrowthReadP99Ms, goalGrowthReadP99Ms},
	}
	series = append(append(first, goal), series...)

	grid := chart.Style{StrokeColor: drawing.ColorFromHex("dddddd"), StrokeWidth: 1}
	rows := (len(series) + legendColumns - 1) / legendColumns
	graph := chart.Chart{
		Title:      "logagg as the store grows: ingest events/s (left axis) and read p99 in ms (right axis)",
		TitleStyle: chart.Style{FontSize: 14},
		Width:      chartWidth,
		Height:     chartHeight + legendTop + rows*legendRow,
		Background: chart.Style{Padding: chart.Box{Top: 60, Left: 20, Right: 20, Bottom: legendTop + rows*legendRow}},
		XAxis: chart.XAxis{
			Name:  "events stored before the runs (preloaded)",
			Range: &chart.ContinuousRange{Min: ticks[0].Value, Max: ticks[len(ticks)-1].Value},
			Ticks: ticks, GridMajorStyle: grid,
		},
		YAxis: chart.YAxis{
			Name:  "read p99, ms",
			Range: &chart.ContinuousRange{Min: 0, Max: msTop},
			Ticks: msTicks, GridMajorStyle: grid,
		},
		YAxisSecondary: chart.YAxis{
			Name:  "end-to-end events/s",
			Range: &chart.ContinuousRange{Min: 0, Max: msTop},
			Ticks: rateTicks,
		},
		Series: series,
	}
	graph.Elements = []chart.Renderable{legendBelow(series), subtitleElement(growthSubtitle(rep))}
	return &graph, nil
}

// The legend under the plot: legendColumns entries a row, legendRow pixels
// apart, starting legendTop pixels below the plot (under the x axis' name).
const (
	legendColumns = 3
	legendRow     = 18
	legendTop     = 70
)

// legendBelow lists the series under the plot, a sample of each line
// beside its name.
func legendBelow(series []chart.Series) chart.Renderable {
	return func(r chart.Renderer, canvas chart.Box, defaults chart.Style) {
		colWidth := (chartWidth - 40) / legendColumns
		for i, s := range series {
			x := 20 + (i%legendColumns)*colWidth
			y := canvas.Bottom + legendTop + (i/legendColumns)*legendRow
			st := s.GetStyle()
			r.SetStrokeColor(st.StrokeColor)
			r.SetStrokeWidth(st.StrokeWidth)
			r.SetStrokeDashArray(st.StrokeDashArray)
			r.MoveTo(x, y-4)
			r.LineTo(x+24, y-4)
			r.Stroke()
			r.SetStrokeDashArray(nil)
			text := chart.Style{FontSize: 9, FontColor: drawing.ColorFromHex("333333"), Font: defaults.Font}
			text.WriteTextOptionsToRenderer(r)
			r.Text(s.GetName(), x+30, y)
		}
	}
}

func growthSubtitle(rep *growthReport) string {
	s := rep.Settings
	return fmt.Sprintf("ingest: median of %d runs of %s events (%.0f%% duplicates) per size; reads: %d requests per shape, ingest idle; %d cores; %s",
		s.Runs, thousands(float64(s.Events)), s.DupRate*100, s.Reads, rep.Machine.Cores, rep.StartedAt.Format("2006-01-02"))
}

// readPalette tells the read shapes apart: pairs of shades, a shape's two
// orders side by side.
var readPalette = []drawing.Color{
	drawing.ColorFromHex("1f77b4"), drawing.ColorFromHex("ff7f0e"), drawing.ColorFromHex("2ca02c"),
	drawing.ColorFromHex("d62728"), drawing.ColorFromHex("aec7e8"), drawing.ColorFromHex("ffbb78"),
	drawing.ColorFromHex("98df8a"), drawing.ColorFromHex("ff9896"), drawing.ColorFromHex("9467bd"),
	drawing.ColorFromHex("c5b0d5"), drawing.ColorFromHex("8c564b"), drawing.ColorFromHex("c49c94"),
	drawing.ColorFromHex("e377c2"), drawing.ColorFromHex("7f7f7f"), drawing.ColorFromHex("bcbd22"),
	drawing.ColorFromHex("17becf"),
}

package main

import (
	"encoding/xml"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// svgTexts reads an SVG document and returns its root element's name and
// the texts it shows.
func svgTexts(t *testing.T, svg []byte) (root string, texts map[string]bool) {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(string(svg)))
	texts = map[string]bool{}
	inText := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return root, texts
		}
		require.NoError(t, err)
		switch el := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = el.Name.Local
			}
			inText = el.Name.Local == "text"
		case xml.CharData:
			if inText {
				texts[strings.TrimSpace(string(el))] = true
			}
		case xml.EndElement:
			inText = false
		}
	}
}

func TestGrowthChartIsSVG(t *testing.T) {
	t.Parallel()
	rep := sampleGrowthReport()
	rep.Sizes[1].Reads[3].P99Ms = nan() // a shape not measured at one size is left out there
	svg, err := growthChart(rep)
	require.NoError(t, err)
	root, texts := svgTexts(t, svg)
	require.Equal(t, "svg", root)
	for _, want := range []string{
		"logagg as the store grows: ingest events/s (left axis) and read p99 in ms (right axis)",
		"events stored before the runs (preloaded)", "end-to-end events/s", "read p99, ms",
		"0", "5M", "20M", // a tick at each size
		"ingest, into the preloaded store", "ingest, into an empty store (alternating)", "the read p99 goal, 50 ms",
		"first page p99", "topic, page 50 p99", "1d window, order=timestamp p99", "/events/count p99",
		growthSubtitle(rep),
	} {
		require.True(t, texts[want], "the chart shows %q; it shows %v", want, texts)
	}
}

func TestGrowthChartNeedsAnIngestRun(t *testing.T) {
	t.Parallel()
	_, err := growthChart(&growthReport{})
	require.ErrorContains(t, err, "no size was measured")
	rep := sampleGrowthReport()
	for i := range rep.Sizes {
		rep.Sizes[i].Stored.Summary.E2EEventsPerSec, rep.Sizes[i].Empty.Summary.E2EEventsPerSec = nan(), nan()
	}
	_, err = growthChart(rep)
	require.ErrorContains(t, err, "no ingest run was measured")
}

package loadgen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

type decoded struct {
	Topic     string          `json:"topic"`
	EventID   string          `json:"event_id"`
	Timestamp string          `json:"timestamp"`
	Source    string          `json:"source"`
	Payload   json.RawMessage `json:"payload"`
}

func TestGenerateCounts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		events, wantDups, wantUniques int
		dupRate                       float64
	}{
		{events: 10000, dupRate: 0, wantDups: 0, wantUniques: 10000},
		{events: 10000, dupRate: 0.1, wantDups: 1000, wantUniques: 9000},
		{events: 10000, dupRate: 0.3, wantDups: 3000, wantUniques: 7000},
		{events: 10000, dupRate: 0.5, wantDups: 5000, wantUniques: 5000},
		{events: 7, dupRate: 0.5, wantDups: 4, wantUniques: 3}, // round(3.5) = 4
		{events: 3, dupRate: 0.3333, wantDups: 1, wantUniques: 2},
		{events: 1001, dupRate: 0.9, wantDups: 901, wantUniques: 100},
		{events: 10, dupRate: 1, wantDups: 9, wantUniques: 1}, // the first event is always new
		{events: 1, dupRate: 0.5, wantDups: 0, wantUniques: 1},
		{events: 0, dupRate: 0.3, wantDups: 0, wantUniques: 0},
		{events: 100, dupRate: -1, wantDups: 0, wantUniques: 100},
	} {
		t.Run(fmt.Sprintf("%d_%v", tc.events, tc.dupRate), func(t *testing.T) {
			t.Parallel()
			p := Plan{Events: tc.events, DupRate: tc.dupRate, Seed: 7, RunID: "counts"}
			require.Equal(t, tc.wantDups, p.Duplicates())
			events, unique := Generate(p)
			require.Len(t, events, tc.events)
			require.Equal(t, tc.wantUniques, unique)

			seen := map[[2]string]json.RawMessage{}
			dups := 0
			for i, raw := range events {
				var e decoded
				require.NoError(t, json.Unmarshal(raw, &e), "event %d", i)
				k := [2]string{e.Topic, e.EventID}
				if orig, ok := seen[k]; ok {
					dups++
					require.Equal(t, string(orig), string(raw), "duplicate %d differs from its original", i)
					continue
				}
				seen[k] = raw
			}
			require.Equal(t, tc.wantDups, dups)
			require.Len(t, seen, tc.wantUniques)
		})
	}
}

func TestGenerateEventsAreValid(t *testing.T) {
	t.Parallel()
	for _, p := range []Plan{
		{Events: 5000, DupRate: 0.3, Seed: 1},
		{Events: 500, DupRate: 0.2, Topics: 3, PayloadBytes: 1, Seed: 2, RunID: `quote"back\slash-ünï`},
		{Events: 500, Topics: 50, PayloadBytes: 4000, Seed: 3, RunID: strings.Repeat("r", maxRunIDLen)},
	} {
		t.Run(fmt.Sprint(p.Seed), func(t *testing.T) {
			t.Parallel()
			events, _ := Generate(p)
			topics := map[string]bool{}
			payloadBytes := 0
			for i, raw := range events {
				require.True(t, json.Valid(raw), "event %d: %s", i, raw)
				require.NotContains(t, string(raw), `\u0000`)

				var fields map[string]json.RawMessage
				require.NoError(t, json.Unmarshal(raw, &fields))
				require.ElementsMatch(t, []string{"topic", "event_id", "timestamp", "source", "payload"}, keys(fields))

				var e decoded
				require.NoError(t, json.Unmarshal(raw, &e))
				for name, v := range map[string]string{"topic": e.Topic, "event_id": e.EventID, "source": e.Source} {
					n := utf8.RuneCountInString(v)
					require.True(t, n >= 1 && n <= 255, "event %d: %s has %d characters", i, name, n)
					require.False(t, strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }))
				}
				if p.RunID != "" {
					require.True(t, strings.HasPrefix(e.EventID, p.RunID+"-"), "event_id %q lacks the run id", e.EventID)
				}
				ts, err := time.Parse(time.RFC3339Nano, e.Timestamp)
				require.NoError(t, err, "event %d", i)
				require.False(t, ts.IsZero())
				require.True(t, strings.HasSuffix(e.Timestamp, "Z") || strings.HasSuffix(e.Timestamp, "+07:00"), e.Timestamp)

				var payload map[string]any
				require.NoError(t, json.Unmarshal(e.Payload, &payload), "payload must be an object")
				payloadBytes += len(e.Payload)
				topics[e.Topic] = true
			}
			wantTopics := p.Topics
			if wantTopics == 0 {
				wantTopics = defaultTopics
			}
			require.Len(t, topics, wantTopics)
			if p.PayloadBytes >= 100 {
				avg := payloadBytes / len(events)
				require.InDelta(t, p.PayloadBytes, avg, float64(p.PayloadBytes)/5, "average payload size")
			}
		})
	}
}

func keys(m map[string]json.RawMessage) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestGenerateDefaultPayloadSize(t *testing.T) {
	t.Parallel()
	events, _ := Generate(Plan{Events: 1000, Seed: 4})
	total := 0
	for _, raw := range events {
		var e decoded
		require.NoError(t, json.Unmarshal(raw, &e))
		total += len(e.Payload)
	}
	require.InDelta(t, defaultPayloadBytes, total/len(events), 20)
}

func TestGenerateIsDeterministic(t *testing.T) {
	t.Parallel()
	p := Plan{Events: 3000, DupRate: 0.3, Seed: 42, RunID: "det"}
	a, ua := Generate(p)
	b, ub := Generate(p)
	require.Equal(t, ua, ub)
	require.Equal(t, a, b)

	p.Seed = 43
	c, _ := Generate(p)
	require.NotEqual(t, a, c, "another seed gives other events")
}

func TestGenerateRunsNeverCollide(t *testing.T) {
	t.Parallel()
	p := Plan{Events: 100, Seed: 1}
	a, _ := Generate(p)
	b, _ := Generate(p)
	ids := map[string]bool{}
	for _, raw := range append(a, b...) {
		var e decoded
		require.NoError(t, json.Unmarshal(raw, &e))
		ids[e.EventID] = true
	}
	require.Len(t, ids, 200, "two runs without a RunID share no event_id")
}

func TestGenerateSpreadsDuplicates(t *testing.T) {
	t.Parallel()
	const n, batch = 20000, 500
	events, _ := Generate(Plan{Events: n, DupRate: 0.3, Seed: 9, RunID: "spread"})
	first := map[string]int{}
	var quarters [4]int
	sameRequest, laterRequest := 0, 0
	for i, raw := range events {
		var e decoded
		require.NoError(t, json.Unmarshal(raw, &e))
		k := e.Topic + "\x00" + e.EventID
		j, ok := first[k]
		if !ok {
			first[k] = i
			continue
		}
		quarters[i*4/n]++
		if i/batch == j/batch {
			sameRequest++
		} else {
			laterRequest++
		}
	}
	for q, c := range quarters {
		// 1,500 expected per quarter; sampling noise is a few dozen.
		require.InDelta(t, 1500, c, 300, "duplicates in quarter %d", q)
	}
	require.Greater(t, sameRequest, 1000, "many duplicates share a request with their original")
	require.Greater(t, laterRequest, 1000, "many duplicates come in a later request")
}

func TestGenerateEventsDoNotShareCapacity(t *testing.T) {
	t.Parallel()
	events, _ := Generate(Plan{Events: 3, Seed: 1, RunID: "cap"})
	second := bytes.Clone(events[1])
	_ = append(events[0], 'x')
	require.Equal(t, second, []byte(events[1]), "appending to one event must not overwrite the next")
}

func TestGenerateRejectsUnusableRunID(t *testing.T) {
	t.Parallel()
	require.Panics(t, func() { Generate(Plan{Events: 1, RunID: strings.Repeat("r", maxRunIDLen+1)}) })
	require.Panics(t, func() { Generate(Plan{Events: 1, RunID: "tab\there"}) })
}

func BenchmarkGenerate(b *testing.B) {
	const n = 1_000_000
	b.ReportAllocs()
	for b.Loop() {
		events, _ := Generate(Plan{Events: n, DupRate: 0.3, Seed: 1, RunID: "bench"})
		if len(events) != n {
			b.Fatal(len(events))
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

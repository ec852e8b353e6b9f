package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/testenv"
	"github.com/logagg/logagg/shared/consume"
	"github.com/logagg/logagg/shared/event"
	"github.com/logagg/logagg/shared/store"
)

// TestPublishRefusesTimestampsNoPartCanGiveBack: both are valid RFC 3339,
// but their UTC instants fall in years 10000 and -1, which /events could
// not write back.
func TestPublishRefusesTimestampsNoPartCanGiveBack(t *testing.T) {
	t.Parallel()
	for _, ts := range []string{"9999-12-31T23:59:59-23:59", "0000-01-01T00:00:00+23:59"} {
		h := newHarness(t, nil)
		rec := h.do(t, "POST", "/publish", "application/json",
			`{"topic":"t","event_id":"1","timestamp":"`+ts+`","source":"s"}`)
		require.Equal(t, 422, rec.Code, "%s: %s", ts, rec.Body.String())
		body := decodeBody(t, rec)
		details := body["details"].([]any)
		require.Len(t, details, 1)
		detail := details[0].(map[string]any)
		require.Equal(t, "timestamp", detail["field"])
		require.Contains(t, detail["message"], "0000-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z")
		require.Zero(t, h.queue.count(), "nothing queued")
	}
}

// roundTripSeeds are the edges of what /publish accepts, and a few things
// just past them that the fuzzer may mutate back in.
var roundTripSeeds = func() []string {
	ev := func(id, ts, payload string) string {
		return `{"topic":"t","event_id":"` + id + `","timestamp":"` + ts + `","source":"s","payload":` + payload + `}`
	}
	at := func(ts string) string { return ev("e", ts, `{}`) }
	with := func(payload string) string { return ev("e", "2026-11-25T10:00:00Z", payload) }
	return []string{
		`{"topic":"user.login","event_id":"evt-42","timestamp":"2026-11-25T10:00:00Z","source":"auth-service","payload":{"user":"ana"}}`,
		at("0000-01-01T00:00:00Z"),
		at("9999-12-31T23:59:59.999999Z"),
		at("9999-12-31T23:59:59-23:59"),
		at("0000-01-01T00:00:00+23:59"),
		at("9999-12-31T00:00:59-23:59"),
		at("0000-01-01T23:59:00+23:59"),
		at("2026-11-25T10:00:00.123456789Z"),
		at("9999-12-31T23:59:59.9999999Z"),
		at("0000-01-01T00:00:00.0000009-00:30"),
		at("2026-11-25t10:00:00z"),
		at("2026-11-25t17:00:00.5+07:00"),
		at("2026-11-25T10:00:00,25Z"),
		at(`2026-11-25\u005410:00:00\u005a`),
		with(strings.Repeat(`{"a":`, 63) + `[1]` + strings.Repeat(`}`, 63)),
		with(`{"a":` + strings.Repeat(`[`, 63) + strings.Repeat(`]`, 63) + `}`),
		with(`{"big":123456789012345678901234567890.123456789,"e":1E+2,"neg":-0,"zero":0e200000,"tiny":1e-16383,"huge":1e131071,"h2":-0.1e131072,"f":1.50,"i":-7}`),
		with(`{"s":"\"\\\/\b\f\n\r\t\u0001\u00e9\u2028\u20ac","\ud83d\ude00":"\uD83D\uDE00 😀 ünïcödé","":"empty key","\\u0000":"\\u0000"}`),
		with(`{"dup":1,"dup":{"x":[true,false,null]},"order":{"b":1,"a":2,"aa":3}}`),
		with(`{"bidi":"\u202e\u200b\u200d\ufe0f are prose here"}`),
		with(`null`),
		`{"topic":"t","event_id":"no-payload","timestamp":"2026-11-25T10:00:00Z","source":"s","extra":[1,{"x":2}]}`,
		`{"events":[` + ev("a", "2026-11-25T10:00:00Z", `{"n":1}`) + `,` + ev("a", "2026-11-25T10:00:01Z", `{"n":2}`) + `,` +
			`{"topic":"u","event_id":"a","timestamp":"2026-11-25T10:00:00+07:00","source":"s","payload":{"n":3}}]}`,
		`[` + ev("x", "2026-11-25T10:00:00Z", `{}`) + `,` + ev("y", "2026-11-25T10:00:00-05:30", `{"y":[]}`) + `]`,
		"\xef\xbb\xbf" + ev("bom", "2026-11-25T10:00:00Z", `{}`),
		`{"topic":"` + strings.Repeat("日", 255) + `","event_id":"` + strings.Repeat("😀", 255) + `","timestamp":"2026-11-25T10:00:00Z","source":"caf\u00e9 \"q\" \\ é"}`,
		`{"topic":"t","event_id":"\u202e","timestamp":"2026-11-25T10:00:00Z","source":"s"}`,
		"ndjson:" + ev("1", "2026-11-25T10:00:00Z", `{}`) + "\r\n\n  \n" + ev("2", "2026-11-25t10:00:00.999999999z", `{"k":"v"}`) + "\n",
	}
}()

// messageIDs numbers the queue messages the fuzz target consumes, so that
// the ledger never takes one for a redelivery.
var messageIDs atomic.Int64

// FuzzPublishRoundTrip is the promise that anything /publish accepts,
// /events gives back. A request goes through the real publish handler (so
// the events are encoded and packed as they are for the queue), its
// messages through the consume handler and the store into PostgreSQL, and
// back out through the /events handler. Every distinct event must come back
// with the same text, the same instant to the microsecond (the fraction
// truncated), and a payload that is the same JSON value, as encoding/json
// reads the request. Plain `go test` runs the seeds; `make fuzz` fuzzes.
func FuzzPublishRoundTrip(f *testing.F) {
	if testing.Short() {
		f.Skip("talks to PostgreSQL")
	}
	ctx := context.Background()
	dbURL := testenv.NewDatabase(f)
	st, err := store.Open(ctx, dbURL, store.Options{})
	require.NoError(f, err)
	f.Cleanup(st.Close)
	pool, err := pgxpool.New(ctx, dbURL)
	require.NoError(f, err)
	f.Cleanup(pool.Close)

	for _, s := range roundTripSeeds {
		body, ndjson := strings.CutPrefix(s, "ndjson:")
		f.Add(ndjson, []byte(body))
	}
	quiet := slog.New(slog.DiscardHandler)
	handler := &consume.Handler{Store: st, Logger: quiet}

	f.Fuzz(func(t *testing.T, ndjson bool, body []byte) {
		// Each input starts from no events, so that its own are the ones
		// listed, not duplicates of an earlier input's.
		_, err := pool.Exec(ctx, `DELETE FROM processed_events; DELETE FROM event_keys; DELETE FROM consumed_messages; DELETE FROM duplicate_events; DELETE FROM dead_letters`)
		require.NoError(t, err)
		h := newHarness(t, func(d *Deps) {
			d.Reader, d.Logger = st, quiet
			d.Limits = event.Limits{MaxEvents: 100, MaxEventBytes: 256 << 10}
			d.MaxBodyBytes, d.MaxMessageEvents = 4<<20, 10
		})
		ctype := "application/json"
		if ndjson {
			ctype = "application/x-ndjson"
		}

		rec := h.do(t, "POST", "/publish", ctype, string(body))
		if rec.Code != 202 {
			require.Contains(t, []int{400, 413, 422}, rec.Code, rec.Body.String())
			return
		}
		want := requestEvents(t, ndjson, body)

		// Consume the messages as a worker does: an SQS-shaped batch.
		var batch events.SQSEvent
		for _, m := range h.queue.messages {
			batch.Records = append(batch.Records, events.SQSMessage{
				MessageId: "m" + strconv.FormatInt(messageIDs.Add(1), 10), Body: string(m.Body), EventSource: "aws:sqs",
				Attributes: map[string]string{"ApproximateReceiveCount": "1"},
			})
		}
		resp, err := handler.Handle(ctx, batch)
		require.NoError(t, err)
		require.Empty(t, resp.BatchItemFailures)
		var deadReasons string
		require.NoError(t, pool.QueryRow(ctx, `SELECT coalesce(string_agg(reason, '; '), '') FROM dead_letters`).Scan(&deadReasons))
		require.Empty(t, deadReasons, "accepted, then dead-lettered")

		rec = h.do(t, "GET", "/events?limit=1000", "", "")
		require.Equal(t, 200, rec.Code, rec.Body.String())
		var got []struct {
			Topic       string          `json:"topic"`
			EventID     string          `json:"event_id"`
			Timestamp   string          `json:"timestamp"`
			Source      string          `json:"source"`
			Payload     json.RawMessage `json:"payload"`
			ProcessedAt string          `json:"processed_at"`
		}
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got), "a 200 from /events is a JSON array: %.300s", rec.Body.String())
		require.Len(t, got, len(want))
		for _, g := range got {
			w, ok := want[event.Key{Topic: g.Topic, EventID: g.EventID}]
			require.True(t, ok, "%q/%q was not published", g.Topic, g.EventID)
			require.Equal(t, w.source, g.Source)
			ts, err := time.Parse(time.RFC3339Nano, g.Timestamp)
			require.NoError(t, err)
			require.True(t, w.instant.Equal(ts), "timestamp %s sent, %s given back", w.timestamp, g.Timestamp)
			requireSameJSON(t, w.payload, g.Payload)
			_, err = time.Parse(time.RFC3339Nano, g.ProcessedAt)
			require.NoError(t, err)
		}
	})
}

// sentEvent is an event as the request carried it.
type sentEvent struct {
	source    string
	timestamp string
	instant   time.Time // the timestamp truncated to microseconds
	payload   json.RawMessage
}

// requestEvents reads the distinct events of a publish body with
// encoding/json, apart from the decoder under test: the first event of a key
// is the one kept.
func requestEvents(t *testing.T, ndjson bool, body []byte) map[event.Key]sentEvent {
	t.Helper()
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	var objects []map[string]json.RawMessage
	if ndjson {
		for line := range bytes.SplitSeq(body, []byte("\n")) {
			if line = bytes.Trim(line, " \t\r\n"); len(line) > 0 {
				var o map[string]json.RawMessage
				require.NoError(t, json.Unmarshal(line, &o))
				objects = append(objects, o)
			}
		}
	} else {
		var top json.RawMessage
		require.NoError(t, json.Unmarshal(body, &top))
		if top[0] == '[' {
			require.NoError(t, json.Unmarshal(top, &objects))
		} else {
			var o map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(top, &o))
			if batch, ok := o["events"]; ok {
				require.NoError(t, json.Unmarshal(batch, &objects))
			} else {
				objects = []map[string]json.RawMessage{o}
			}
		}
	}

	text := func(o map[string]json.RawMessage, name string) string {
		var s string
		require.NoError(t, json.Unmarshal(o[name], &s), name)
		return s
	}
	sent := map[event.Key]sentEvent{}
	for _, o := range objects {
		key := event.Key{Topic: text(o, "topic"), EventID: text(o, "event_id")}
		if _, ok := sent[key]; ok {
			continue
		}
		e := sentEvent{source: text(o, "source"), timestamp: text(o, "timestamp"), payload: o["payload"]}
		// RFC 3339 allows t and z in lower case; time.Parse does not.
		ts, err := time.Parse(time.RFC3339, strings.ToUpper(e.timestamp))
		require.NoError(t, err)
		e.instant = ts.Truncate(time.Microsecond)
		if len(e.payload) == 0 || string(e.payload) == "null" {
			e.payload = json.RawMessage(`{}`)
		}
		sent[key] = e
	}
	return sent
}

// requireSameJSON checks that two JSON texts hold the same value: objects
// with the same members whatever their order, numbers equal as decimals
// (PostgreSQL's jsonb writes 1E+2 as 100 and -0 as 0).
func requireSameJSON(t *testing.T, want, got []byte) {
	t.Helper()
	decode := func(data []byte) any {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var v any
		require.NoError(t, dec.Decode(&v))
		return v
	}
	require.True(t, sameJSONValue(decode(want), decode(got)), "payload sent %.500s\ngiven back %.500s", want, got)
}

func sameJSONValue(a, b any) bool {
	switch a := a.(type) {
	case json.Number:
		b, ok := b.(json.Number)
		return ok && sameNumber(a, b)
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, v := range a {
			if w, ok := b[k]; !ok || !sameJSONValue(v, w) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !sameJSONValue(a[i], b[i]) {
				return false
			}
		}
		return true
	default: // string, bool, nil
		return a == b
	}
}

// sameNumber compares two JSON numbers exactly, as rationals.
func sameNumber(a, b json.Number) bool {
	x, okX := new(big.Rat).SetString(a.String())
	y, okY := new(big.Rat).SetString(b.String())
	if !okX || !okY {
		panic(fmt.Sprintf("not numbers: %s, %s", a, b))
	}
	return x.Cmp(y) == 0
}

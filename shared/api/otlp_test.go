package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/logagg/logagg/shared/event"
)

// otlpJSONBody is an export in OTLP's JSON encoding, hex IDs and all.
const otlpJSONBody = `{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}}]},
 "scopeLogs":[{"scope":{"name":"app"},"logRecords":[
  {"timeUnixNano":"1795600800000000000","severityNumber":9,"body":{"stringValue":"order placed"},
   "attributes":[{"key":"order.id","value":{"intValue":"42"}}],
   "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"}]}]}]}`

// logsRequest is an export of one resource "checkout" holding recs.
func logsRequest(recs ...*logspb.LogRecord) *collogspb.ExportLogsServiceRequest {
	return &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{{Key: "service.name",
			Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "checkout"}}}}},
		ScopeLogs: []*logspb.ScopeLogs{{LogRecords: recs}},
	}}}
}

func textRecord(body string) *logspb.LogRecord {
	return &logspb.LogRecord{TimeUnixNano: 1795600800000000000,
		Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: body}}}
}

func protobufOf(t *testing.T, m proto.Message) string {
	t.Helper()
	b, err := proto.Marshal(m)
	require.NoError(t, err)
	return string(b)
}

// otlpStatus reads a google.rpc.Status answer in enc.
func otlpStatus(t *testing.T, rec *httptest.ResponseRecorder, enc string) *status.Status {
	t.Helper()
	st := &status.Status{}
	decodeOTLP(t, rec, enc, st)
	return st
}

// decodeOTLP reads the answer in enc into m.
func decodeOTLP(t *testing.T, rec *httptest.ResponseRecorder, enc string, m proto.Message) {
	t.Helper()
	require.Equal(t, enc, rec.Header().Get("Content-Type"), rec.Body.String())
	if enc == otlpProtobuf {
		require.NoError(t, proto.Unmarshal(rec.Body.Bytes(), m))
	} else {
		require.NoError(t, protojson.Unmarshal(rec.Body.Bytes(), m), rec.Body.String())
	}
}

func otlpResponse(t *testing.T, rec *httptest.ResponseRecorder, enc string) *collogspb.ExportLogsServiceResponse {
	t.Helper()
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	resp := &collogspb.ExportLogsServiceResponse{}
	decodeOTLP(t, rec, enc, resp)
	return resp
}

// queuedEvents decodes what the harness's queue holds.
func queuedEvents(t *testing.T, h harness) []event.Event {
	t.Helper()
	h.queue.mu.Lock()
	defer h.queue.mu.Unlock()
	var out []event.Event
	for _, b := range h.queue.bodies {
		evs, err := event.DecodeMessage(b)
		require.NoError(t, err)
		out = append(out, evs...)
	}
	return out
}

func TestOTLPJSONReadsHexIDs(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	rec := h.do(t, "POST", "/v1/logs", "application/json", otlpJSONBody)
	resp := otlpResponse(t, rec, otlpJSON)
	require.Nil(t, resp.PartialSuccess)
	evs := queuedEvents(t, h)
	require.Len(t, evs, 1)
	require.Equal(t, "checkout", evs[0].Topic)
	var p map[string]any
	require.NoError(t, json.Unmarshal(evs[0].Payload, &p))
	require.Equal(t, "5b8efff798038103d269b633813fc60c", p["trace_id"], "hex in, hex out: not read as base64")
	require.Equal(t, "eee19b7ec3c1b174", p["span_id"])
	require.Equal(t, map[string]any{"order.id": 42.0}, p["attributes"], "a 64-bit integer sent as a string")
	require.Equal(t, 9.0, p["severity_number"])
}

// The same export in protobuf and in JSON is the same event, event_id
// included: a retry in the other encoding is still a duplicate.
func TestOTLPProtobufAndJSONMakeTheSameEvent(t *testing.T) {
	t.Parallel()
	fromJSON := newHarness(t, nil)
	otlpResponse(t, fromJSON.do(t, "POST", "/v1/logs", "application/json", otlpJSONBody), otlpJSON)

	req := &collogspb.ExportLogsServiceRequest{}
	body, err := hexIDsToBase64([]byte(otlpJSONBody), newOTLPShape(10, 1<<20))
	require.NoError(t, err)
	require.NoError(t, protojson.Unmarshal(body, req))
	fromProtobuf := newHarness(t, nil)
	otlpResponse(t, fromProtobuf.do(t, "POST", "/v1/logs", otlpProtobuf, protobufOf(t, req)), otlpProtobuf)

	require.Equal(t, queuedEvents(t, fromJSON), queuedEvents(t, fromProtobuf))
}

func TestOTLPReadsGzip(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	body := gzipped(t, []byte(protobufOf(t, logsRequest(textRecord("a"), textRecord("b")))))
	rec := h.do(t, "POST", "/v1/logs", otlpProtobuf, string(body), "Content-Encoding", "gzip")
	otlpResponse(t, rec, otlpProtobuf)
	require.Equal(t, 2, h.queue.count())
}

func TestOTLPGzipBombIsCutAtTheLimit(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	bomb := gzipped(t, make([]byte, 20<<20))
	h := newHarness(t, func(d *Deps) { d.MaxBodyBytes, d.InflightBodyBytes = limit, limit })
	wire := &countingReader{r: bytes.NewReader(bomb)}
	req := httptest.NewRequest("POST", "/v1/logs", wire)
	req.Header.Set("Content-Type", otlpProtobuf)
	req.Header.Set("Content-Encoding", "gzip")
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, req)

	require.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
	st := otlpStatus(t, rec, otlpProtobuf)
	require.Equal(t, int32(code.Code_RESOURCE_EXHAUSTED), st.Code)
	require.Contains(t, st.Message, fmt.Sprintf("over the limit of %d bytes", limit))
	require.Less(t, wire.n.Load(), int64(len(bomb))/2, "reading stopped soon after the limit")
	requireBudgetFree(t, h.srv, limit)
}

func TestOTLPPartialSuccess(t *testing.T) {
	t.Parallel()
	bad := textRecord("bad")
	bad.Attributes = []*commonpb.KeyValue{{Key: "log.record.uid", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "a\tb"}}}}
	for _, enc := range []string{otlpProtobuf, otlpJSON} {
		obs := &codeRecorder{}
		var logs bytes.Buffer
		h := newHarness(t, func(d *Deps) {
			d.Observer = obs
			d.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		})
		req := logsRequest(textRecord("one"), bad, textRecord("two"))
		var body string
		if enc == otlpProtobuf {
			body = protobufOf(t, req)
		} else {
			b, err := protojson.Marshal(req)
			require.NoError(t, err)
			body = string(b)
		}
		resp := otlpResponse(t, h.do(t, "POST", "/v1/logs", enc, body), enc)
		require.Equal(t, int64(1), resp.GetPartialSuccess().GetRejectedLogRecords())
		require.Contains(t, resp.GetPartialSuccess().GetErrorMessage(), "log_records[1]: event event_id")
		require.Equal(t, 2, h.queue.count(), "the good records are queued")
		require.Equal(t, 1, obs.rejected(), "the refused record is counted")
		require.Contains(t, logs.String(), "OTLP log records refused")
		require.Contains(t, logs.String(), "rejected=1")
	}
}

// When every record is refused the request failed with bad data, which
// OTLP answers 400 so that exporters do not retry it.
func TestOTLPEveryRecordRefusedIs400(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	huge := textRecord(strings.Repeat("x", 2000)) // over the harness's MaxEventBytes
	rec := h.do(t, "POST", "/v1/logs", otlpProtobuf, protobufOf(t, logsRequest(huge)))
	require.Equal(t, http.StatusBadRequest, rec.Code)
	st := otlpStatus(t, rec, otlpProtobuf)
	require.Equal(t, int32(code.Code_INVALID_ARGUMENT), st.Code)
	require.Contains(t, st.Message, "every log record was refused")
	require.Zero(t, h.queue.count())
}

func TestOTLPEmptyExportSucceeds(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	otlpResponse(t, h.do(t, "POST", "/v1/logs", otlpProtobuf, ""), otlpProtobuf)
	require.Zero(t, h.queue.count())
}

func TestOTLPErrorsAreRPCStatus(t *testing.T) {
	t.Parallel()
	keyed := func(d *Deps) { d.APIKeys = []string{"k1"} }
	cases := []struct {
		name       string
		mod        func(*Deps)
		queueErr   error
		ctype      string
		body       string
		header     []string
		status     int
		code       code.Code
		retryAfter string
		message    string
	}{
		{name: "unsupported content type", ctype: "text/plain", body: "x", status: 415, code: code.Code_INVALID_ARGUMENT,
			message: "application/x-protobuf or application/json"},
		{name: "no content type", body: "x", status: 415, code: code.Code_INVALID_ARGUMENT, message: "not an OTLP/HTTP encoding"},
		{name: "malformed protobuf", ctype: otlpProtobuf, body: "\xff\xff", status: 400, code: code.Code_INVALID_ARGUMENT,
			message: "not an OTLP ExportLogsServiceRequest"},
		{name: "malformed JSON", ctype: otlpJSON, body: "{", status: 400, code: code.Code_INVALID_ARGUMENT},
		{name: "trace ID not hex", ctype: otlpJSON, status: 400, code: code.Code_INVALID_ARGUMENT, message: "traceId",
			body: `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"zz"}]}]}]}`},
		{name: "missing key", mod: keyed, ctype: otlpProtobuf, status: 401, code: code.Code_UNAUTHENTICATED, message: "Authorization: Bearer"},
		{name: "wrong bearer key", mod: keyed, ctype: otlpJSON, header: []string{"Authorization", "Bearer nope"}, status: 401,
			code: code.Code_UNAUTHENTICATED},
		{name: "queue over its backlog", queueErr: event.Errorf(event.Overloaded, "backlog full"), ctype: otlpProtobuf,
			status: 429, code: code.Code_RESOURCE_EXHAUSTED, retryAfter: "1", message: "backlog full"},
		{name: "queue down", queueErr: event.Errorf(event.Unavailable, "queue unavailable"), ctype: otlpJSON,
			status: 503, code: code.Code_UNAVAILABLE, retryAfter: "5", message: "queue unavailable"},
		{name: "internal", queueErr: errors.New("dial tcp: secret detail"), ctype: otlpProtobuf,
			status: 500, code: code.Code_INTERNAL, message: "internal error"},
		{name: "from another site", ctype: otlpJSON, header: []string{"Sec-Fetch-Site", "cross-site"}, status: 403,
			code: code.Code_PERMISSION_DENIED, message: "cross-site request refused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tc.mod)
			h.queue.err = tc.queueErr
			body := tc.body
			if body == "" && tc.ctype == otlpProtobuf {
				body = protobufOf(t, logsRequest(textRecord("a")))
			} else if body == "" {
				body = otlpJSONBody
			}
			rec := h.do(t, "POST", "/v1/logs", tc.ctype, body, tc.header...)
			require.Equal(t, tc.status, rec.Code, rec.Body.String())
			require.Equal(t, tc.retryAfter, rec.Header().Get("Retry-After"))
			enc := tc.ctype
			if enc != otlpProtobuf {
				enc = otlpJSON
			}
			st := otlpStatus(t, rec, enc)
			require.Equal(t, int32(tc.code), st.Code)
			require.Contains(t, st.Message, tc.message)
			require.NotContains(t, st.Message, "secret detail")
		})
	}
}

// The other routes keep their JSON errors when /v1/logs is served.
func TestOTLPErrorsStayOnTheirRoute(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(d *Deps) { d.APIKeys = []string{"k1"} })
	rec := h.do(t, "POST", "/publish", otlpProtobuf, "x")
	require.Equal(t, 401, rec.Code)
	require.Contains(t, decodeBody(t, rec)["error"], "X-API-Key")
}

// Rewriting the hex IDs must not loosen what protojson accepts: what is
// refused without a traceId is refused with one.
func TestOTLPJSONHexRewriteKeepsItStrict(t *testing.T) {
	t.Parallel()
	const rec = `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{%s"body":{"stringValue":"%s"}}]}]}]}%s`
	cases := map[string][2]string{ // name: body, trailing
		"trailing garbage": {"a", " trailing"},
		"second value":     {"a", " {}"},
		"invalid UTF-8":    {"a\xff", ""},
		"duplicate keys":   {`a"},"body":{"stringValue":"b`, ""},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, id := range []string{"", `"traceId":"5b8efff798038103d269b633813fc60c",`} {
				h := newHarness(t, nil)
				rec := h.do(t, "POST", "/v1/logs", otlpJSON, fmt.Sprintf(rec, id, c[0], c[1]))
				require.Equal(t, http.StatusBadRequest, rec.Code, "with %q: %s", id, rec.Body.String())
				require.Zero(t, h.queue.count())
			}
		})
	}
}

// wrapped is b as field num of a message: tag, length, bytes.
func wrapped(num protowire.Number, b []byte) []byte {
	out := protowire.AppendTag(nil, num, protowire.BytesType)
	return protowire.AppendBytes(out, b)
}

// emptyRecordsExport is an export of n empty log records, two bytes each
// on the wire, in enc.
func emptyRecordsExport(enc string, n int) []byte {
	if enc == otlpJSON {
		recs := strings.TrimSuffix(strings.Repeat("{},", n), ",")
		return []byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[` + recs + `]}]}]}`)
	}
	recs := bytes.Repeat(wrapped(2, nil), n)
	return wrapped(1, wrapped(2, recs))
}

// emptyValuesExport is an export of one record whose body is an array of
// n empty values, in enc.
func emptyValuesExport(enc string, n int) []byte {
	if enc == otlpJSON {
		vals := strings.TrimSuffix(strings.Repeat("{},", n), ",")
		return []byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"arrayValue":{"values":[` + vals + `]}}}]}]}]}`)
	}
	vals := bytes.Repeat(wrapped(1, nil), n) // ArrayValue.values
	body := wrapped(5, wrapped(5, vals))     // LogRecord.body → AnyValue.array_value
	return wrapped(1, wrapped(2, wrapped(2, body)))
}

// A small gzip body that decodes to millions of empty messages is refused
// from its wire bytes, before it is decoded into millions of objects.
// Not parallel: it reads the process's allocation counter.
func TestOTLPMillionsOfEmptyMessagesAreRefusedUndecoded(t *testing.T) {
	h := newHarness(t, func(d *Deps) { d.MaxBodyBytes, d.Limits.MaxEvents = DefaultMaxBodyBytes, event.DefaultMaxEvents })
	cases := []struct {
		name    string
		enc     string
		body    []byte
		message string
	}{
		{"records protobuf", otlpProtobuf, emptyRecordsExport(otlpProtobuf, 3_000_000), "log records in one export"},
		{"records JSON", otlpJSON, emptyRecordsExport(otlpJSON, 2_000_000), "log records in one export"},
		{"values protobuf", otlpProtobuf, emptyValuesExport(otlpProtobuf, 3_000_000), "messages in one export"},
		{"values JSON", otlpJSON, emptyValuesExport(otlpJSON, 2_000_000), "messages in one export"},
	}
	for _, tc := range cases {
		require.Less(t, len(tc.body), DefaultMaxBodyBytes, tc.name)
		body := string(gzipped(t, tc.body))
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		rec := h.do(t, "POST", "/v1/logs", tc.enc, body, "Content-Encoding", "gzip")
		runtime.ReadMemStats(&after)
		require.Equal(t, http.StatusRequestEntityTooLarge, rec.Code, tc.name)
		require.Contains(t, otlpStatus(t, rec, tc.enc).Message, tc.message, tc.name)
		require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(64<<20), "%s: bytes allocated", tc.name)
	}
	require.Zero(t, h.queue.count())
}

func TestOTLPRecordsUpToMaxBatch(t *testing.T) {
	t.Parallel()
	for _, enc := range []string{otlpProtobuf, otlpJSON} {
		h := newHarness(t, nil) // MaxEvents 5
		otlpResponse(t, h.do(t, "POST", "/v1/logs", enc, string(emptyRecordsExport(enc, 5))), enc)
		rec := h.do(t, "POST", "/v1/logs", enc, string(emptyRecordsExport(enc, 6)))
		require.Equal(t, http.StatusRequestEntityTooLarge, rec.Code, enc)
		require.Contains(t, otlpStatus(t, rec, enc).Message, "more than 5 log records in one export", enc)
	}
}

// A resource is copied into every event: a small export of records sharing
// a large resource must not become events larger, together, than a body
// may be. Over MAX_BODY_BYTES of events it is a 413, and nothing is queued.
func TestOTLPEventsOverTheBodyLimitTogetherAre413(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil) // MaxBodyBytes 4096, MaxEventBytes 1024, MaxBatch 5
	req := logsRequest(textRecord("a"), textRecord("b"), textRecord("c"), textRecord("d"), textRecord("e"))
	req.ResourceLogs[0].Resource.Attributes = append(req.ResourceLogs[0].Resource.Attributes, &commonpb.KeyValue{
		Key: "k8s.pod.labels", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: strings.Repeat("l", 700)}}})
	body := protobufOf(t, req)
	require.Less(t, len(body), 4096)
	rec := h.do(t, "POST", "/v1/logs", otlpProtobuf, body)
	require.Equal(t, http.StatusRequestEntityTooLarge, rec.Code, rec.Body.String())
	require.Zero(t, h.queue.count())
}

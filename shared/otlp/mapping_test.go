package otlp

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/logagg/logagg/shared/event"
)

func str(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

var received = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// fullRecord is a record with every field set, in a resource and scope
// with every field set.
func fullRecord() (*logspb.ResourceLogs, *logspb.ScopeLogs, *logspb.LogRecord) {
	rec := &logspb.LogRecord{
		TimeUnixNano:         1795600800123456789,
		ObservedTimeUnixNano: 1795600801000000000,
		SeverityNumber:       logspb.SeverityNumber_SEVERITY_NUMBER_WARN,
		SeverityText:         "WARN",
		EventName:            "order.placed",
		Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: []*commonpb.KeyValue{
			str("msg", "hello"),
			{Key: "n", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: 7}}},
			{Key: "ok", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: true}}},
			{Key: "ratio", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: 0.5}}},
			{Key: "nan", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: math.NaN()}}},
			{Key: "raw", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte{1, 2, 3}}}},
			{Key: "list", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: []*commonpb.AnyValue{
				{Value: &commonpb.AnyValue_StringValue{StringValue: "a"}},
			}}}}},
		}}}},
		Attributes:             []*commonpb.KeyValue{str("user", "ana")},
		DroppedAttributesCount: 2,
		Flags:                  1,
		TraceId:                []byte{0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c},
		SpanId:                 []byte{0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74},
	}
	sl := &logspb.ScopeLogs{
		Scope:     &commonpb.InstrumentationScope{Name: "app", Version: "1.2", Attributes: []*commonpb.KeyValue{str("lib", "x")}},
		SchemaUrl: "https://opentelemetry.io/schemas/1.30.0",
	}
	rl := &logspb.ResourceLogs{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
			str("service.name", "checkout"), str("host.name", "web-1"), str("service.instance.id", "pod-7"),
		}},
	}
	return rl, sl, rec
}

func TestEventMapsEveryField(t *testing.T) {
	t.Parallel()
	rl, sl, rec := fullRecord()
	ev, err := Mapping{}.Event(rl, sl, rec, received)
	require.NoError(t, err)

	require.Equal(t, "checkout", ev.Topic)
	require.Equal(t, "pod-7", ev.Source)
	require.Equal(t, "2026-11-25T10:00:00.123456Z", ev.Timestamp.UTC().Format(time.RFC3339Nano), "microseconds kept")
	digest, err := Digest(rl, sl, rec)
	require.NoError(t, err)
	require.Equal(t, digest, ev.EventID)
	require.Len(t, ev.EventID, 32)

	var p map[string]any
	require.NoError(t, json.Unmarshal(ev.Payload, &p))
	require.Equal(t, map[string]any{
		"body": map[string]any{
			"msg": "hello", "n": 7.0, "ok": true, "ratio": 0.5, "nan": "NaN", "raw": "AQID", "list": []any{"a"},
		},
		"severity_number":          13.0,
		"severity_text":            "WARN",
		"event_name":               "order.placed",
		"attributes":               map[string]any{"user": "ana"},
		"dropped_attributes_count": 2.0,
		"trace_id":                 "5b8efff798038103d269b633813fc60c",
		"span_id":                  "eee19b7ec3c1b174",
		"flags":                    1.0,
		"time_unix_nano":           "1795600800123456789",
		"observed_time_unix_nano":  "1795600801000000000",
		"resource": map[string]any{"attributes": map[string]any{
			"service.name": "checkout", "host.name": "web-1", "service.instance.id": "pod-7",
		}},
		"scope": map[string]any{
			"name": "app", "version": "1.2", "attributes": map[string]any{"lib": "x"},
			"schema_url": "https://opentelemetry.io/schemas/1.30.0",
		},
	}, p)
}

type fallbackCase struct {
	name                  string
	mapping               Mapping
	resource              []*commonpb.KeyValue
	rec                   *logspb.LogRecord
	topic, source, id, ts string
}

func TestEventFallbacks(t *testing.T) {
	t.Parallel()
	withUID := []*commonpb.KeyValue{str(RecordUIDAttribute, "uid-1")}
	cases := []fallbackCase{
		{name: "no resource at all", rec: &logspb.LogRecord{Attributes: withUID},
			topic: UnknownService, source: UnknownService, id: "uid-1", ts: "2026-11-25T10:00:00Z"},
		{name: "host.name without an instance id", resource: []*commonpb.KeyValue{str("service.name", "svc"), str("host.name", "web-1")},
			rec:   &logspb.LogRecord{Attributes: withUID, ObservedTimeUnixNano: 1795600801000000000},
			topic: "svc", source: "web-1", id: "uid-1", ts: "2026-11-25T10:00:01Z"},
		{name: "only service.name", resource: []*commonpb.KeyValue{str("service.name", "svc")},
			rec:   &logspb.LogRecord{Attributes: withUID, TimeUnixNano: 1795600800000000000, ObservedTimeUnixNano: 1795600801000000000},
			topic: "svc", source: "svc", id: "uid-1", ts: "2026-11-25T10:00:00Z"},
		{name: "another topic attribute", mapping: Mapping{TopicAttribute: "deployment.environment"},
			resource: []*commonpb.KeyValue{str("service.name", "svc"), str("deployment.environment", "prod")},
			rec:      &logspb.LogRecord{Attributes: withUID}, topic: "prod", source: "prod", id: "uid-1", ts: "2026-11-25T10:00:00Z"},
		{name: "a non-string uid is its JSON text", resource: []*commonpb.KeyValue{str("service.name", "svc")},
			rec: &logspb.LogRecord{Attributes: []*commonpb.KeyValue{{Key: RecordUIDAttribute,
				Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: 42}}}}},
			topic: "svc", source: "svc", id: "42", ts: "2026-11-25T10:00:00Z"},
	}
	empty := &commonpb.AnyValue{}
	cases = append(cases,
		fallbackCase{name: "empty service.name and instance id fall back", resource: []*commonpb.KeyValue{
			str("service.name", ""), str("service.instance.id", ""), str("host.name", "web-1")},
			rec: &logspb.LogRecord{Attributes: withUID}, topic: UnknownService, source: "web-1", id: "uid-1", ts: "2026-11-25T10:00:00Z"},
		fallbackCase{name: "valueless attributes are absent", resource: []*commonpb.KeyValue{
			{Key: "service.name", Value: empty}, {Key: "service.instance.id"}, str("host.name", "")},
			rec: &logspb.LogRecord{Attributes: withUID}, topic: UnknownService, source: UnknownService, id: "uid-1", ts: "2026-11-25T10:00:00Z"},
	)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rl := &logspb.ResourceLogs{}
			if tc.resource != nil {
				rl.Resource = &resourcepb.Resource{Attributes: tc.resource}
			}
			ev, err := tc.mapping.Event(rl, &logspb.ScopeLogs{}, tc.rec, received)
			require.NoError(t, err)
			require.Equal(t, tc.topic, ev.Topic)
			require.Equal(t, tc.source, ev.Source)
			require.Equal(t, tc.id, ev.EventID)
			require.Equal(t, tc.ts, ev.Timestamp.UTC().Format(time.RFC3339Nano))
		})
	}
}

// What /publish refuses, a record does not bring in: each is refused with
// the reason.
func TestEventRefusesWhatPublishRefuses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		resource []*commonpb.KeyValue
		rec      *logspb.LogRecord
		reason   string
	}{
		{name: "topic with a control character", resource: []*commonpb.KeyValue{str("service.name", "bad\x07name")},
			rec: &logspb.LogRecord{}, reason: "event topic"},
		{name: "event_id over 255 characters", rec: &logspb.LogRecord{Attributes: []*commonpb.KeyValue{str(RecordUIDAttribute, strings.Repeat("x", 256))}},
			reason: "event event_id"},
		{name: "invisible character in the source", resource: []*commonpb.KeyValue{str("service.instance.id", "pod\u200b7")},
			rec: &logspb.LogRecord{}, reason: "event source"},
		{name: "NUL in the body", rec: &logspb.LogRecord{Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "a\x00b"}}},
			reason: "payload"},
		{name: "time past 2262", rec: &logspb.LogRecord{TimeUnixNano: math.MaxUint64}, reason: "time_unix_nano 18446744073709551615 is after 2262"},
		{name: "over MAX_EVENT_BYTES", rec: &logspb.LogRecord{Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: strings.Repeat("x", 2000)}}},
			reason: "bytes encoded; the limit is 1024"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rl := &logspb.ResourceLogs{Resource: &resourcepb.Resource{Attributes: tc.resource}}
			_, err := Mapping{Limits: event.Limits{MaxEventBytes: 1024}}.Event(rl, &logspb.ScopeLogs{}, tc.rec, received)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.reason)
		})
	}
}

func TestMapQueuesTheGoodAndCountsTheBad(t *testing.T) {
	t.Parallel()
	good := &logspb.LogRecord{Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "ok"}}}
	bad := &logspb.LogRecord{Attributes: []*commonpb.KeyValue{str(RecordUIDAttribute, strings.Repeat("x", 256))}}
	req := &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{good, bad, good}}},
	}}}
	res := Mapping{}.Map(req, received)
	require.Len(t, res.Events, 2)
	require.Equal(t, 1, res.Rejected)
	require.Contains(t, res.ErrorMessage(), "1 log records refused: resource_logs[0].scope_logs[0].log_records[1]: event event_id")
	require.Equal(t, 3, Records(req))
}

// The digest is the same for the same record however it travelled, and
// differs when any field differs.
func TestDigestIsStableAndTellsRecordsApart(t *testing.T) {
	t.Parallel()
	rl, sl, rec := fullRecord()
	d, err := Digest(rl, sl, rec)
	require.NoError(t, err)

	req := &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		Resource: rl.Resource, ScopeLogs: []*logspb.ScopeLogs{{Scope: sl.Scope, SchemaUrl: sl.SchemaUrl, LogRecords: []*logspb.LogRecord{rec}}},
	}}}
	for name, roundTrip := range map[string]func() ([]byte, func([]byte, proto.Message) error, error){
		"protobuf": func() ([]byte, func([]byte, proto.Message) error, error) {
			b, err := proto.Marshal(req)
			return b, proto.Unmarshal, err
		},
		"JSON": func() ([]byte, func([]byte, proto.Message) error, error) {
			b, err := protojson.Marshal(req)
			return b, protojson.Unmarshal, err
		},
	} {
		b, unmarshal, err := roundTrip()
		require.NoError(t, err)
		back := &collogspb.ExportLogsServiceRequest{}
		require.NoError(t, unmarshal(b, back), name)
		got := back.ResourceLogs[0]
		again, err := Digest(got, got.ScopeLogs[0], got.ScopeLogs[0].LogRecords[0])
		require.NoError(t, err)
		require.Equal(t, d, again, "the digest survives a round trip through %s", name)
	}

	changes := map[string]func(rl *logspb.ResourceLogs, sl *logspb.ScopeLogs, rec *logspb.LogRecord){
		"time":          func(_ *logspb.ResourceLogs, _ *logspb.ScopeLogs, r *logspb.LogRecord) { r.TimeUnixNano++ },
		"observed time": func(_ *logspb.ResourceLogs, _ *logspb.ScopeLogs, r *logspb.LogRecord) { r.ObservedTimeUnixNano++ },
		"severity":      func(_ *logspb.ResourceLogs, _ *logspb.ScopeLogs, r *logspb.LogRecord) { r.SeverityNumber++ },
		"body": func(_ *logspb.ResourceLogs, _ *logspb.ScopeLogs, r *logspb.LogRecord) {
			r.Body = &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "other"}}
		},
		"attribute": func(_ *logspb.ResourceLogs, _ *logspb.ScopeLogs, r *logspb.LogRecord) {
			r.Attributes[0] = str("user", "bo")
		},
		"trace ID": func(_ *logspb.ResourceLogs, _ *logspb.ScopeLogs, r *logspb.LogRecord) { r.TraceId[0]++ },
		"span ID":  func(_ *logspb.ResourceLogs, _ *logspb.ScopeLogs, r *logspb.LogRecord) { r.SpanId[0]++ },
		"flags":    func(_ *logspb.ResourceLogs, _ *logspb.ScopeLogs, r *logspb.LogRecord) { r.Flags = 0 },
		"scope":    func(_ *logspb.ResourceLogs, s *logspb.ScopeLogs, _ *logspb.LogRecord) { s.Scope.Version = "1.3" },
		"resource": func(l *logspb.ResourceLogs, _ *logspb.ScopeLogs, _ *logspb.LogRecord) {
			l.Resource.Attributes[1] = str("host.name", "web-2")
		},
		"schema URL": func(_ *logspb.ResourceLogs, s *logspb.ScopeLogs, _ *logspb.LogRecord) { s.SchemaUrl = "" },
	}
	for name, change := range changes {
		rl, sl, rec := fullRecord()
		change(rl, sl, rec)
		other, err := Digest(rl, sl, rec)
		require.NoError(t, err)
		require.NotEqual(t, d, other, "a different %s is a different record", name)
	}
}

// A reason names the field once, as /publish's message already does.
func TestRefusalNamesTheFieldOnce(t *testing.T) {
	t.Parallel()
	rl := &logspb.ResourceLogs{Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
		str("service.name", "bad\x07name"), str("service.instance.id", "pod-7"),
	}}}
	_, err := Mapping{}.Event(rl, &logspb.ScopeLogs{}, &logspb.LogRecord{}, received)
	require.Error(t, err)
	require.Equal(t, "event topic must not contain control characters; found U+0007 at character 4", err.Error())
}

// An empty or valueless log.record.uid is absent: the digest is the event_id.
func TestEmptyRecordUIDFallsBackToTheDigest(t *testing.T) {
	t.Parallel()
	for name, uid := range map[string]*commonpb.KeyValue{
		"empty string": str(RecordUIDAttribute, ""),
		"no value":     {Key: RecordUIDAttribute, Value: &commonpb.AnyValue{}},
		"nil value":    {Key: RecordUIDAttribute},
	} {
		rec := &logspb.LogRecord{Attributes: []*commonpb.KeyValue{uid}}
		rl := &logspb.ResourceLogs{}
		ev, err := Mapping{}.Event(rl, &logspb.ScopeLogs{}, rec, received)
		require.NoError(t, err, name)
		digest, err := Digest(rl, &logspb.ScopeLogs{}, rec)
		require.NoError(t, err)
		require.Equal(t, digest, ev.EventID, name)
	}
}

// exportOf is one resource with a resourceBytes-long attribute and scopes
// ScopeLogs of records small records each.
func exportOf(resourceBytes, scopes, records int) *collogspb.ExportLogsServiceRequest {
	rl := &logspb.ResourceLogs{Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
		str("service.name", "svc"), str("big", strings.Repeat("r", resourceBytes)),
	}}}
	for range scopes {
		sl := &logspb.ScopeLogs{Scope: &commonpb.InstrumentationScope{Name: "lib"}}
		for k := range records {
			sl.LogRecords = append(sl.LogRecords, &logspb.LogRecord{TimeUnixNano: uint64(1795600800000000000 + k)})
		}
		rl.ScopeLogs = append(rl.ScopeLogs, sl)
	}
	return &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{rl}}
}

// A resource that alone is over MAX_EVENT_BYTES refuses its records with
// one reason, without an event being built for each.
func TestMapRefusesRecordsOfAResourceOverTheEventLimit(t *testing.T) {
	t.Parallel()
	req := exportOf(2048, 1, 1000)
	res := Mapping{Limits: event.Limits{MaxEventBytes: 1024}}.Map(req, received)
	require.Zero(t, len(res.Events), "no event")
	require.Equal(t, 1000, res.Rejected)
	require.Equal(t, []string{"resource_logs[0].scope_logs[0]: its resource and scope are 2108 bytes encoded, " +
		"so none of its 1000 log records fits an event (the limit is 1024 bytes, MAX_EVENT_BYTES)"}, res.Reasons)
}

// The events of one request together are at most MaxTotalBytes: past it
// the whole request is refused as too large and nothing is queued.
func TestMapRefusesARequestOverTheTotalBytes(t *testing.T) {
	t.Parallel()
	req := exportOf(200<<10, 1, 100)
	res := Mapping{Limits: event.DefaultLimits(), MaxTotalBytes: 1 << 20}.Map(req, received)
	require.Zero(t, len(res.Events), "no event")
	require.Equal(t, 100, res.Rejected)
	require.Equal(t, event.TooLarge, event.ErrorCode(res.Err))
	require.Contains(t, res.Err.Error(), "over 1048576 bytes")
	require.Contains(t, res.ErrorMessage(), "over 1048576 bytes")

	// Unset, the cap is DefaultMaxTotalBytes: 200 KiB × 100 is past it.
	res = Mapping{Limits: event.DefaultLimits()}.Map(req, received)
	require.Zero(t, len(res.Events), "no event")
	require.Equal(t, event.TooLarge, event.ErrorCode(res.Err))
}

// Resource and scope are encoded once per ResourceLogs and ScopeLogs, not
// once per record.
func TestMapEncodesResourceAndScopeOncePerGroup(t *testing.T) {
	t.Parallel()
	req := exportOf(10, 3, 50)
	encoded := map[string]int{}
	m := Mapping{Limits: event.DefaultLimits(), countEncoding: func(part string) { encoded[part]++ }}
	res := m.Map(req, received)
	require.Len(t, res.Events, 150)
	require.Equal(t, map[string]int{"resource": 1, "scope": 3}, encoded)
}

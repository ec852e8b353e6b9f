package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"mime"
	"slices"
	"strings"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"
)

// Protocol is how Publish sends events.
type Protocol string

const (
	// ProtocolJSON is POST /publish with {"events":[...]}.
	ProtocolJSON Protocol = "json"
	// ProtocolOTLP is POST /v1/logs with OTLP/HTTP protobuf
	// ExportLogsServiceRequests, one LogRecord per event.
	ProtocolOTLP Protocol = "otlp"
)

// ParseProtocol reads a protocol's name.
func ParseProtocol(s string) (Protocol, error) {
	switch p := Protocol(strings.ToLower(strings.TrimSpace(s))); p {
	case ProtocolJSON, ProtocolOTLP:
		return p, nil
	}
	return "", fmt.Errorf("protocol %q is neither %q nor %q", s, ProtocolJSON, ProtocolOTLP)
}

// The attributes by which logagg's OTLP mapping finds an event's topic,
// source and event_id (OpenTelemetry semantic conventions).
const (
	otlpTopicAttribute  = "service.name"
	otlpSourceAttribute = "service.instance.id"
	otlpUIDAttribute    = "log.record.uid"
	otlpLogsPath        = "/v1/logs"
	otlpContentType     = "application/x-protobuf"
)

// otlpRecord is one generated event as OTLP carries it: its resource's
// identity and the LogRecord.
type otlpRecord struct {
	topic, source string
	rec           *logspb.LogRecord
}

// toOTLPRecords converts generated events into log records: the
// resource's service.name is the topic and service.instance.id the source,
// the record's log.record.uid attribute is the event_id, time_unix_nano
// the timestamp and the body the payload as a kvlist. A duplicate shares
// its original's bytes (see Generate) and so gets the very same record:
// a resent record is the same event to logagg.
func toOTLPRecords(events []json.RawMessage) ([]otlpRecord, error) {
	out := make([]otlpRecord, len(events))
	seen := make(map[*byte]int, len(events))
	for i, e := range events {
		if len(e) == 0 {
			return nil, fmt.Errorf("event %d is empty", i)
		}
		if j, ok := seen[&e[0]]; ok {
			out[i] = out[j]
			continue
		}
		r, err := toOTLPRecord(e)
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
		seen[&e[0]] = i
		out[i] = r
	}
	return out, nil
}

func toOTLPRecord(raw json.RawMessage) (otlpRecord, error) {
	var e struct {
		Topic     string    `json:"topic"`
		EventID   string    `json:"event_id"`
		Timestamp time.Time `json:"timestamp"`
		Source    string    `json:"source"`
		Payload   any       `json:"payload"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&e); err != nil {
		return otlpRecord{}, err
	}
	return otlpRecord{topic: e.Topic, source: e.Source, rec: &logspb.LogRecord{
		TimeUnixNano: uint64(e.Timestamp.UnixNano()),
		Body:         anyValue(e.Payload),
		Attributes:   []*commonpb.KeyValue{stringAttribute(otlpUIDAttribute, e.EventID)},
	}}, nil
}

func stringAttribute(key, value string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: key, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: value}}}
}

// anyValue converts a value decoded from JSON (with UseNumber) into an
// AnyValue. Object members are sorted by key, so that the same JSON always
// gives the same record.
func anyValue(v any) *commonpb.AnyValue {
	switch v := v.(type) {
	case nil:
		return &commonpb.AnyValue{}
	case bool:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: v}}
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: n}}
		}
		f, _ := v.Float64()
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: f}}
	case string:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}
	case []any:
		arr := &commonpb.ArrayValue{Values: make([]*commonpb.AnyValue, len(v))}
		for i, x := range v {
			arr.Values[i] = anyValue(x)
		}
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: arr}}
	case map[string]any:
		kv := &commonpb.KeyValueList{}
		for _, k := range slices.Sorted(maps.Keys(v)) {
			kv.Values = append(kv.Values, &commonpb.KeyValue{Key: k, Value: anyValue(v[k])})
		}
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: kv}}
	default:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: fmt.Sprint(v)}}
	}
}

// otlpRequest builds one export of batch: one ResourceLogs per (topic,
// source), in the order they first appear, each with one ScopeLogs.
func otlpRequest(batch []otlpRecord) *collogspb.ExportLogsServiceRequest {
	type key struct{ topic, source string }
	req := &collogspb.ExportLogsServiceRequest{}
	scopes := map[key]*logspb.ScopeLogs{}
	for _, r := range batch {
		k := key{r.topic, r.source}
		sl, ok := scopes[k]
		if !ok {
			sl = &logspb.ScopeLogs{Scope: &commonpb.InstrumentationScope{Name: "logagg/loadgen"}}
			scopes[k] = sl
			req.ResourceLogs = append(req.ResourceLogs, &logspb.ResourceLogs{
				Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
					stringAttribute(otlpTopicAttribute, r.topic),
					stringAttribute(otlpSourceAttribute, r.source),
				}},
				ScopeLogs: []*logspb.ScopeLogs{sl},
			})
		}
		sl.LogRecords = append(sl.LogRecords, r.rec)
	}
	return req
}

// postOTLP sends one protobuf export of records records and checks that
// the service took every one: rejected_log_records > 0 fails the run, as a
// JSON request that was not wholly queued does.
func (c *Client) postOTLP(ctx context.Context, body []byte, records int) error {
	data, err := c.post(ctx, otlpLogsPath, otlpContentType, body)
	if err != nil {
		return err
	}
	var ack collogspb.ExportLogsServiceResponse
	if err := proto.Unmarshal(data, &ack); err != nil {
		return fmt.Errorf("POST %s: reading the ExportLogsServiceResponse: %w", otlpLogsPath, err)
	}
	if ps := ack.GetPartialSuccess(); ps.GetRejectedLogRecords() > 0 {
		return fmt.Errorf("POST %s: the service rejected %d of the %d log records sent: %s",
			otlpLogsPath, ps.GetRejectedLogRecords(), records, ps.GetErrorMessage())
	}
	return nil
}

// protobufStatusMessage is the message of a google.rpc.Status, which OTLP
// errors carry in the request's encoding; ok is false when the body is
// not protobuf or not a Status with a message.
func protobufStatusMessage(contentType string, body []byte) (msg string, ok bool) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || mt != otlpContentType {
		return "", false
	}
	var st status.Status
	if proto.Unmarshal(body, &st) != nil || st.GetMessage() == "" {
		return "", false
	}
	return st.GetMessage(), true
}

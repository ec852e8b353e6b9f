// Package otlp turns OpenTelemetry log records (OTLP's official generated
// types) into logagg events, by the mapping the README's "Sending logs"
// section tables. Each event is validated by the very rules /publish
// applies, so nothing a LogRecord carries gets past what /publish refuses.
package otlp

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/proto"

	"github.com/logagg/logagg/shared/event"
)

// Attribute names and values the mapping reads, from OpenTelemetry's
// semantic conventions.
const (
	// DefaultTopicAttribute is the resource attribute whose value is the
	// topic when OTLP_TOPIC_ATTRIBUTE is not set.
	DefaultTopicAttribute = "service.name"
	// UnknownService is the topic of records whose resource has no topic
	// attribute: the SDK specification's default service.name.
	UnknownService = "unknown_service"
	// RecordUIDAttribute is the log record attribute that is the event_id
	// when present.
	RecordUIDAttribute = "log.record.uid"
	instanceAttribute  = "service.instance.id"
	hostAttribute      = "host.name"
)

// digestHexChars is how much of the SHA-256 digest an event_id made from a
// record's content keeps: 128 bits, as many as a UUID.
const digestHexChars = 32

// Mapping maps log records to events.
type Mapping struct {
	// TopicAttribute is the resource attribute that names the topic;
	// DefaultTopicAttribute when empty.
	TopicAttribute string
	// Limits are /publish's, applied to each event.
	Limits event.Limits
}

// Result is a request's records mapped: the events to queue, and how many
// records were refused and why.
type Result struct {
	Events   []event.Event
	Rejected int
	// Reasons are the first reasons records were refused, each naming its
	// record by position (resource_logs[i].scope_logs[j].log_records[k]).
	Reasons []string
}

// maxReasons is how many refused records a Result names; the count covers
// the rest.
const maxReasons = 5

// Records counts the log records of req.
func Records(req *collogspb.ExportLogsServiceRequest) int {
	n := 0
	for _, rl := range req.GetResourceLogs() {
		for _, sl := range rl.GetScopeLogs() {
			n += len(sl.GetLogRecords())
		}
	}
	return n
}

// Map maps every record of req; received stands in for a record that
// carries neither time.
func (m Mapping) Map(req *collogspb.ExportLogsServiceRequest, received time.Time) Result {
	var res Result
	for i, rl := range req.GetResourceLogs() {
		for j, sl := range rl.GetScopeLogs() {
			for k, rec := range sl.GetLogRecords() {
				ev, err := m.Event(rl, sl, rec, received)
				if err != nil {
					res.Rejected++
					if len(res.Reasons) < maxReasons {
						res.Reasons = append(res.Reasons,
							fmt.Sprintf("resource_logs[%d].scope_logs[%d].log_records[%d]: %s", i, j, k, err))
					}
					continue
				}
				res.Events = append(res.Events, ev)
			}
		}
	}
	return res
}

// ErrorMessage is the partial_success error_message for res, empty when no
// record was refused.
func (r Result) ErrorMessage() string {
	if r.Rejected == 0 {
		return ""
	}
	msg := fmt.Sprintf("%d log records refused: %s", r.Rejected, strings.Join(r.Reasons, "; "))
	if more := r.Rejected - len(r.Reasons); more > 0 {
		msg += fmt.Sprintf("; and %d more", more)
	}
	return msg
}

// Event maps one record, of scope sl in resource rl, to an event and
// validates it as /publish validates an event.
func (m Mapping) Event(rl *logspb.ResourceLogs, sl *logspb.ScopeLogs, rec *logspb.LogRecord, received time.Time) (event.Event, error) {
	topicAttr := m.TopicAttribute
	if topicAttr == "" {
		topicAttr = DefaultTopicAttribute
	}
	resAttrs := rl.GetResource().GetAttributes()
	topic := UnknownService
	if v, ok := lookup(resAttrs, topicAttr); ok {
		topic = text(v)
	}
	source := topic
	if v, ok := lookup(resAttrs, instanceAttribute); ok {
		source = text(v)
	} else if v, ok := lookup(resAttrs, hostAttribute); ok {
		source = text(v)
	}
	var eventID string
	if v, ok := lookup(rec.GetAttributes(), RecordUIDAttribute); ok {
		eventID = text(v)
	} else {
		d, err := Digest(rl, sl, rec)
		if err != nil {
			return event.Event{}, err
		}
		eventID = d
	}
	ts, err := timestamp(rec, received)
	if err != nil {
		return event.Event{}, err
	}
	payload, err := json.Marshal(payloadOf(rl, sl, rec))
	if err != nil {
		return event.Event{}, err
	}
	raw, err := json.Marshal(struct {
		Topic     string          `json:"topic"`
		EventID   string          `json:"event_id"`
		Timestamp string          `json:"timestamp"`
		Source    string          `json:"source"`
		Payload   json.RawMessage `json:"payload"`
	}{topic, eventID, ts.Format(time.RFC3339Nano), source, payload})
	if err != nil {
		return event.Event{}, err
	}
	// The event goes through /publish's own decoder: one set of rules.
	evs, err := event.DecodeRequest("application/json", raw, m.Limits)
	if err != nil {
		return event.Event{}, refusal(err)
	}
	return evs[0], nil
}

// refusal words a validation error of a one-event request as a reason for
// one record.
func refusal(err error) error {
	e, ok := err.(*event.Error)
	if !ok || len(e.Details) == 0 {
		return err
	}
	parts := make([]string, len(e.Details))
	for i, d := range e.Details {
		switch {
		case d.Field == "":
			parts[i] = d.Message
		case strings.HasPrefix(d.Message, d.Field+" "):
			// /publish's messages mostly open with the field already.
			parts[i] = "event " + d.Message
		default:
			parts[i] = "event " + d.Field + " " + d.Message
		}
	}
	return fmt.Errorf("%s", strings.Join(parts, "; "))
}

// Digest is the event_id of a record without log.record.uid: the SHA-256
// of the deterministic protobuf encoding of the record with its resource
// and scope, in hex, cut to digestHexChars. The same record re-sent, in
// either encoding, has the same digest; records that differ in any field
// (times, body, attributes, trace context, …) differ.
func Digest(rl *logspb.ResourceLogs, sl *logspb.ScopeLogs, rec *logspb.LogRecord) (string, error) {
	whole := &logspb.ResourceLogs{
		Resource:  rl.GetResource(),
		SchemaUrl: rl.GetSchemaUrl(),
		ScopeLogs: []*logspb.ScopeLogs{{
			Scope:      sl.GetScope(),
			SchemaUrl:  sl.GetSchemaUrl(),
			LogRecords: []*logspb.LogRecord{rec},
		}},
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(whole)
	if err != nil {
		return "", fmt.Errorf("record cannot be encoded for its digest: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:digestHexChars], nil
}

// timestamp is the record's time, else its observed time, else received.
func timestamp(rec *logspb.LogRecord, received time.Time) (time.Time, error) {
	for _, f := range []struct {
		name string
		ns   uint64
	}{{"time_unix_nano", rec.GetTimeUnixNano()}, {"observed_time_unix_nano", rec.GetObservedTimeUnixNano()}} {
		if f.ns == 0 {
			continue
		}
		if f.ns > math.MaxInt64 {
			// Past 2262-04-11, where Go's time.Unix stops: read as a
			// signed number it would wrap to before 1970.
			return time.Time{}, fmt.Errorf("%s %d is after 2262-04-11T23:47:16.854775807Z, the latest time accepted", f.name, f.ns)
		}
		return time.Unix(0, int64(f.ns)).UTC(), nil
	}
	return received.UTC(), nil
}

// payload is what an event keeps of its record: everything, so that
// /events gives back the record. Empty fields are left out.
type payload struct {
	Body                   any            `json:"body,omitempty"`
	SeverityNumber         int32          `json:"severity_number,omitempty"`
	SeverityText           string         `json:"severity_text,omitempty"`
	EventName              string         `json:"event_name,omitempty"`
	Attributes             map[string]any `json:"attributes,omitempty"`
	DroppedAttributesCount uint32         `json:"dropped_attributes_count,omitempty"`
	TraceID                string         `json:"trace_id,omitempty"`
	SpanID                 string         `json:"span_id,omitempty"`
	Flags                  uint32         `json:"flags,omitempty"`
	// The times exactly, in nanoseconds as strings (the event's timestamp
	// keeps microseconds; a JSON number would lose digits in JavaScript).
	TimeUnixNano         string    `json:"time_unix_nano,omitempty"`
	ObservedTimeUnixNano string    `json:"observed_time_unix_nano,omitempty"`
	Resource             *resource `json:"resource,omitempty"`
	Scope                *scope    `json:"scope,omitempty"`
}

type resource struct {
	Attributes             map[string]any `json:"attributes,omitempty"`
	DroppedAttributesCount uint32         `json:"dropped_attributes_count,omitempty"`
	SchemaURL              string         `json:"schema_url,omitempty"`
}

type scope struct {
	Name                   string         `json:"name,omitempty"`
	Version                string         `json:"version,omitempty"`
	Attributes             map[string]any `json:"attributes,omitempty"`
	DroppedAttributesCount uint32         `json:"dropped_attributes_count,omitempty"`
	SchemaURL              string         `json:"schema_url,omitempty"`
}

func payloadOf(rl *logspb.ResourceLogs, sl *logspb.ScopeLogs, rec *logspb.LogRecord) payload {
	p := payload{
		SeverityNumber:         int32(rec.GetSeverityNumber()),
		SeverityText:           rec.GetSeverityText(),
		EventName:              rec.GetEventName(),
		Attributes:             attributes(rec.GetAttributes()),
		DroppedAttributesCount: rec.GetDroppedAttributesCount(),
		TraceID:                hex.EncodeToString(rec.GetTraceId()),
		SpanID:                 hex.EncodeToString(rec.GetSpanId()),
		Flags:                  rec.GetFlags(),
		TimeUnixNano:           nanos(rec.GetTimeUnixNano()),
		ObservedTimeUnixNano:   nanos(rec.GetObservedTimeUnixNano()),
	}
	if rec.GetBody() != nil {
		p.Body = value(rec.GetBody())
	}
	if r := resourceOf(rl.GetResource(), rl.GetSchemaUrl()); r.Attributes != nil || r.DroppedAttributesCount != 0 || r.SchemaURL != "" {
		p.Resource = &r
	}
	if s := scopeOf(sl.GetScope(), sl.GetSchemaUrl()); s.Attributes != nil || s.Name != "" || s.Version != "" ||
		s.DroppedAttributesCount != 0 || s.SchemaURL != "" {
		p.Scope = &s
	}
	return p
}

func resourceOf(r *resourcepb.Resource, schemaURL string) resource {
	return resource{Attributes: attributes(r.GetAttributes()), DroppedAttributesCount: r.GetDroppedAttributesCount(), SchemaURL: schemaURL}
}

func scopeOf(s *commonpb.InstrumentationScope, schemaURL string) scope {
	return scope{Name: s.GetName(), Version: s.GetVersion(), Attributes: attributes(s.GetAttributes()),
		DroppedAttributesCount: s.GetDroppedAttributesCount(), SchemaURL: schemaURL}
}

func nanos(ns uint64) string {
	if ns == 0 {
		return ""
	}
	return strconv.FormatUint(ns, 10)
}

// attributes is kvs as a JSON object; when a key repeats, the last wins.
func attributes(kvs []*commonpb.KeyValue) map[string]any {
	if len(kvs) == 0 {
		return nil
	}
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		m[kv.GetKey()] = value(kv.GetValue())
	}
	return m
}

// value is an AnyValue as JSON: strings, booleans and numbers as
// themselves, arrays and key-value lists as arrays and objects, bytes as
// base64, and a double JSON cannot hold (NaN, ±Inf) as its name in a string.
func value(v *commonpb.AnyValue) any {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_BoolValue:
		return x.BoolValue
	case *commonpb.AnyValue_IntValue:
		return x.IntValue
	case *commonpb.AnyValue_DoubleValue:
		if math.IsNaN(x.DoubleValue) || math.IsInf(x.DoubleValue, 0) {
			return strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
		}
		return x.DoubleValue
	case *commonpb.AnyValue_BytesValue:
		return base64.StdEncoding.EncodeToString(x.BytesValue)
	case *commonpb.AnyValue_ArrayValue:
		out := make([]any, 0, len(x.ArrayValue.GetValues()))
		for _, e := range x.ArrayValue.GetValues() {
			out = append(out, value(e))
		}
		return out
	case *commonpb.AnyValue_KvlistValue:
		if m := attributes(x.KvlistValue.GetValues()); m != nil {
			return m
		}
		return map[string]any{}
	}
	return nil // an empty AnyValue
}

// lookup finds key among kvs, the last one when it repeats. A value that
// is empty (no value, or the empty string) counts as absent, so that the
// mapping falls back as when the attribute is missing: an SDK sends
// service.name "" for an unset name, and "" is no identifier.
func lookup(kvs []*commonpb.KeyValue, key string) (*commonpb.AnyValue, bool) {
	var found *commonpb.AnyValue
	for _, kv := range kvs {
		if kv.GetKey() == key {
			found = kv.GetValue()
		}
	}
	switch v := found.GetValue().(type) {
	case nil:
		return nil, false
	case *commonpb.AnyValue_StringValue:
		return found, v.StringValue != ""
	}
	return found, true
}

// text is an attribute value as an identifier: a string as itself, any
// other value as its JSON text.
func text(v *commonpb.AnyValue) string {
	if s, ok := v.GetValue().(*commonpb.AnyValue_StringValue); ok {
		return s.StringValue
	}
	b, _ := json.Marshal(value(v))
	return string(b)
}

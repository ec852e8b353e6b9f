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
	// MaxTotalBytes caps the encoded events of one request together;
	// DefaultMaxTotalBytes when zero.
	MaxTotalBytes int

	// countEncoding, when set, is told each time a resource or scope is
	// encoded (tests count them).
	countEncoding func(part string)
}

// DefaultMaxTotalBytes is MaxTotalBytes when unset: MAX_BODY_BYTES's
// default, so a request's events take no more than its body may.
const DefaultMaxTotalBytes = 6 << 20

// Result is a request's records mapped: the events to queue, and how many
// records were refused and why.
type Result struct {
	Events   []event.Event
	Rejected int
	// Reasons are the first reasons records were refused, each naming its
	// record by position (resource_logs[i].scope_logs[j].log_records[k]).
	Reasons []string
	// Err, when set, refuses the whole request (its events together are
	// over MaxTotalBytes): Events is empty and every record is Rejected.
	Err error
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
// carries neither time. A resource and a scope are encoded once for all
// their records, and the events together are held to MaxTotalBytes, so a
// large resource repeated in many records costs no more than the request
// carries.
func (m Mapping) Map(req *collogspb.ExportLogsServiceRequest, received time.Time) Result {
	var res Result
	refuse := func(where string, err error) {
		res.Rejected++
		if len(res.Reasons) < maxReasons {
			res.Reasons = append(res.Reasons, where+": "+err.Error())
		}
	}
	maxTotal := m.MaxTotalBytes
	if maxTotal <= 0 {
		maxTotal = DefaultMaxTotalBytes
	}
	total := 0
	for i, rl := range req.GetResourceLogs() {
		rg, rerr := m.resourceGroup(rl)
		for j, sl := range rl.GetScopeLogs() {
			records := sl.GetLogRecords()
			where := fmt.Sprintf("resource_logs[%d].scope_logs[%d]", i, j)
			g, err := (*scopeGroup)(nil), rerr
			if err == nil {
				g, err = m.scopeGroup(rg, sl)
			}
			if err != nil {
				for k := range records {
					refuse(fmt.Sprintf("%s.log_records[%d]", where, k), err)
				}
				continue
			}
			if n, limit := len(g.resource.json)+len(g.json), m.maxEventBytes(); n > limit {
				// Every event would hold both: none fits, so none is built.
				res.Rejected += len(records)
				if len(res.Reasons) < maxReasons {
					res.Reasons = append(res.Reasons, fmt.Sprintf(
						"%s: its resource and scope are %d bytes encoded, so none of its %d log records fits an event (the limit is %d bytes, MAX_EVENT_BYTES)",
						where, n, len(records), limit))
				}
				continue
			}
			for k, rec := range records {
				ev, err := m.event(g, rec, received)
				if err != nil {
					refuse(fmt.Sprintf("%s.log_records[%d]", where, k), err)
					continue
				}
				if total += ev.size; total > maxTotal {
					return tooLarge(req, maxTotal)
				}
				res.Events = append(res.Events, ev.Event)
			}
		}
	}
	return res
}

// tooLarge is the Result of a request whose events together are over
// maxTotal bytes: all of it refused.
func tooLarge(req *collogspb.ExportLogsServiceRequest, maxTotal int) Result {
	err := event.Errorf(event.TooLarge,
		"the export's events are over %d bytes encoded together (MAX_BODY_BYTES), mostly its resource and scope repeated in every record: export smaller batches", maxTotal)
	return Result{Rejected: Records(req), Reasons: []string{err.Message}, Err: err}
}

func (m Mapping) maxEventBytes() int {
	if m.Limits.MaxEventBytes > 0 {
		return m.Limits.MaxEventBytes
	}
	return event.DefaultMaxEventBytes
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

// resourceGroup is what the records of one ResourceLogs share, computed
// once: their resource as JSON and its digest, their topic and source.
type resourceGroup struct {
	json          json.RawMessage // nil when the resource is empty
	digest        [sha256.Size]byte
	topic, source string
}

// scopeGroup is what the records of one ScopeLogs share.
type scopeGroup struct {
	resource *resourceGroup
	json     json.RawMessage // nil when the scope is empty
	digest   [sha256.Size]byte
}

func (m Mapping) resourceGroup(rl *logspb.ResourceLogs) (*resourceGroup, error) {
	if m.countEncoding != nil {
		m.countEncoding("resource")
	}
	topicAttr := m.TopicAttribute
	if topicAttr == "" {
		topicAttr = DefaultTopicAttribute
	}
	resAttrs := rl.GetResource().GetAttributes()
	g := &resourceGroup{topic: UnknownService}
	if v, ok := lookup(resAttrs, topicAttr); ok {
		g.topic = text(v)
	}
	g.source = g.topic
	if v, ok := lookup(resAttrs, instanceAttribute); ok {
		g.source = text(v)
	} else if v, ok := lookup(resAttrs, hostAttribute); ok {
		g.source = text(v)
	}
	var err error
	if g.digest, err = digestOf(&logspb.ResourceLogs{Resource: rl.GetResource(), SchemaUrl: rl.GetSchemaUrl()}); err != nil {
		return nil, err
	}
	if r := resourceOf(rl.GetResource(), rl.GetSchemaUrl()); r.Attributes != nil || r.DroppedAttributesCount != 0 || r.SchemaURL != "" {
		if g.json, err = json.Marshal(r); err != nil {
			return nil, err
		}
	}
	return g, nil
}

func (m Mapping) scopeGroup(rg *resourceGroup, sl *logspb.ScopeLogs) (*scopeGroup, error) {
	if m.countEncoding != nil {
		m.countEncoding("scope")
	}
	g := &scopeGroup{resource: rg}
	var err error
	if g.digest, err = digestOf(&logspb.ScopeLogs{Scope: sl.GetScope(), SchemaUrl: sl.GetSchemaUrl()}); err != nil {
		return nil, err
	}
	if s := scopeOf(sl.GetScope(), sl.GetSchemaUrl()); s.Attributes != nil || s.Name != "" || s.Version != "" ||
		s.DroppedAttributesCount != 0 || s.SchemaURL != "" {
		if g.json, err = json.Marshal(s); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// Event maps one record, of scope sl in resource rl, to an event and
// validates it as /publish validates an event.
func (m Mapping) Event(rl *logspb.ResourceLogs, sl *logspb.ScopeLogs, rec *logspb.LogRecord, received time.Time) (event.Event, error) {
	rg, err := m.resourceGroup(rl)
	if err != nil {
		return event.Event{}, err
	}
	g, err := m.scopeGroup(rg, sl)
	if err != nil {
		return event.Event{}, err
	}
	ev, err := m.event(g, rec, received)
	return ev.Event, err
}

// sizedEvent is an event with the length of its encoding.
type sizedEvent struct {
	event.Event
	size int
}

func (m Mapping) event(g *scopeGroup, rec *logspb.LogRecord, received time.Time) (sizedEvent, error) {
	var eventID string
	if v, ok := lookup(rec.GetAttributes(), RecordUIDAttribute); ok {
		eventID = text(v)
	} else {
		d, err := recordDigest(g.resource.digest, g.digest, rec)
		if err != nil {
			return sizedEvent{}, err
		}
		eventID = d
	}
	ts, err := timestamp(rec, received)
	if err != nil {
		return sizedEvent{}, err
	}
	p := payloadOf(rec)
	p.Resource, p.Scope = g.resource.json, g.json
	payload, err := json.Marshal(p)
	if err != nil {
		return sizedEvent{}, err
	}
	raw, err := json.Marshal(struct {
		Topic     string          `json:"topic"`
		EventID   string          `json:"event_id"`
		Timestamp string          `json:"timestamp"`
		Source    string          `json:"source"`
		Payload   json.RawMessage `json:"payload"`
	}{g.resource.topic, eventID, ts.Format(time.RFC3339Nano), g.resource.source, payload})
	if err != nil {
		return sizedEvent{}, err
	}
	// The event goes through /publish's own decoder: one set of rules.
	evs, err := event.DecodeRequest("application/json", raw, m.Limits)
	if err != nil {
		return sizedEvent{}, refusal(err)
	}
	return sizedEvent{Event: evs[0], size: len(raw)}, nil
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

// Digest is the event_id of a record without log.record.uid: the
// SHA-256 of three parts, in hex cut to digestHexChars: the SHA-256 of the
// deterministic protobuf encoding of the resource (with its schema URL),
// that of the scope (with its schema URL), and the deterministic protobuf
// encoding of the record. Resource and scope are hashed once for all their
// records. The same record re-sent has the same digest; records that
// differ in any field (times, body, attributes, trace context, …) differ.
func Digest(rl *logspb.ResourceLogs, sl *logspb.ScopeLogs, rec *logspb.LogRecord) (string, error) {
	resource, err := digestOf(&logspb.ResourceLogs{Resource: rl.GetResource(), SchemaUrl: rl.GetSchemaUrl()})
	if err != nil {
		return "", err
	}
	scope, err := digestOf(&logspb.ScopeLogs{Scope: sl.GetScope(), SchemaUrl: sl.GetSchemaUrl()})
	if err != nil {
		return "", err
	}
	return recordDigest(resource, scope, rec)
}

func recordDigest(resource, scope [sha256.Size]byte, rec *logspb.LogRecord) (string, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(rec)
	if err != nil {
		return "", fmt.Errorf("record cannot be encoded for its digest: %w", err)
	}
	h := sha256.New()
	h.Write(resource[:])
	h.Write(scope[:])
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))[:digestHexChars], nil
}

// digestOf is the SHA-256 of msg's deterministic protobuf encoding.
func digestOf(msg proto.Message) ([sha256.Size]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	if err != nil {
		return [sha256.Size]byte{}, fmt.Errorf("resource or scope cannot be encoded for the digest: %w", err)
	}
	return sha256.Sum256(b), nil
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

// payload is what an event keeps of its record: every field, so that
// /events gives back the record's content, though not always its exact
// types (see value and attributes, and the README's list of what JSON
// cannot tell apart). Empty fields are left out.
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
	TimeUnixNano         string `json:"time_unix_nano,omitempty"`
	ObservedTimeUnixNano string `json:"observed_time_unix_nano,omitempty"`
	// Resource and scope, encoded once for all their records.
	Resource json.RawMessage `json:"resource,omitempty"`
	Scope    json.RawMessage `json:"scope,omitempty"`
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

func payloadOf(rec *logspb.LogRecord) payload {
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

// attributes is kvs as a JSON object; when a key repeats, the last wins
// and the others are not kept (the digest still covers them).
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
// JSON loses the type in these cases, untagged: bytes and NaN/±Inf read
// back as strings, a whole double (3.0) as the integer 3, and an int64
// past 2^53 as a number a JavaScript reader rounds.
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

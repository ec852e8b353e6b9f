package api

import (
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/logagg/logagg/shared/event"
	"github.com/logagg/logagg/shared/otlp"
)

// otlpLogsPath is OTLP/HTTP's default path for logs.
const otlpLogsPath = "/v1/logs"

// OTLP/HTTP's two encodings, by their content types.
const (
	otlpProtobuf = "application/x-protobuf"
	otlpJSON     = "application/json"
)

// otlpLogs is POST /v1/logs, the OTLP/HTTP logs receiver: each LogRecord
// becomes an event by otlp.Mapping and is queued as /publish queues events.
// Unlike /publish it is not all-or-nothing, as OTLP asks: records that
// fail validation are counted in partial_success and the rest are queued.
// When every record fails, the request has failed with bad data: 400,
// which exporters do not retry.
func (s *Server) otlpLogs(w http.ResponseWriter, r *http.Request) {
	enc := otlpEncodingOf(r)
	if enc == "" {
		writeOTLPError(w, otlpJSON, event.Errorf(event.Unsupported,
			"Content-Type %q is not an OTLP/HTTP encoding: send application/x-protobuf or application/json",
			r.Header.Get("Content-Type")))
		return
	}
	body, done, err := s.readBody(w, r, s.deps.MaxBodyBytes)
	defer done()
	if err != nil {
		writeOTLPError(w, enc, err)
		return
	}
	req := &collogspb.ExportLogsServiceRequest{}
	shape := newOTLPShape(s.deps.Limits.MaxEvents, s.deps.MaxBodyBytes)
	if err := unmarshalOTLP(enc, body, req, shape); err != nil {
		writeOTLPError(w, enc, err)
		return
	}
	res := s.otlpMapping().Map(req, time.Now())
	s.observeOTLPRejected(res)
	if res.Err != nil { // the events together would be over MAX_BODY_BYTES
		writeOTLPError(w, enc, res.Err)
		return
	}
	if len(res.Events) == 0 && res.Rejected > 0 {
		writeOTLPError(w, enc, event.Errorf(event.Malformed, "every log record was refused: %s", res.ErrorMessage()))
		return
	}
	if len(res.Events) > 0 {
		if err := s.queueEvents(r, res.Events, protocolOTLP); err != nil {
			writeOTLPError(w, enc, err)
			return
		}
	}
	resp := &collogspb.ExportLogsServiceResponse{}
	if res.Rejected > 0 {
		resp.PartialSuccess = &collogspb.ExportLogsPartialSuccess{
			RejectedLogRecords: int64(res.Rejected), ErrorMessage: res.ErrorMessage(),
		}
	}
	writeOTLP(w, enc, http.StatusOK, resp)
}

// observeOTLPRejected counts and logs the records res refused: the
// exporter is told in partial_success, the operator here. One line per
// request, the reasons capped as in error_message.
func (s *Server) observeOTLPRejected(res otlp.Result) {
	if res.Rejected == 0 {
		return
	}
	if s.deps.Observer != nil {
		s.deps.Observer.ObserveOTLPRejected(res.Rejected)
	}
	s.deps.Logger.Info("OTLP log records refused", "rejected", res.Rejected, "queued", len(res.Events),
		"reasons", res.ErrorMessage())
}

func (s *Server) otlpMapping() otlp.Mapping {
	return otlp.Mapping{TopicAttribute: s.deps.OTLPTopicAttribute, Limits: s.deps.Limits, MaxTotalBytes: int(s.deps.MaxBodyBytes)}
}

// otlpEncodingOf is the OTLP encoding r's Content-Type names, or "".
func otlpEncodingOf(r *http.Request) string {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return ""
	}
	switch mt = strings.ToLower(mt); mt {
	case otlpProtobuf, otlpJSON:
		return mt
	}
	return ""
}

// unmarshalOTLP decodes body in enc into m once shape has counted it
// within its limits (413); what does not decode is bad data (400).
func unmarshalOTLP(enc string, body []byte, m proto.Message, shape *otlpShape) error {
	var err error
	if enc == otlpProtobuf {
		if err := shape.protobuf(body, m.ProtoReflect().Descriptor(), 0); err != nil {
			return err
		}
		err = proto.Unmarshal(body, m)
	} else {
		body, err = hexIDsToBase64(body, shape)
		if event.ErrorCode(err) == event.TooLarge {
			return err
		}
		if err == nil {
			err = protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(body, m)
		}
	}
	if err != nil {
		return event.Wrap(event.Malformed, err, fmt.Sprintf("the body is not an OTLP ExportLogsServiceRequest in %s: %v", enc, err))
	}
	return nil
}

// grpcCodeOf is the google.rpc.Code of a status, for the Status body OTLP
// errors carry.
var grpcCodeOf = map[int]code.Code{
	http.StatusBadRequest:            code.Code_INVALID_ARGUMENT,
	http.StatusUnauthorized:          code.Code_UNAUTHENTICATED,
	http.StatusForbidden:             code.Code_PERMISSION_DENIED,
	http.StatusNotFound:              code.Code_NOT_FOUND,
	http.StatusMethodNotAllowed:      code.Code_UNIMPLEMENTED,
	http.StatusRequestTimeout:        code.Code_DEADLINE_EXCEEDED,
	http.StatusRequestEntityTooLarge: code.Code_RESOURCE_EXHAUSTED,
	http.StatusUnsupportedMediaType:  code.Code_INVALID_ARGUMENT,
	http.StatusTooManyRequests:       code.Code_RESOURCE_EXHAUSTED,
	http.StatusServiceUnavailable:    code.Code_UNAVAILABLE,
	statusClientClosed:               code.Code_CANCELLED,
}

// writeOTLPError answers err as OTLP does: a google.rpc.Status in enc,
// with the status and Retry-After that writeError would send. OTLP has no
// 422, so a record or request that fails validation is a 400.
func writeOTLPError(w http.ResponseWriter, enc string, err error) {
	c := event.ErrorCode(err)
	msg := "internal error"
	if e := asEventError(err); e != nil {
		msg = e.Message
	}
	st, ok := statusOf[c]
	if !ok {
		st = http.StatusInternalServerError
	}
	if c == event.Invalid {
		st = http.StatusBadRequest
	}
	if ra, ok := retryAfter[c]; ok {
		w.Header().Set("Retry-After", ra)
	}
	gc, ok := grpcCodeOf[st]
	if !ok {
		gc = code.Code_INTERNAL
	}
	writeOTLP(w, enc, st, &status.Status{Code: int32(gc), Message: msg})
}

// writeOTLP answers m in enc with status.
func writeOTLP(w http.ResponseWriter, enc string, st int, m proto.Message) {
	var body []byte
	var err error
	if enc == otlpProtobuf {
		body, err = proto.Marshal(m)
	} else {
		enc = otlpJSON
		body, err = protojson.Marshal(m)
	}
	if err != nil {
		loggerOf(w).Error("OTLP response cannot be encoded; answering 500", "error", err)
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", enc)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(st)
	_, _ = w.Write(body)
}

// writeErrorFor answers err for the request r: as OTLP errors are on the
// OTLP route when it is served, as JSON everywhere else.
func (s *Server) writeErrorFor(w http.ResponseWriter, r *http.Request, err error) {
	if s.servesOTLP(r) {
		enc := otlpEncodingOf(r)
		if enc == "" {
			enc = otlpJSON
		}
		writeOTLPError(w, enc, err)
		return
	}
	writeError(w, err)
}

func (s *Server) servesOTLP(r *http.Request) bool {
	_, ok := s.byPath[otlpLogsPath]
	return ok && strings.TrimSuffix(r.URL.Path, "/") == otlpLogsPath
}

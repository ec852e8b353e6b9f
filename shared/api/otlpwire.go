package api

import (
	"errors"
	"fmt"

	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/logagg/logagg/shared/event"
)

// otlpMaxDepth is how deeply messages nest at most, as proto.Unmarshal's
// default recursion limit.
const otlpMaxDepth = 10000

// otlpShape counts, from the wire, what decoding an export would build:
// decoding a few megabytes of empty messages builds millions of objects
// (hundreds of megabytes), so the counts are checked before decoding.
type otlpShape struct {
	maxRecords, maxMessages int
	records, messages       int
}

// newOTLPShape bounds an export to maxRecords log records (MAX_BATCH) and
// to one message (record, attribute, value...) per 4 body bytes: no real
// export is that dense (a one-letter string attribute is 5 bytes per
// message), while empty messages are 2 bytes each.
func newOTLPShape(maxRecords int, maxBodyBytes int64) *otlpShape {
	return &otlpShape{maxRecords: maxRecords, maxMessages: int(maxBodyBytes / 4)}
}

var errOTLPTooDeep = errors.New("messages nest too deeply")

// count counts a message that opens; records says it is a LogRecord.
func (sh *otlpShape) count(record bool) error {
	sh.messages++
	if record {
		sh.records++
	}
	if sh.records > sh.maxRecords {
		return event.Errorf(event.TooLarge,
			"more than %d log records in one export; the limit is %d (MAX_BATCH), so export smaller batches", sh.maxRecords, sh.maxRecords)
	}
	if sh.messages > sh.maxMessages {
		return event.Errorf(event.TooLarge,
			"more than %d messages in one export (records, attributes and values); export smaller batches", sh.maxMessages)
	}
	return nil
}

var scopeLogsName = (&logspb.ScopeLogs{}).ProtoReflect().Descriptor().FullName()

// protobuf counts the messages of b, a message md in protobuf, without
// decoding it; what does not parse is left for proto.Unmarshal to refuse.
func (sh *otlpShape) protobuf(b []byte, md protoreflect.MessageDescriptor, depth int) error {
	if depth > otlpMaxDepth {
		return event.Wrap(event.Malformed, errOTLPTooDeep, fmt.Sprintf("the body is not an OTLP ExportLogsServiceRequest: %v", errOTLPTooDeep))
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil
		}
		b = b[n:]
		fd := md.Fields().ByNumber(num)
		if typ != protowire.BytesType || fd == nil || fd.Kind() != protoreflect.MessageKind {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return nil
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return nil
		}
		b = b[n:]
		if err := sh.count(md.FullName() == scopeLogsName && num == 2); err != nil {
			return err
		}
		if err := sh.protobuf(v, fd.Message(), depth+1); err != nil {
			return err
		}
	}
	return nil
}

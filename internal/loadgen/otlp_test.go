package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"
)

// generatedEvent is a generated event decoded.
type generatedEvent struct {
	Topic     string    `json:"topic"`
	EventID   string    `json:"event_id"`
	Timestamp time.Time `json:"timestamp"`
	Source    string    `json:"source"`
	Payload   struct {
		Seq   int64  `json:"seq"`
		Level string `json:"level"`
		Msg   string `json:"msg"`
	} `json:"payload"`
}

func attribute(kvs []*commonpb.KeyValue, key string) string {
	for _, kv := range kvs {
		if kv.GetKey() == key {
			return kv.GetValue().GetStringValue()
		}
	}
	return ""
}

func kvlist(v *commonpb.AnyValue) map[string]*commonpb.AnyValue {
	out := map[string]*commonpb.AnyValue{}
	for _, kv := range v.GetKvlistValue().GetValues() {
		out[kv.GetKey()] = kv.GetValue()
	}
	return out
}

func TestOTLPRequestCarriesEachEventAsALogRecord(t *testing.T) {
	t.Parallel()
	events, _ := Generate(Plan{Events: 500, DupRate: 0.3, Seed: 3, RunID: "otlp"})
	records, err := toOTLPRecords(events)
	require.NoError(t, err)
	req := otlpRequest(records)

	// Read the request back as the service would, from its bytes.
	body, err := proto.Marshal(req)
	require.NoError(t, err)
	var got collogspb.ExportLogsServiceRequest
	require.NoError(t, proto.Unmarshal(body, &got))
	byUID := map[string]int{}
	n := 0
	for _, rl := range got.GetResourceLogs() {
		topic := attribute(rl.GetResource().GetAttributes(), "service.name")
		source := attribute(rl.GetResource().GetAttributes(), "service.instance.id")
		require.NotEmpty(t, topic)
		for _, sl := range rl.GetScopeLogs() {
			for _, rec := range sl.GetLogRecords() {
				n++
				uid := attribute(rec.GetAttributes(), "log.record.uid")
				byUID[uid]++
				var want generatedEvent
				for _, e := range events {
					var g generatedEvent
					require.NoError(t, json.Unmarshal(e, &g))
					if g.EventID == uid {
						want = g
						break
					}
				}
				require.Equal(t, want.Topic, topic, uid)
				require.Equal(t, want.Source, source, uid)
				require.Equal(t, uint64(want.Timestamp.UnixNano()), rec.GetTimeUnixNano(), uid)
				b := kvlist(rec.GetBody())
				require.Equal(t, want.Payload.Seq, b["seq"].GetIntValue(), uid)
				require.Equal(t, want.Payload.Level, b["level"].GetStringValue(), uid)
				require.Equal(t, want.Payload.Msg, b["msg"].GetStringValue(), uid)
			}
		}
	}
	require.Equal(t, len(events), n, "one record per event, duplicates included")

	wantByID := map[string]int{}
	for _, e := range events {
		var g generatedEvent
		require.NoError(t, json.Unmarshal(e, &g))
		wantByID[g.EventID]++
	}
	require.Equal(t, wantByID, byUID, "each event_id is sent as often as the load has it")
}

func TestOTLPResentRecordsAreIdentical(t *testing.T) {
	t.Parallel()
	events, unique := Generate(Plan{Events: 2000, DupRate: 0.3, Seed: 4, RunID: "resend"})
	records, err := toOTLPRecords(events)
	require.NoError(t, err)
	firstByUID := map[string][]byte{}
	resent := 0
	for _, r := range records {
		one, err := proto.Marshal(otlpRequest([]otlpRecord{r}))
		require.NoError(t, err)
		uid := attribute(r.rec.GetAttributes(), "log.record.uid")
		if first, ok := firstByUID[uid]; ok {
			resent++
			require.Equal(t, first, one, "a resent record is the same export, byte for byte")
			continue
		}
		firstByUID[uid] = one
	}
	require.Equal(t, 2000-unique, resent)
	require.Len(t, firstByUID, unique)
}

// otlpServer answers POST /v1/logs with handle, after collecting each
// export's log.record.uid values.
type otlpServer struct {
	mu   sync.Mutex
	uids []string
}

func (s *otlpServer) start(t *testing.T, handle func(w http.ResponseWriter, n int) bool) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/logs" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "wrong path or type", http.StatusNotFound)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var req collogspb.ExportLogsServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var uids []string
		for _, rl := range req.GetResourceLogs() {
			for _, sl := range rl.GetScopeLogs() {
				for _, rec := range sl.GetLogRecords() {
					uids = append(uids, attribute(rec.GetAttributes(), "log.record.uid"))
				}
			}
		}
		if !handle(w, len(uids)) {
			return
		}
		s.mu.Lock()
		s.uids = append(s.uids, uids...)
		s.mu.Unlock()
		out, _ := proto.Marshal(&collogspb.ExportLogsServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestPublishOTLPSendsEveryEventAndRetries(t *testing.T) {
	t.Parallel()
	var calls sync.Map
	s := &otlpServer{}
	url := s.start(t, func(w http.ResponseWriter, n int) bool {
		if _, again := calls.LoadOrStore("first", true); !again {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			return false
		}
		return true
	})
	events, _ := Generate(Plan{Events: 1100, DupRate: 0.3, Seed: 5, RunID: "pub"})
	res, err := NewClient(url, "").Publish(context.Background(), events, PublishOptions{
		BatchSize: 500, Concurrency: 2, Protocol: ProtocolOTLP,
	})
	require.NoError(t, err)
	require.Equal(t, 1100, res.Sent)
	require.Equal(t, 3, res.Requests)
	require.Equal(t, 1, res.Retries)

	var want []string
	for _, e := range events {
		var g generatedEvent
		require.NoError(t, json.Unmarshal(e, &g))
		want = append(want, g.EventID)
	}
	require.ElementsMatch(t, want, s.uids, "every event arrives once as a record")
}

func TestPublishOTLPFailsWhenRecordsAreRejected(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out, _ := proto.Marshal(&collogspb.ExportLogsServiceResponse{PartialSuccess: &collogspb.ExportLogsPartialSuccess{
			RejectedLogRecords: 3, ErrorMessage: "3 records had no body",
		}})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	events, _ := Generate(Plan{Events: 10, Seed: 6})
	_, err := NewClient(srv.URL, "").Publish(context.Background(), events, PublishOptions{Protocol: ProtocolOTLP})
	require.ErrorContains(t, err, "rejected 3 of the 10 log records sent: 3 records had no body")
}

func TestPublishOTLPErrorGivesTheStatusMessage(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out, _ := proto.Marshal(&status.Status{Code: 3, Message: "every log record was refused"})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	events, _ := Generate(Plan{Events: 10, Seed: 7})
	_, err := NewClient(srv.URL, "").Publish(context.Background(), events, PublishOptions{Protocol: ProtocolOTLP})
	var se *StatusError
	require.True(t, errors.As(err, &se), "%v", err)
	require.Equal(t, http.StatusBadRequest, se.Status)
	require.Equal(t, "/v1/logs", se.Path)
	require.Equal(t, "every log record was refused", se.Message)
}

func TestPublishOTLPRefusesSentAt(t *testing.T) {
	t.Parallel()
	events, _ := Generate(Plan{Events: 10, Seed: 8, SentAtField: true})
	_, err := NewClient("http://127.0.0.1:1", "").Publish(context.Background(), events,
		PublishOptions{Protocol: ProtocolOTLP, StampSentAt: true})
	require.ErrorContains(t, err, "only with the JSON protocol")
}

func TestParseProtocol(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Protocol{"json": ProtocolJSON, "OTLP": ProtocolOTLP, " otlp ": ProtocolOTLP} {
		got, err := ParseProtocol(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	_, err := ParseProtocol("grpc")
	require.ErrorContains(t, err, `"grpc"`)
}

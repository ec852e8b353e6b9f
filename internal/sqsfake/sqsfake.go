// Package sqsfake is an in-process fake of the Amazon SQS API for tests. It
// speaks the protocol the AWS SDK for Go v2 speaks (AWS JSON 1.0 over HTTP,
// `X-Amz-Target: AmazonSQS.<Operation>`), so a real *sqs.Client pointed at
// Server.URL through its BaseEndpoint exercises its own serialisation,
// signing, checksum validation, retries and error decoding.
//
// It models standard queues as far as logagg relies on them: message IDs,
// receipt handles that change on every receive, visibility timeouts,
// ApproximateReceiveCount, long polling, the batch limits (10 entries,
// 256 KiB per request) and the approximate message counts. It also injects
// failures: whole requests answered with an error, and batch entries that
// fail on their own.
package sqsfake

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Limits of the real service that the fake enforces.
const (
	MaxBatchEntries = 10
	MaxPayloadBytes = 256 * 1024 // one message, and all bodies of one batch request
	maxWaitSeconds  = 20
)

// Server is a fake SQS endpoint. It is safe for concurrent use.
type Server struct {
	// URL is the endpoint to give the SDK client as its BaseEndpoint.
	URL string

	srv *httptest.Server

	mu       sync.Mutex
	queues   map[string]*fakeQueue // by queue URL
	receipts map[string]*message   // every receipt handle ever issued
	changed  chan struct{}         // closed and replaced whenever a message is sent

	failRequests []Failure // answered, in order, to the next requests
	failEntries  int       // batch entries that fail with a retryable error
	calls        []Call
}

// Failure is an error answer to inject.
type Failure struct {
	Status int    // HTTP status: 400 for a client fault, 500 or 503 for a server fault
	Type   string // the error type, e.g. "InternalError", "RequestThrottled", "AccessDenied"
}

// Call is one request the fake answered.
type Call struct {
	Operation string
	Entries   int // batch entries (SendMessageBatch, DeleteMessageBatch)
	Bytes     int // message body bytes sent (SendMessage, SendMessageBatch)
}

// Attributes are a queue's settings.
type Attributes struct {
	// VisibilityTimeout is the queue's default (30s when zero). A receive
	// may ask for another, in whole seconds, as with the real service.
	VisibilityTimeout time.Duration
}

type fakeQueue struct {
	name, url, arn string
	visibility     time.Duration
	msgs           []*message // in the order they were sent
}

type message struct {
	id, body, md5     string
	receiveCount      int
	visibleAt         time.Time
	receipt           string // the latest receipt handle; only it deletes
	sentAt, firstRecv time.Time
	deleted           bool
}

// New starts a fake SQS endpoint; Close stops it.
func New() *Server {
	s := &Server{
		queues:   map[string]*fakeQueue{},
		receipts: map[string]*message{},
		changed:  make(chan struct{}),
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.URL = s.srv.URL
	return s
}

// Close shuts the endpoint down.
func (s *Server) Close() { s.srv.Close() }

// CreateQueue creates a standard queue and returns its URL.
func (s *Server) CreateQueue(name string, attrs Attributes) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if attrs.VisibilityTimeout <= 0 {
		attrs.VisibilityTimeout = 30 * time.Second
	}
	q := &fakeQueue{
		name:       name,
		url:        s.URL + "/123456789012/" + name,
		arn:        "arn:aws:sqs:us-east-1:123456789012:" + name,
		visibility: attrs.VisibilityTimeout,
	}
	s.queues[q.url] = q
	return q.url
}

// FailRequests makes the next requests, whatever their operation, answer
// with the given failures, one each, in order.
func (s *Server) FailRequests(f ...Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failRequests = append(s.failRequests, f...)
}

// FailEntries makes the next n entries of send batches fail on their own
// with a retryable (server-side) error while the rest of their batch
// succeeds.
func (s *Server) FailEntries(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failEntries += n
}

// Calls returns the requests answered so far, failed ones included.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Bodies returns the bodies of the messages on the queue that are not
// deleted, in the order they were sent, whether in flight or not.
func (s *Server) Bodies(queueURL string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[queueURL]
	if q == nil {
		return nil
	}
	var out []string
	for _, m := range q.msgs {
		out = append(out, m.body)
	}
	return out
}

// apiError is an error answer in the shape of the JSON protocol.
type apiError struct {
	status  int
	typ     string // short name, e.g. "QueueDoesNotExist"
	query   string // the legacy query error code, when it differs
	message string
}

func (e *apiError) Error() string { return e.typ + ": " + e.message }

func senderError(typ, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: typ, message: fmt.Sprintf(format, args...)}
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "AmazonSQS.")
	switch {
	case r.Method != http.MethodPost || !ok:
		writeError(w, senderError("UnknownOperationException", "expected POST with X-Amz-Target AmazonSQS.<Operation>, got %s %q", r.Method, target))
		return
	case r.Header.Get("Content-Type") != "application/x-amz-json-1.0":
		writeError(w, senderError("InvalidParameterValue", "Content-Type must be application/x-amz-json-1.0"))
		return
	case !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 "):
		writeError(w, &apiError{status: http.StatusForbidden, typ: "MissingAuthenticationToken", message: "the request is not signed with Signature Version 4"})
		return
	}
	var req map[string]json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, senderError("SerializationException", "body is not a JSON object: %v", err))
		return
	}

	s.mu.Lock()
	if len(s.failRequests) > 0 {
		f := s.failRequests[0]
		s.failRequests = s.failRequests[1:]
		s.calls = append(s.calls, Call{Operation: op})
		s.mu.Unlock()
		writeError(w, &apiError{status: f.Status, typ: f.Type, message: "injected failure"})
		return
	}
	s.mu.Unlock()

	resp, err := s.serve(r, op, req)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-RequestId", newID())
	_ = json.NewEncoder(w).Encode(resp)
}

// lockedActions are the actions that run holding s.mu: all but
// ReceiveMessage, which waits for messages and locks as it goes.
var lockedActions = map[string]func(s *Server, req map[string]json.RawMessage) (any, *apiError){
	"SendMessage":        (*Server).sendMessage,
	"SendMessageBatch":   (*Server).sendMessageBatch,
	"DeleteMessage":      (*Server).deleteMessage,
	"DeleteMessageBatch": (*Server).deleteMessageBatch,
	"GetQueueAttributes": (*Server).getQueueAttributes,
	"GetQueueUrl":        (*Server).getQueueURL,
}

// serve answers one action.
func (s *Server) serve(r *http.Request, op string, req map[string]json.RawMessage) (any, *apiError) {
	if op == "ReceiveMessage" {
		return s.receiveMessage(r, req)
	}
	action, ok := lockedActions[op]
	if !ok {
		return nil, senderError("UnsupportedOperation", "the fake does not implement %s", op)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return action(s, req)
}

func writeError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	fault := "Sender"
	if e.status >= 500 {
		fault = "Receiver"
	}
	code := e.query
	if code == "" {
		code = e.typ
	}
	w.Header().Set("X-Amzn-Query-Error", code+";"+fault)
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]string{
		"__type":  "com.amazonaws.sqs#" + e.typ,
		"message": e.message,
	})
}

// field decodes req[name] into v when present.
func field(req map[string]json.RawMessage, name string, v any) *apiError {
	raw, ok := req[name]
	if !ok || string(raw) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return senderError("InvalidParameterValue", "%s: %v", name, err)
	}
	return nil
}

// queueOf finds the request's queue; the caller holds s.mu.
func (s *Server) queueOf(req map[string]json.RawMessage) (*fakeQueue, *apiError) {
	var url string
	if err := field(req, "QueueUrl", &url); err != nil {
		return nil, err
	}
	q := s.queues[url]
	if q == nil {
		return nil, &apiError{status: http.StatusBadRequest, typ: "QueueDoesNotExist",
			query: "AWS.SimpleQueueService.NonExistentQueue", message: "The specified queue does not exist."}
	}
	return q, nil
}

// validBody applies the service's rules for a message body.
func validBody(body string) *apiError {
	if body == "" {
		return senderError("InvalidParameterValue", "a message body must not be empty")
	}
	if len(body) > MaxPayloadBytes {
		return senderError("InvalidParameterValue", "message must be shorter than %d bytes", MaxPayloadBytes)
	}
	if !utf8.ValidString(body) {
		return senderError("InvalidMessageContents", "message body is not valid UTF-8")
	}
	for _, r := range body {
		if !(r == 0x9 || r == 0xA || r == 0xD || (r >= 0x20 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || r >= 0x10000) {
			return senderError("InvalidMessageContents", "message body holds the character %U, which SQS refuses", r)
		}
	}
	return nil
}

// enqueue adds one message; the caller holds s.mu.
func (s *Server) enqueue(q *fakeQueue, body string) *message {
	sum := md5.Sum([]byte(body))
	m := &message{id: newID(), body: body, md5: hex.EncodeToString(sum[:]), sentAt: time.Now()}
	q.msgs = append(q.msgs, m)
	close(s.changed)
	s.changed = make(chan struct{})
	return m
}

func (s *Server) sendMessage(req map[string]json.RawMessage) (any, *apiError) {
	var body string
	if err := field(req, "MessageBody", &body); err != nil {
		return nil, err
	}
	s.calls = append(s.calls, Call{Operation: "SendMessage", Entries: 1, Bytes: len(body)})
	q, err := s.queueOf(req)
	if err != nil {
		return nil, err
	}
	if err := validBody(body); err != nil {
		return nil, err
	}
	m := s.enqueue(q, body)
	return map[string]string{"MessageId": m.id, "MD5OfMessageBody": m.md5}, nil
}

// The entries of the batch requests.
type (
	sendEntry struct {
		ID          string `json:"Id"`
		MessageBody string `json:"MessageBody"`
	}
	deleteEntry struct {
		ID            string `json:"Id"`
		ReceiptHandle string `json:"ReceiptHandle"`
	}
)

// batchResponse is a batch action's answer: the entries that succeeded and
// those that failed, both lists present even when empty, as the service
// answers.
type batchResponse[S any] struct {
	Successful []S          `json:"Successful"`
	Failed     []batchError `json:"Failed"`
}

func newBatchResponse[S any]() *batchResponse[S] {
	return &batchResponse[S]{Successful: []S{}, Failed: []batchError{}}
}

// refuse records that the entry id failed through the sender's fault.
func (b *batchResponse[S]) refuse(id string, err *apiError) {
	b.Failed = append(b.Failed, batchError{ID: id, Code: err.typ, Message: err.message, SenderFault: true})
}

type batchError struct {
	ID          string `json:"Id"`
	Code        string `json:"Code"`
	Message     string `json:"Message"`
	SenderFault bool   `json:"SenderFault"`
}

// checkEntryIDs applies the rules every batch request shares.
func checkEntryIDs(ids []string) *apiError {
	if len(ids) == 0 {
		return senderError("EmptyBatchRequest", "there should be at least one entry in the request")
	}
	if len(ids) > MaxBatchEntries {
		return senderError("TooManyEntriesInBatchRequest", "maximum number of entries per request is %d, got %d", MaxBatchEntries, len(ids))
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if id == "" || len(id) > 80 {
			return senderError("InvalidBatchEntryId", "a batch entry id must be 1 to 80 characters, got %q", id)
		}
		if seen[id] {
			return senderError("BatchEntryIdsNotDistinct", "two entries have the id %q", id)
		}
		seen[id] = true
	}
	return nil
}

func (s *Server) sendMessageBatch(req map[string]json.RawMessage) (any, *apiError) {
	var entries []sendEntry
	if err := field(req, "Entries", &entries); err != nil {
		return nil, err
	}
	total := 0
	ids := make([]string, len(entries))
	for i, e := range entries {
		total += len(e.MessageBody)
		ids[i] = e.ID
	}
	s.calls = append(s.calls, Call{Operation: "SendMessageBatch", Entries: len(entries), Bytes: total})
	q, err := s.queueOf(req)
	if err != nil {
		return nil, err
	}
	if err := checkEntryIDs(ids); err != nil {
		return nil, err
	}
	if total > MaxPayloadBytes {
		return nil, senderError("BatchRequestTooLong", "the batch's bodies total %d bytes, over the limit of %d", total, MaxPayloadBytes)
	}
	type success struct {
		ID               string `json:"Id"`
		MessageID        string `json:"MessageId"`
		MD5OfMessageBody string `json:"MD5OfMessageBody"`
	}
	resp := newBatchResponse[success]()
	for _, e := range entries {
		if err := validBody(e.MessageBody); err != nil {
			resp.refuse(e.ID, err)
			continue
		}
		if s.failEntries > 0 {
			s.failEntries--
			resp.Failed = append(resp.Failed, batchError{ID: e.ID, Code: "InternalError", Message: "injected failure", SenderFault: false})
			continue
		}
		m := s.enqueue(q, e.MessageBody)
		resp.Successful = append(resp.Successful, success{ID: e.ID, MessageID: m.id, MD5OfMessageBody: m.md5})
	}
	return resp, nil
}

func (s *Server) receiveMessage(r *http.Request, req map[string]json.RawMessage) (any, *apiError) {
	var (
		max        = 1
		wait       *int
		visibility *int
		sysAttrs   []string
		legacy     []string
	)
	for name, v := range map[string]any{
		"MaxNumberOfMessages": &max, "WaitTimeSeconds": &wait, "VisibilityTimeout": &visibility,
		"MessageSystemAttributeNames": &sysAttrs, "AttributeNames": &legacy,
	} {
		if err := field(req, name, v); err != nil {
			return nil, err
		}
	}
	if max < 1 || max > MaxBatchEntries {
		return nil, senderError("InvalidParameterValue", "MaxNumberOfMessages must be between 1 and %d, got %d", MaxBatchEntries, max)
	}
	waitFor := 0
	if wait != nil {
		if *wait < 0 || *wait > maxWaitSeconds {
			return nil, senderError("InvalidParameterValue", "WaitTimeSeconds must be between 0 and %d, got %d", maxWaitSeconds, *wait)
		}
		waitFor = *wait
	}
	if visibility != nil && (*visibility < 0 || *visibility > 43200) {
		return nil, senderError("InvalidParameterValue", "VisibilityTimeout must be between 0 and 43200, got %d", *visibility)
	}
	attrs := map[string]bool{}
	for _, a := range append(sysAttrs, legacy...) {
		attrs[a] = true
	}

	deadline := time.Now().Add(time.Duration(waitFor) * time.Second)
	s.mu.Lock()
	s.calls = append(s.calls, Call{Operation: "ReceiveMessage"})
	s.mu.Unlock()
	for {
		s.mu.Lock()
		q, err := s.queueOf(req)
		if err != nil {
			s.mu.Unlock()
			return nil, err
		}
		vt := q.visibility
		if visibility != nil {
			vt = time.Duration(*visibility) * time.Second
		}
		msgs := s.take(q, max, vt, attrs)
		changed := s.changed
		s.mu.Unlock()
		if len(msgs) > 0 || !time.Now().Before(deadline) {
			return map[string]any{"Messages": msgs}, nil
		}
		// Wait for a send, for an in-flight message to become visible
		// again (polled), or for the end of the long poll.
		select {
		case <-changed:
		case <-time.After(min(20*time.Millisecond, time.Until(deadline))):
		case <-r.Context().Done():
			return map[string]any{"Messages": []any{}}, nil
		}
	}
}

// take hands out up to max visible messages, oldest first; the caller holds
// s.mu.
func (s *Server) take(q *fakeQueue, max int, vt time.Duration, attrs map[string]bool) []map[string]any {
	now := time.Now()
	out := []map[string]any{}
	for _, m := range q.msgs {
		if len(out) == max {
			break
		}
		if m.visibleAt.After(now) {
			continue
		}
		m.receiveCount++
		if m.firstRecv.IsZero() {
			m.firstRecv = now
		}
		m.visibleAt = now.Add(vt)
		m.receipt = newID() + newID()
		s.receipts[m.receipt] = m
		a := map[string]string{}
		all := attrs["All"]
		if all || attrs["ApproximateReceiveCount"] {
			a["ApproximateReceiveCount"] = strconv.Itoa(m.receiveCount)
		}
		if all || attrs["SentTimestamp"] {
			a["SentTimestamp"] = strconv.FormatInt(m.sentAt.UnixMilli(), 10)
		}
		if all || attrs["ApproximateFirstReceiveTimestamp"] {
			a["ApproximateFirstReceiveTimestamp"] = strconv.FormatInt(m.firstRecv.UnixMilli(), 10)
		}
		msg := map[string]any{"MessageId": m.id, "ReceiptHandle": m.receipt, "MD5OfBody": m.md5, "Body": m.body}
		if len(a) > 0 {
			msg["Attributes"] = a
		}
		out = append(out, msg)
	}
	return out
}

// remove deletes the message a receipt handle was issued for, if the handle
// is its latest; the caller holds s.mu. As with the real service, an older
// handle of a message received again since succeeds without deleting it,
// and deleting a deleted message succeeds.
func (s *Server) remove(q *fakeQueue, handle string) *apiError {
	m, ok := s.receipts[handle]
	if !ok {
		return senderError("ReceiptHandleIsInvalid", "the receipt handle %q is not valid", handle)
	}
	if m.deleted || m.receipt != handle {
		return nil
	}
	for i, other := range q.msgs {
		if other == m {
			q.msgs = append(q.msgs[:i], q.msgs[i+1:]...)
			m.deleted = true
			return nil
		}
	}
	return nil
}

func (s *Server) deleteMessage(req map[string]json.RawMessage) (any, *apiError) {
	var handle string
	if err := field(req, "ReceiptHandle", &handle); err != nil {
		return nil, err
	}
	s.calls = append(s.calls, Call{Operation: "DeleteMessage", Entries: 1})
	q, err := s.queueOf(req)
	if err != nil {
		return nil, err
	}
	if err := s.remove(q, handle); err != nil {
		return nil, err
	}
	return map[string]any{}, nil
}

func (s *Server) deleteMessageBatch(req map[string]json.RawMessage) (any, *apiError) {
	var entries []deleteEntry
	if err := field(req, "Entries", &entries); err != nil {
		return nil, err
	}
	s.calls = append(s.calls, Call{Operation: "DeleteMessageBatch", Entries: len(entries)})
	q, err := s.queueOf(req)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.ID
	}
	if err := checkEntryIDs(ids); err != nil {
		return nil, err
	}
	type success struct {
		ID string `json:"Id"`
	}
	resp := newBatchResponse[success]()
	for _, e := range entries {
		if err := s.remove(q, e.ReceiptHandle); err != nil {
			resp.refuse(e.ID, err)
			continue
		}
		resp.Successful = append(resp.Successful, success{ID: e.ID})
	}
	return resp, nil
}

func (s *Server) getQueueAttributes(req map[string]json.RawMessage) (any, *apiError) {
	var names []string
	if err := field(req, "AttributeNames", &names); err != nil {
		return nil, err
	}
	s.calls = append(s.calls, Call{Operation: "GetQueueAttributes"})
	q, err := s.queueOf(req)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	visible, inFlight := 0, 0
	for _, m := range q.msgs {
		if m.visibleAt.After(now) {
			inFlight++
		} else {
			visible++
		}
	}
	all := map[string]string{
		"ApproximateNumberOfMessages":           strconv.Itoa(visible),
		"ApproximateNumberOfMessagesNotVisible": strconv.Itoa(inFlight),
		"ApproximateNumberOfMessagesDelayed":    "0",
		"QueueArn":                              q.arn,
		"VisibilityTimeout":                     strconv.Itoa(int(q.visibility / time.Second)),
	}
	out := map[string]string{}
	for _, n := range names {
		if n == "All" {
			out = all
			break
		}
		v, ok := all[n]
		if !ok {
			return nil, senderError("InvalidAttributeName", "the fake does not know the attribute %s", n)
		}
		out[n] = v
	}
	return map[string]any{"Attributes": out}, nil
}

func (s *Server) getQueueURL(req map[string]json.RawMessage) (any, *apiError) {
	var name string
	if err := field(req, "QueueName", &name); err != nil {
		return nil, err
	}
	s.calls = append(s.calls, Call{Operation: "GetQueueUrl"})
	for _, q := range s.queues {
		if q.name == name {
			return map[string]string{"QueueUrl": q.url}, nil
		}
	}
	return nil, &apiError{status: http.StatusBadRequest, typ: "QueueDoesNotExist",
		query: "AWS.SimpleQueueService.NonExistentQueue", message: "The specified queue does not exist."}
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

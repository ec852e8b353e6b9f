// Package boot starts a Lambda function: it builds the function's handler
// from the environment once per execution environment, so that connections
// are reused across invocations, and hands it to the Lambda runtime. What
// the handler is built from stays in each function's main.
package boot

import (
	"context"
	"io"
	"log"
	"net/http"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"
)

// BuildFunc builds a function's handler from the environment.
type BuildFunc[H any] func(ctx context.Context, getenv func(string) string, stderr io.Writer) (H, error)

// Build runs build with the process's environment. A failure ends the
// process naming the function, so that the runtime reports it as the init
// error.
func Build[H any](function string, build BuildFunc[H]) H {
	h, err := build(context.Background(), os.Getenv, os.Stderr)
	if err != nil {
		log.Fatalf("%s: %v", function, err)
	}
	return h
}

// HTTP serves the handler build returns behind API Gateway's HTTP API
// (payload v2). It does not return.
func HTTP[H http.Handler](function string, build BuildFunc[H]) {
	lambda.Start(httpadapter.NewV2(Build(function, build)).ProxyWithContext)
}

// SQSHandler handles a batch from the SQS event source, reporting the
// messages that failed.
type SQSHandler interface {
	Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error)
}

// SQS feeds the handler build returns from the SQS event source. It does
// not return.
func SQS[H SQSHandler](function string, build BuildFunc[H]) {
	lambda.Start(Build(function, build).Handle)
}

// ScheduledHandler handles one event of an EventBridge schedule and
// returns what it did, which is the invocation's result.
type ScheduledHandler[R any] interface {
	Handle(ctx context.Context, ev events.EventBridgeEvent) (R, error)
}

// Scheduled runs the handler build returns on each event of an EventBridge
// schedule (a Schedule event in template.yaml). It does not return.
func Scheduled[R any, H ScheduledHandler[R]](function string, build BuildFunc[H]) {
	lambda.Start(Build(function, build).Handle)
}

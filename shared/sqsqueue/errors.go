package sqsqueue

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"

	"github.com/logagg/logagg/shared/event"
)

// classify turns an error from the SDK client, which has already retried
// what it could, into an *event.Error: throttling is Overloaded, a request
// SQS refuses (no permission, no such queue) is Internal because the
// deployment is wrong, and anything else (network, SQS's own faults, a
// context that ended) is Unavailable. The message names the SQS error code,
// never the queue's credentials.
func classify(err error, doing string) *event.Error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code := ae.ErrorCode()
		if _, ok := retry.DefaultThrottleErrorCodes[code]; ok {
			return event.Wrap(event.Overloaded, err, "SQS is throttling requests while "+doing+"; retry later")
		}
		if ae.ErrorFault() == smithy.FaultClient {
			return event.Wrap(event.Internal, err, "SQS refused the request while "+doing+" ("+code+")")
		}
		return event.Wrap(event.Unavailable, err, "SQS failed while "+doing+" ("+code+"); retry later")
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return event.Wrap(event.Unavailable, err, "gave up "+doing+": the request's time ran out")
	}
	return event.Wrap(event.Unavailable, err, "SQS is unreachable while "+doing+"; retry later")
}

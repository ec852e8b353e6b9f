package main

import (
	"bytes"
	"errors"
	"testing"

	"github.com/logagg/logagg/internal/envmap"
	"github.com/logagg/logagg/internal/loadgen"
	"github.com/logagg/logagg/internal/proc"
	"github.com/stretchr/testify/require"
)

func TestParseFlagsProtocol(t *testing.T) {
	t.Parallel()
	c, err := parseFlags([]string{"-protocol", "otlp"}, envmap.Env{}.Getenv, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, loadgen.ProtocolOTLP, c.protocol)

	for _, args := range [][]string{{"-protocol", "grpc"}, {"-protocol", "otlp", "-sent-at"}} {
		_, err := parseFlags(args, envmap.Env{}.Getenv, &bytes.Buffer{})
		var usage proc.UsageError
		require.True(t, errors.As(err, &usage), "%v: %v", args, err)
	}
}

func TestSummaryNamesTheRoute(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	printSummary(&out, loadgen.Report{URL: "http://x", Protocol: loadgen.ProtocolOTLP})
	require.Contains(t, out.String(), "to http://x/v1/logs (OTLP, protobuf) in")
	out.Reset()
	printSummary(&out, loadgen.Report{URL: "http://x", Protocol: loadgen.ProtocolJSON})
	require.Contains(t, out.String(), "to http://x in")
}

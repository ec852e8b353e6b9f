package proc_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/proc"
)

func TestParseFlags(t *testing.T) {
	t.Parallel()
	newFlagSet := func() *flag.FlagSet { return flag.NewFlagSet("tool", flag.ContinueOnError) }
	var stderr bytes.Buffer
	fs := newFlagSet()
	n := fs.Int("n", 1, "how many")
	require.NoError(t, proc.ParseFlags(fs, []string{"-n", "3"}, "", &stderr))
	require.Equal(t, 3, *n)
	require.Empty(t, stderr.String())

	err := proc.ParseFlags(newFlagSet(), []string{"-nope"}, "", &stderr)
	require.ErrorIs(t, err, proc.ErrFlagParse)
	require.Contains(t, stderr.String(), "flag provided but not defined: -nope", "the flag package reported it")

	var usage proc.UsageError
	err = proc.ParseFlags(newFlagSet(), []string{"extra"}, "", &stderr)
	require.ErrorAs(t, err, &usage)
	require.ErrorContains(t, err, `unexpected argument "extra"`)

	var help bytes.Buffer
	fs = newFlagSet()
	fs.Int("n", 1, "how many")
	require.ErrorIs(t, proc.ParseFlags(fs, []string{"-h"}, "Does one thing well.", &help), flag.ErrHelp)
	require.Contains(t, help.String(), "Usage: tool [flags]\n\nDoes one thing well.\n\n")
	require.Contains(t, help.String(), "how many")
}

// exitCase is an error a command ends with, its exit status and what is
// reported on stderr.
type exitCase struct {
	err    error
	code   int
	report string
}

func TestExitCode(t *testing.T) {
	t.Parallel()
	cases := []exitCase{
		{err: nil, code: 0},
		{err: flag.ErrHelp, code: 0},
		{err: fmt.Errorf("%w: flag provided but not defined: -x", proc.ErrFlagParse), code: 2},
		{err: fmt.Errorf("checking: %w", proc.UsageError("-n must be positive")), code: 2, report: "tool: checking: -n must be positive\n"},
		{err: errors.New("boom"), code: 1, report: "tool: boom\n"},
	}
	for _, tc := range cases {
		var stderr bytes.Buffer
		require.Equal(t, tc.code, proc.ExitCode("tool", tc.err, &stderr), "%v", tc.err)
		require.Equal(t, tc.report, stderr.String(), "%v", tc.err)
	}
}

package main

import (
	"net/url"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseInfo(t *testing.T) {
	t.Parallel()
	info := "# Memory\r\nused_memory:1234567\r\nused_memory_human:1.18M\r\nused_memory_peak:2000000\r\n\r\n# Server\r\nredis_version:7.0.15\r\nconfig_file:\r\n"
	kv := parseInfo(info)
	require.Equal(t, "1234567", kv["used_memory"])
	require.Equal(t, "7.0.15", kv["redis_version"])
	require.Equal(t, "", kv["config_file"])
	require.NotContains(t, kv, "# Memory")
	require.Len(t, kv, 5)
}

func TestScratchNames(t *testing.T) {
	t.Parallel()
	a, b := newScratch(), newScratch()
	require.NotEqual(t, a.id, b.id)
	require.Regexp(t, regexp.MustCompile(`^bench_[0-9a-f]{12}$`), a.database)
	require.Equal(t, "bench:"+a.id+":events", a.stream)
	require.Equal(t, "bench:"+a.id+":*", a.keyPattern())
}

func TestDatabaseURL(t *testing.T) {
	t.Parallel()
	s := &services{}
	var err error
	s.serverURL, err = url.Parse("postgres://postgres:pw@127.0.0.1:5432/logagg?sslmode=disable")
	require.NoError(t, err)
	require.Equal(t, "postgres://postgres:pw@127.0.0.1:5432/bench_x?sslmode=disable", s.databaseURL("bench_x"))
}

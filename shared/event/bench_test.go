package event

import (
	"fmt"
	"strings"
	"testing"
)

// benchBody is a {"events":[...]} body of n events with payloads of about
// 150 bytes, as a service would log them.
func benchBody(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"events":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"topic":"user.login","event_id":"evt-%08d-4f1c-9a7e-2b6d","timestamp":"2026-11-25T10:00:%02d.%06dZ","source":"auth-service",`+
			`"payload":{"user":"ana-%d","ip":"203.0.113.%d","agent":"Mozilla/5.0 (X11; Linux x86_64)","ok":true,"latency_ms":%d.5,"tags":["web","eu-west-1"],"attempt":%d}}`,
			i, i%60, i, i, i%256, i%1000, i%3)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

func BenchmarkDecodeRequest(b *testing.B) {
	for _, n := range []int{500, 10000} {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			body := benchBody(n)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				events, err := DecodeRequest("application/json", body, DefaultLimits())
				if err != nil || len(events) != n {
					b.Fatal(err, len(events))
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

func BenchmarkDecodeRequestNDJSON(b *testing.B) {
	const n = 500
	events, err := DecodeRequest("application/json", benchBody(n), DefaultLimits())
	if err != nil {
		b.Fatal(err)
	}
	var lines []byte
	for _, e := range events {
		enc, err := Encode(e)
		if err != nil {
			b.Fatal(err)
		}
		lines = append(append(lines, enc...), '\n')
	}
	b.SetBytes(int64(len(lines)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeRequest("application/x-ndjson", lines, DefaultLimits()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkEncode(b *testing.B) {
	events, err := DecodeRequest("application/json", benchBody(500), DefaultLimits())
	if err != nil {
		b.Fatal(err)
	}
	enc, err := Encode(events[0])
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := Encode(events[i%len(events)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkEncodeMessage(b *testing.B) {
	events, err := DecodeRequest("application/json", benchBody(500), DefaultLimits())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(EncodeMessage(events[0]))))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		EncodeMessage(events[i%len(events)])
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkDecodeMessage decodes queue messages of one event and of 100,
// the most a published message carries.
func BenchmarkDecodeMessage(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			events, err := DecodeRequest("application/json", benchBody(n), DefaultLimits())
			if err != nil {
				b.Fatal(err)
			}
			parts := make([]string, n)
			for i, e := range events {
				parts[i] = string(EncodeMessage(e))
			}
			msg := []byte(parts[0])
			if n > 1 {
				msg = []byte("[" + strings.Join(parts, ",") + "]")
			}
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeMessage(msg); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/logagg/logagg/internal/loadgen"
)

// published is what a run sent.
type published struct {
	result loadgen.PublishResult
	unique int    // distinct (topic, event_id) among the events sent
	runID  string // generated load only
	input  string // -file or -lines only
}

func publishGenerated(ctx context.Context, client *loadgen.Client, cfg config, stderr io.Writer) (published, error) {
	runID := cfg.runID
	if runID == "" {
		runID = loadgen.NewRunID()
	}
	events, unique := loadgen.Generate(loadgen.Plan{
		Events:       cfg.events,
		DupRate:      cfg.dupRate,
		Topics:       cfg.topics,
		PayloadBytes: cfg.payloadBytes,
		Seed:         cfg.seed,
		RunID:        runID,
		SentAtField:  cfg.sentAt,
	})
	bar := newBar(stderr, int64(len(events)), "publishing", false)
	pub, err := client.Publish(ctx, events, loadgen.PublishOptions{
		BatchSize:   cfg.batch,
		Concurrency: cfg.concurrency,
		Rate:        cfg.rate,
		StampSentAt: cfg.sentAt,
		Protocol:    cfg.protocol,
		Progress:    func(sent int) { bar.set(int64(sent)) },
	})
	bar.finish()
	return published{result: pub, unique: unique, runID: runID}, err
}

// Reading a file a chunk at a time bounds memory: a chunk keeps every
// request in flight busy a few times over.
const (
	chunkBatchesPerWorker = 4
	chunkBytes            = 32 << 20
)

// publishInput sends the events of -file or -lines. A refused request
// stops the run with an error naming the input lines concerned.
func publishInput(ctx context.Context, client *loadgen.Client, cfg config, stdin io.Reader, stderr io.Writer) (published, error) {
	path, size := cfg.inputPath(), int64(-1)
	name, r := "stdin", stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return published{}, err
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			size = st.Size()
		}
		name, r = path, f
	}
	var lines *lineEvents
	if cfg.lines != "" {
		lines = &lineEvents{topic: cfg.linesTopic, source: cfg.linesSource, identity: cfg.linesID, at: cfg.linesTime}
		if lines.identity == "" {
			abs, err := filepath.Abs(path)
			if err != nil {
				return published{}, err
			}
			lines.identity = abs
		}
	}
	in := newInput(name, r, lines)

	bar := newBar(stderr, size, "publishing "+name, true)
	defer bar.finish()
	var total loadgen.PublishResult
	var done int64 // input bytes whose events were accepted
	for {
		c, readErr := in.next(cfg.batch*cfg.concurrency*chunkBatchesPerWorker, chunkBytes)
		if errors.Is(readErr, io.EOF) {
			break
		}
		// Events read before a bad line go first: a resend of them is
		// deduplicated, and the error then names the line to fix.
		pub, err := client.Publish(ctx, c.events, loadgen.PublishOptions{
			BatchSize:     cfg.batch,
			MaxBatchBytes: cfg.batchBytes,
			Concurrency:   cfg.concurrency,
			Rate:          cfg.rate,
			Accepted: func(first, end int) {
				for _, n := range c.bytes[first:end] {
					done += n
				}
				bar.set(done)
			},
		})
		total.Sent += pub.Sent
		total.Requests += pub.Requests
		total.Retries += pub.Retries
		total.Latencies = append(total.Latencies, pub.Latencies...)
		total.Elapsed += pub.Elapsed
		switch {
		case err != nil:
			return published{result: total, input: name}, refusedLines(name, c, err)
		case readErr != nil:
			return published{result: total, input: name}, readErr
		}
	}
	return published{result: total, unique: in.unique(), input: name}, nil
}

// maxNamedLines bounds how many refused lines an error lists.
const maxNamedLines = 10

// refusedLines names the input lines of a failed request: the refused ones
// when the answer's details give them, else the request's whole range.
func refusedLines(name string, c chunk, err error) error {
	var be *loadgen.BatchError
	if !errors.As(err, &be) {
		return err
	}
	var se *loadgen.StatusError
	if errors.As(err, &se) && len(se.Details) > 0 {
		var named []string
		for _, d := range se.Details {
			if i := be.First + d.Index; i >= be.First && i < be.End && len(named) < maxNamedLines {
				named = append(named, fmt.Sprintf("%s line %d: %s", name, c.line[i], d.Message))
			}
		}
		if extra := len(se.Details) - len(named); extra > 0 {
			named = append(named, fmt.Sprintf("and %d more", extra))
		}
		return fmt.Errorf("the request of %s lines %d to %d was refused: %w\n%s",
			name, c.line[be.First], c.line[be.End-1], be.Err, strings.Join(named, "\n"))
	}
	return fmt.Errorf("the request of %s lines %d to %d failed: %w", name, c.line[be.First], c.line[be.End-1], be.Err)
}

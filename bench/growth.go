package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/logagg/logagg/shared/event"
	"github.com/logagg/logagg/shared/store"
)

// runGrowth is `bench growth`: for each size, a fresh database preloaded
// with that many events, then ingest alternating with an empty database,
// the read shapes, the disk used; on the largest, a retention pass under
// load.
func runGrowth(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	started := time.Now()
	g, err := parseGrowthConfig(args, getenv, stderr, started)
	if err != nil {
		return err
	}
	root, err := checkoutRoot()
	if err != nil {
		return err
	}
	inCheckout(root, &g.out, &g.chart, &g.logDir)
	b, err := startBench(ctx, config{runSettings: g.runSettings}, root, started, stderr)
	if err != nil {
		return err
	}
	defer b.svc.Close()

	rep := newGrowthReport(ctx, b, g, started)
	if err := b.checkGrowthSpace(ctx, g, rep); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "bench: logs in %s\n", b.logDir)
	err = b.growth(ctx, g, rep)
	rep.Seconds = num(time.Since(started).Seconds())
	if err != nil {
		return fmt.Errorf("interrupted: %w", err)
	}
	if err := writeGrowth(rep, g, root); err != nil {
		return err
	}
	printGrowth(stdout, rep, relative(root, g.out))
	return growthOutcome(rep, g.strict)
}

// newGrowthReport starts the report: what is measured, where, with what.
func newGrowthReport(ctx context.Context, b *bench, g growthConfig, started time.Time) *growthReport {
	return &growthReport{
		Schema: growthSchemaVersion, StartedAt: started.UTC().Truncate(time.Second), Seconds: nan(),
		Commit: gitDescribe(ctx, b.root), Changes: gitChanges(ctx, b.root), Machine: describeMachine(ctx, b.svc),
		Settings: g.describe(),
		Notes: []string{
			"Each size is a fresh database: the events are preloaded server-side (generate_series), one a second up to a few seconds ago, processed 3 to 5 s after their timestamp, in partitions of the default PARTITION_INTERVAL; then a maintenance pass closes the ended partitions (vacuum, analyze, window indexes).",
			"Ingest runs into the preloaded database alternate with runs into an empty one, so that whatever else the machine does weighs on both; the preloaded database keeps what each run stores.",
			"Reads are timed with ingest idle, before the ingest runs (whose events carry the publisher's timestamps, of 2026-01-01), one request at a time against a localrun of the main configuration, from sending to the last byte of the answer. With nothing stored, only the shapes that need no topic, source or history are measured: the floor of HTTP and planning.",
			"The keys' primary key is built once after the preload: denser than the index the consumers' random inserts grow, by about 24 bytes per event (78 against 101 bytes per key, measured at a million keys).",
		},
	}
}

// checkGrowthSpace fails before anything is created when PostgreSQL's disk
// cannot hold the largest size; a server whose disk cannot be looked at
// only gets a note.
func (b *bench) checkGrowthSpace(ctx context.Context, g growthConfig, rep *growthReport) error {
	largest := g.largest()
	if largest == 0 {
		return nil
	}
	conn, err := b.svc.admin(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	dir, free, err := freeSpace(ctx, conn)
	if err != nil {
		rep.Notes = append(rep.Notes, fmt.Sprintf("The free disk space was not checked (%v): %s need about %.1f GB.",
			err, sizeName(largest), float64(spaceNeeded(largest))/1e9))
		return nil
	}
	return checkSpace(dir, free, spaceNeeded(largest), largest)
}

// growth measures every size, smallest first, and the retention pass on
// the largest. It returns an error only when interrupted.
func (b *bench) growth(ctx context.Context, g growthConfig, rep *growthReport) error {
	for i, n := range g.sizes {
		sz, err := b.growSize(ctx, g, n, i == len(g.sizes)-1, rep)
		rep.Sizes = append(rep.Sizes, sz)
		if err != nil {
			return err
		}
	}
	rep.Targets = evaluateGrowthTargets(rep)
	return nil
}

// growSize is one size: a database preloaded with n events, closed, read,
// loaded and dropped.
func (b *bench) growSize(ctx context.Context, g growthConfig, n int, largest bool, rep *growthReport) (sz growthSize, err error) {
	sz = newGrowthSize(n)
	fmt.Fprintf(b.progress, "bench: === %s stored ===\n", sizeName(n))
	sc := newScratch()
	if err := b.svc.create(ctx, sc); err != nil {
		sz.Error = err.Error()
		return sz, ctx.Err()
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if rerr := b.svc.remove(cctx, sc); rerr != nil && sz.Error == "" {
			sz.Error = rerr.Error()
		}
	}()
	dbURL := b.svc.databaseURL(sc.database)
	p, err := b.prepare(ctx, dbURL, n, g.partitionInterval, &sz)
	if err != nil {
		sz.Error = err.Error()
		fmt.Fprintf(b.progress, "bench: %s: %v\n", sizeName(n), err)
		return sz, ctx.Err()
	}

	// The reads come before the ingest runs: they measure a store of n
	// events each in its place in history. The runs' events carry
	// timestamps of one morning months ago (the publisher's): a few hundred
	// thousand of them in the partition taking rows would widen every range
	// of its BRIN index on "timestamp" to those months, as a backfill of
	// old logs would, and with nothing preloaded they would all fall in
	// every window. Both are questions of their own.
	if sz.Reads, sz.StoredAtReads, err = b.readPhase(ctx, g, sc, p); err != nil {
		sz.Error = err.Error()
		fmt.Fprintf(b.progress, "bench: reads at %s: %v\n", sizeName(n), err)
		if ctx.Err() != nil {
			return sz, ctx.Err()
		}
	}
	if err := b.growthIngest(ctx, g, n, sc, &sz); err != nil {
		return sz, err
	}
	if largest && n > 0 && g.retentionDrop > 0 {
		rp, err := b.retentionPhase(ctx, g, sc, n)
		rep.Retention = rp
		if err != nil {
			return sz, err
		}
	}
	return sz, nil
}

// prepare opens the store on the new database (which migrates it and
// creates the current partitions), preloads n events, closes the ended
// partitions as the maintenance does, and measures disk and planning.
func (b *bench) prepare(ctx context.Context, dbURL string, n int, interval time.Duration, sz *growthSize) (preloaded, error) {
	st, err := store.Open(ctx, dbURL, store.Options{PartitionInterval: interval})
	if err != nil {
		return preloaded{}, err
	}
	defer st.Close()
	p, err := preload(ctx, st, dbURL, n, preloadChunk, b.progress)
	if err != nil {
		return p, err
	}
	if n > 0 {
		sz.PreloadSeconds = num(p.seconds)
		sz.PreloadEventsPerSec = num(float64(n) / p.seconds)
		fmt.Fprintf(b.progress, "bench: preloaded %s in %.0fs; closing the ended partitions …\n", sizeName(n), p.seconds)
	}
	started := time.Now()
	m, err := st.Maintain(ctx, store.Policy{})
	if err != nil {
		return p, fmt.Errorf("closing the preloaded partitions: %w", err)
	}
	if m.Skipped {
		return p, errors.New("closing the preloaded partitions: another process was maintaining the new database")
	}
	sz.Close = &closePass{Seconds: num(time.Since(started).Seconds()), Partitions: len(m.Closed)}
	fmt.Fprintf(b.progress, "bench: closed %d partitions in %.1fs\n", len(m.Closed), float64(sz.Close.Seconds))

	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return p, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if n > 0 {
		d, err := measureDisk(ctx, conn)
		if err != nil {
			return p, err
		}
		sz.Disk = &d
	}
	pl, err := measurePlanning(ctx, conn)
	if err != nil {
		return p, err
	}
	sz.Planning = &pl
	return p, nil
}

// growthIngest alternates runs into the preloaded database and into empty
// ones, the same load (seed) in each pair, the pairs in turn stored first
// and empty first (ABBA), so that neither side always runs first.
func (b *bench) growthIngest(ctx context.Context, g growthConfig, n int, sc scratch, sz *growthSize) error {
	pipe := pipeline{g.batchSize, g.workers}
	sz.Stored = phase{Pipeline: pipe, Events: g.events}
	sz.Empty = phase{Pipeline: pipe, Events: g.events}
	stored := func(spec runSpec) error {
		spec.label = fmt.Sprintf("stored-%s-%s", shortCount(float64(n)), spec.label)
		r, err := b.measureOn(ctx, spec, sc.database)
		sz.Stored.Runs = append(sz.Stored.Runs, r)
		return err
	}
	empty := func(spec runSpec) error {
		spec.label = fmt.Sprintf("empty-%s-%s", shortCount(float64(n)), spec.label)
		r, _, err := b.measure(ctx, spec)
		sz.Empty.Runs = append(sz.Empty.Runs, r)
		return err
	}
	for i := 1; i <= g.runs; i++ {
		spec := runSpec{label: strconv.Itoa(i), pipe: pipe, events: g.events, seed: int64(i)}
		pair := []func(runSpec) error{stored, empty}
		if i%2 == 0 {
			pair[0], pair[1] = empty, stored
		}
		for _, measure := range pair {
			if err := measure(spec); err != nil {
				return err
			}
		}
	}
	sz.Stored.Summary, sz.Empty.Summary = summarize(sz.Stored.Runs), summarize(sz.Empty.Runs)
	sz.Ratio = num(ratio(float64(sz.Stored.Summary.E2EEventsPerSec), float64(sz.Empty.Summary.E2EEventsPerSec)))
	return nil
}

// readPhase starts a localrun on the database, with nothing to consume,
// and times every read shape.
func (b *bench) readPhase(ctx context.Context, g growthConfig, db scratch, p preloaded) ([]readResult, int64, error) {
	sc := newScratch()
	sc.database = db.database
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = b.svc.deleteKeys(cctx, sc)
	}()
	conn, err := pgx.Connect(ctx, b.svc.databaseURL(sc.database))
	if err != nil {
		return nil, 0, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	pool, stored, err := readPoolOf(ctx, conn, p, g.cursorPage)
	if err != nil {
		return nil, 0, err
	}
	srv, err := startServer(b.localrun, b.localrunEnv(sc, pipeline{g.batchSize, g.workers}), filepath.Join(b.logDir, "reads-"+sc.id+".log"))
	if err != nil {
		return nil, stored, err
	}
	defer func() { _, _ = srv.stop(stopGrace) }()
	if err := srv.waitHealthy(ctx, healthTimeout); err != nil {
		return nil, stored, err
	}
	shapes := readShapes(g.cursorPage)
	fmt.Fprintf(b.progress, "bench: %d read shapes × %d requests over %s stored …\n", len(shapes), g.reads, sizeName(int(stored)))
	started := time.Now()
	rd := reader{client: &http.Client{Timeout: time.Minute}, base: srv.url}
	results, err := timeReads(ctx, rd, shapes, pool, g.reads, uint64(p.events)+1)
	fmt.Fprintf(b.progress, "bench: reads done (%.0fs)\n", time.Since(started).Seconds())
	return results, stored, err
}

// readPoolOf lists the preloaded events' topics and sources, and their
// history, which the windows go in; and counts the events stored.
func readPoolOf(ctx context.Context, conn *pgx.Conn, p preloaded, cursorPage int) (readPool, int64, error) {
	var pool readPool
	var stored int64
	rows, err := conn.Query(ctx, `SELECT topic, sum(unique_count)::bigint FROM topic_stats GROUP BY topic HAVING sum(unique_count) > 0 ORDER BY topic`)
	if err != nil {
		return pool, 0, err
	}
	var topic string
	var count int64
	_, err = pgx.ForEachRow(rows, []any{&topic, &count}, func() error {
		stored += count
		pool.topics = append(pool.topics, topic)
		if count >= int64(cursorPage*event.DefaultListLimit) {
			pool.deepTopics = append(pool.deepTopics, topic)
		}
		return nil
	})
	if err != nil {
		return pool, 0, err
	}
	// A loose index scan: one probe of (source, processed_at, id) per source.
	rows, err = conn.Query(ctx, `
		WITH RECURSIVE s(source) AS (
			(SELECT source FROM processed_events ORDER BY source LIMIT 1)
			UNION ALL
			SELECT (SELECT p.source FROM processed_events p WHERE p.source > s.source ORDER BY p.source LIMIT 1)
			FROM s WHERE s.source IS NOT NULL
		)
		SELECT source FROM s WHERE source IS NOT NULL`)
	if err == nil {
		pool.sources, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil {
		return pool, 0, err
	}
	if p.events > 0 {
		pool.from, pool.before = p.first, p.last.Add(time.Second)
	}
	return pool, stored, nil
}

// retentionPhase measures a retention pass on the full store: three runs
// of the load, alternating without and with the pass, which starts once a
// tenth of the run's events were received and drops the oldest partitions,
// about g.retentionDrop events.
func (b *bench) retentionPhase(ctx context.Context, g growthConfig, sc scratch, n int) (*retentionPhase, error) {
	dbURL := b.svc.databaseURL(sc.database)
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rp := newRetentionPhase(n, g)
	var now time.Time
	if err := conn.QueryRow(ctx, `SELECT now()`).Scan(&now); err != nil {
		return rp, err
	}
	ended, err := endedPartitions(ctx, conn, now)
	if err != nil {
		return rp, err
	}
	k := retentionCutoff(ended, int64(g.retentionDrop))
	if k == 0 {
		rp.Error = "no partition has ended: nothing to drop"
		return rp, nil
	}
	rp.Cutoff = ended[k-1].before.UTC()
	rp.PartitionsToDrop = k
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM processed_events WHERE processed_at < $1`, rp.Cutoff).Scan(&rp.EventsDropped); err != nil {
		return rp, err
	}
	if err := conn.QueryRow(ctx, `SELECT coalesce(sum(unique_processed), 0)::bigint FROM stats_shards`).Scan(&rp.StoredBefore); err != nil {
		return rp, err
	}
	st, err := store.Open(ctx, dbURL, store.Options{PartitionInterval: g.partitionInterval})
	if err != nil {
		return rp, err
	}
	defer st.Close()
	fmt.Fprintf(b.progress, "bench: retention: dropping %d partitions, %s, processed before %s, under load …\n",
		k, sizeName(int(rp.EventsDropped)), rp.Cutoff.Format(time.RFC3339))

	pipe := pipeline{g.batchSize, g.workers}
	var without []*retentionRun
	var with retentionRun
	var passErr error
	for i, pass := range []bool{false, true, false} {
		spec := runSpec{label: fmt.Sprintf("retention-%d", i+1), pipe: pipe, events: g.events, seed: int64(300 + i)}
		rr := &with
		if !pass {
			rr = &retentionRun{}
			without = append(without, rr)
			spec.alongside = func(ctx context.Context, url string) error { return rr.follow(ctx, url, g.events, nil) }
		} else {
			spec.label = "retention-pass"
			spec.alongside = func(actx context.Context, url string) error {
				return rr.follow(actx, url, g.events, func() {
					var at time.Time
					if passErr = conn.QueryRow(ctx, `SELECT now()`).Scan(&at); passErr != nil {
						return
					}
					// The ledger as localrun keeps it by default: the
					// partitions dropped are older than it.
					policy := store.Policy{Retention: at.Sub(rp.Cutoff), Ledger: store.DefaultLedgerRetention}
					if g.retentionKeys {
						policy.DedupWindow = policy.Retention
					}
					rp.RetentionSeconds = num(policy.Retention.Seconds())
					passErr = rr.maintainUntilDone(ctx, st, policy)
				})
			}
		}
		r, err := b.measureOn(ctx, spec, sc.database)
		if pass {
			rp.With = r
		} else {
			rp.Without = append(rp.Without, r)
		}
		if err != nil {
			return rp, err
		}
	}
	if passErr != nil {
		rp.Error = passErr.Error()
		return rp, nil
	}
	var left int64
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM processed_events WHERE processed_at < $1`, rp.Cutoff).Scan(&left); err != nil {
		return rp, err
	}
	rp.fill(&with, without, left)
	fmt.Fprintf(b.progress, "bench: retention pass: %d partitions dropped in %.2fs; %s events/s received meanwhile, %s in the same span without\n",
		rp.PartitionsDropped, float64(rp.Seconds), thousands(float64(rp.RateDuring)), thousands(float64(rp.RateWithout)))
	return rp, nil
}

// writeGrowth writes the JSON results and the chart.
func writeGrowth(rep *growthReport, g growthConfig, root string) error {
	svg, err := growthChart(rep)
	if err != nil {
		rep.Notes = append(rep.Notes, "no chart: "+err.Error())
	} else {
		if err := writeFile(g.chart, svg); err != nil {
			return err
		}
		rep.Chart = relative(root, g.chart)
	}
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(g.out, append(data, '\n'))
}

// growthOutcome fails a run that could not measure something, or with
// strict set, one that missed a target.
func growthOutcome(rep *growthReport, strict bool) error {
	for _, sz := range rep.Sizes {
		if sz.Error != "" {
			return fmt.Errorf("at %s: %s", sizeName(sz.Preloaded), sz.Error)
		}
	}
	if rep.Retention != nil && rep.Retention.Error != "" {
		return fmt.Errorf("the retention pass: %s", rep.Retention.Error)
	}
	if strict {
		for _, t := range rep.Targets {
			if t.Status != statusPass {
				return errTargetsMissed
			}
		}
	}
	return nil
}

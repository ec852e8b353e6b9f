package store

import (
	"context"
	"time"
)

// maxDropRest bounds a rest between the steps of a drop.
const maxDropRest = time.Second

// diskPacer spaces out the steps of a pass that free files (see
// dropPartition): after such a step the disk is owed a rest as long as the
// step took (maxDropRest at most), and the next step that writes or frees
// much waits for what is left of it. Work in between that frees no files
// and writes little (detaching the next partition, its ledger entries,
// analyzing, summarising, pruning by age) counts toward the rest. The pass
// ends with what is left of the last rest, so that the stalls it causes
// fall within it. Closing a partition waits for the rest before it begins,
// but its own steps (vacuum, index rebuilds and builds) are not paced.
type diskPacer struct {
	free   time.Time     // when the disk may be taken again
	rested time.Duration // how long the pass waited for it
	// now and sleep are the clock, time.Now and a sleep cut short by
	// ctx when nil.
	now   func() time.Time
	sleep func(context.Context, time.Duration) error
}

// step waits for the disk, executes sql, and owes the disk a rest.
func (p *diskPacer) step(ctx context.Context, db execer, sql string) error {
	if err := p.wait(ctx); err != nil {
		return err
	}
	start := p.clock()
	if _, err := db.Exec(ctx, sql); err != nil {
		return err
	}
	end := p.clock()
	p.free = end.Add(min(end.Sub(start), maxDropRest))
	return nil
}

// wait waits for what is left of the rest owed.
func (p *diskPacer) wait(ctx context.Context) error {
	left := p.free.Sub(p.clock())
	if left <= 0 {
		return nil
	}
	sleep := p.sleep
	if sleep == nil {
		sleep = func(ctx context.Context, d time.Duration) error {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(d):
				return nil
			}
		}
	}
	if err := sleep(ctx, left); err != nil {
		return err
	}
	p.rested += left
	return nil
}

func (p *diskPacer) clock() time.Time {
	if p.now == nil {
		return time.Now()
	}
	return p.now()
}

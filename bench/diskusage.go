package main

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"github.com/jackc/pgx/v5"
)

// diskUsage is what the stored events take on disk: processed_events'
// partitions and event_keys, each table (heap, TOAST, free space and
// visibility maps) apart from its indexes.
type diskUsage struct {
	Events              int64 `json:"events"`
	Partitions          int   `json:"partitions"`
	EventsTableBytes    int64 `json:"events_table_bytes"`
	EventsIndexBytes    int64 `json:"events_index_bytes"`
	KeysTableBytes      int64 `json:"keys_table_bytes"`
	KeysIndexBytes      int64 `json:"keys_index_bytes"`
	TotalBytes          int64 `json:"total_bytes"`
	BytesPerEvent       num   `json:"bytes_per_event"`
	TableBytesPerEvent  num   `json:"table_bytes_per_event"` // both tables
	IndexBytesPerEvent  num   `json:"index_bytes_per_event"` // every index of both
	EventsBytesPerEvent num   `json:"events_bytes_per_event"`
	KeysBytesPerEvent   num   `json:"keys_bytes_per_event"`
}

// measureDisk reads the sizes of processed_events' partitions and of
// event_keys, and divides them by the events stored.
func measureDisk(ctx context.Context, conn *pgx.Conn) (diskUsage, error) {
	var d diskUsage
	err := conn.QueryRow(ctx, `
		SELECT count(*), coalesce(sum(pg_table_size(i.inhrelid)), 0)::bigint, coalesce(sum(pg_indexes_size(i.inhrelid)), 0)::bigint,
			pg_table_size('event_keys'), pg_indexes_size('event_keys'),
			(SELECT coalesce(sum(unique_processed), 0)::bigint FROM stats_shards)
		FROM pg_inherits i WHERE i.inhparent = 'processed_events'::regclass`).
		Scan(&d.Partitions, &d.EventsTableBytes, &d.EventsIndexBytes, &d.KeysTableBytes, &d.KeysIndexBytes, &d.Events)
	if err != nil {
		return d, fmt.Errorf("reading the store's size: %w", err)
	}
	d.fill()
	return d, nil
}

// fill computes the totals and the figures per event.
func (d *diskUsage) fill() {
	d.TotalBytes = d.EventsTableBytes + d.EventsIndexBytes + d.KeysTableBytes + d.KeysIndexBytes
	per := func(b int64) num {
		if d.Events <= 0 {
			return nan()
		}
		return num(float64(b) / float64(d.Events))
	}
	d.BytesPerEvent = per(d.TotalBytes)
	d.TableBytesPerEvent = per(d.EventsTableBytes + d.KeysTableBytes)
	d.IndexBytesPerEvent = per(d.EventsIndexBytes + d.KeysIndexBytes)
	d.EventsBytesPerEvent = per(d.EventsTableBytes + d.EventsIndexBytes)
	d.KeysBytesPerEvent = per(d.KeysTableBytes + d.KeysIndexBytes)
}

// diskBytesPerEvent is a generous estimate of what one stored event takes,
// for the free space check: 819 bytes were measured at a million events
// (the row, six indexes, its key and the key's index), and a store grown by
// ingest has a looser keys index.
const diskBytesPerEvent = 900

// diskMargin is room for everything else: the empty databases' runs, the
// sorts that build indexes, write-ahead log.
const diskMargin = 2 << 30

// spaceNeeded is about how many bytes preloading largest events needs.
func spaceNeeded(largest int) int64 {
	return int64(largest)*diskBytesPerEvent + diskMargin
}

// errNoSpace is a free space check that failed.
var errNoSpace = errors.New("not enough free disk space")

// checkSpace fails, saying what to do, unless dir's file system has
// need bytes free.
func checkSpace(dir string, free, need int64, largest int) error {
	if free >= need {
		return nil
	}
	return fmt.Errorf("%w: preloading %s needs about %.1f GB on PostgreSQL's data directory %s, which has %.1f GB free; "+
		"free some space or measure smaller sizes (BENCH_GROWTH_SIZES=0,1000000)",
		errNoSpace, sizeName(largest), float64(need)/1e9, dir, float64(free)/1e9)
}

// freeSpace returns PostgreSQL's data directory and the bytes free on its
// file system. It fails when the server does not say where its data is
// (a role without the right to read it), or the directory is not on this
// machine (a server in a container or elsewhere).
func freeSpace(ctx context.Context, conn *pgx.Conn) (dir string, free int64, err error) {
	if err := conn.QueryRow(ctx, `SHOW data_directory`).Scan(&dir); err != nil {
		return "", 0, err
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		return dir, 0, err
	}
	return dir, int64(fs.Bavail) * fs.Bsize, nil
}

package store

import (
	"context"
	"math/rand/v2"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"

	"github.com/logagg/logagg/migrations"
	"github.com/logagg/logagg/shared/event"
)

// Options tune a Store. Zero fields take their defaults.
type Options struct {
	// MaxConns bounds the connection pool (default DefaultMaxConns).
	MaxConns int32
	// Shards is how many rows each counter is spread over so that concurrent
	// consumers rarely wait for one another (default 16). Replicas may use
	// different values: every row that exists is summed on read.
	Shards int
	// PartitionInterval is how much processing time one partition of
	// processed_events covers (default DefaultPartitionInterval), at least
	// MinPartitionInterval. Replicas should agree on it.
	PartitionInterval time.Duration
	// IdleInTransactionTimeout is PostgreSQL's
	// idle_in_transaction_session_timeout on every connection (default
	// DefaultIdleInTransactionTimeout; negative leaves the server's
	// setting). A session that sits in an open transaction this long,
	// waiting for its client, is ended and its transaction rolled back.
	// Its client is paused, or cut off, or hung: a replica stopped between
	// the consume transaction's round trips holds the row locks of the keys
	// it inserted, and the replica that reclaims its messages would
	// otherwise wait on them for as long as the pause lasts.
	IdleInTransactionTimeout time.Duration
}

// DefaultMaxConns is the connection pool's size when Options leave it 0
// (DB_MAX_CONNS).
const DefaultMaxConns = 8

// DefaultIdleInTransactionTimeout is Options.IdleInTransactionTimeout when
// it is 0 (DB_IDLE_IN_TRANSACTION_TIMEOUT). The consume transaction is
// never idle between its two round trips for longer than it takes to plan
// the second in Go, well under a millisecond; the bound is seconds so that
// a process starved of CPU is not cut off, and short beside CLAIM_IDLE.
const DefaultIdleInTransactionTimeout = 5 * time.Second

const (
	defaultShards         = 16
	defaultConnectTimeout = 10 * time.Second
)

// Store is logagg's PostgreSQL store. It is safe for concurrent use.
type Store struct {
	pool     *pgxpool.Pool
	host     string // host:port, for error messages that must not carry the password
	shards   int
	interval time.Duration // of the partitions this Store creates
	next     atomic.Uint64 // round-robin counter shard cursor
}

// Open connects to the database at databaseURL, applies the embedded
// migrations (under an advisory lock, so replicas may start at once),
// creates any missing counter shard rows and the partitions for now and the
// intervals ahead. An unreachable database is an
// *event.Error with code Unavailable that names the host, never the
// password; one that turns the connection away for good (no such database,
// wrong credentials) is Invalid, with PostgreSQL's reason.
func Open(ctx context.Context, databaseURL string, opts Options) (*Store, error) {
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	if opts.Shards <= 0 {
		opts.Shards = defaultShards
	}
	if opts.IdleInTransactionTimeout == 0 {
		opts.IdleInTransactionTimeout = DefaultIdleInTransactionTimeout
	}
	if opts.PartitionInterval <= 0 {
		opts.PartitionInterval = DefaultPartitionInterval
	}
	if opts.PartitionInterval < MinPartitionInterval {
		return nil, event.Errorf(event.Invalid, "a partition interval of %s is shorter than the least, %s", opts.PartitionInterval, MinPartitionInterval)
	}
	if opts.PartitionInterval%time.Minute != 0 {
		// Partitions are named to the minute: two starting in one minute
		// would have one name.
		return nil, event.Errorf(event.Invalid, "a partition interval of %s is not a whole number of minutes", opts.PartitionInterval)
	}
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		// pgconn redacts the password in its parse errors.
		return nil, event.Wrap(event.Invalid, err, "the database URL does not parse")
	}
	cfg.MaxConns = opts.MaxConns
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	if opts.IdleInTransactionTimeout > 0 {
		// Sent when each connection starts; it overrides the same
		// parameter in the URL. In milliseconds, PostgreSQL's unit for it.
		ms := max(opts.IdleInTransactionTimeout.Milliseconds(), 1)
		cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = strconv.FormatInt(ms, 10)
	}
	if _, set := cfg.ConnConfig.RuntimeParams["max_parallel_workers_per_gather"]; !set {
		// logagg reads a page at a time: starting parallel workers costs
		// more than they save. A one-day window in timestamp order at 20
		// million events took 119 to 161 ms with two workers, 39 to 44 ms
		// without (EXPLAIN ANALYZE, two cores). A parameter of the URL's
		// options wins.
		cfg.ConnConfig.RuntimeParams["max_parallel_workers_per_gather"] = "0"
	}
	detectDeadPeers(&cfg.ConnConfig.Config)
	s := &Store{
		host:     net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port))),
		shards:   opts.Shards,
		interval: opts.PartitionInterval,
	}
	s.next.Store(rand.Uint64())
	s.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, s.unavailable(err)
	}
	if err := s.migrate(ctx); err != nil {
		s.pool.Close()
		return nil, err
	}
	if err := s.ensureCurrentPartitions(ctx); err != nil {
		s.pool.Close()
		return nil, err
	}
	return s, nil
}

// migrate brings the schema to the latest version and creates the counter
// shard rows this Store uses.
func (s *Store) migrate(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		if refusedConnection(err) {
			// Invalid, not Unavailable: retrying would only delay the
			// message that the URL must change.
			return event.Wrap(event.Invalid, err, "PostgreSQL at "+s.host+" refused the connection: "+pgMessage(err))
		}
		return s.unavailable(err)
	}
	defer conn.Release()
	m, err := migrate.NewMigrator(ctx, conn.Conn(), migrations.VersionTable)
	if err != nil {
		return s.classify(err, "preparing the database schema")
	}
	if err := m.LoadMigrations(migrations.FS); err != nil {
		return event.Wrap(event.Internal, err, "loading the database migrations")
	}
	if err := m.Migrate(ctx); err != nil {
		return s.classify(err, "migrating the database schema")
	}
	_, err = conn.Exec(ctx, `
		INSERT INTO stats_shards (shard) SELECT generate_series(0, $1::int - 1) ON CONFLICT DO NOTHING;
	`, s.shards)
	if err == nil {
		_, err = conn.Exec(ctx, `
			INSERT INTO published_counts (shard) SELECT generate_series(0, $1::int - 1) ON CONFLICT DO NOTHING;
		`, s.shards)
	}
	if err != nil {
		return s.classify(err, "creating the counter rows")
	}
	return nil
}

// Close closes every connection. It waits for connections in use to be
// given back.
func (s *Store) Close() { s.pool.Close() }

// Ping reports whether the database answers: nil, or an *event.Error with
// code Unavailable.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return s.unavailable(err)
	}
	return nil
}

// shard picks the counter shard for one write. Successive calls on one Store
// take successive shards, so its concurrent consumers do not share a row;
// the random start spreads replicas apart.
func (s *Store) shard() int32 {
	return int32(s.next.Add(1) % uint64(s.shards))
}

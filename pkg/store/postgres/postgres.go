// Package postgres is the store.Store that several klaxon-receiver
// replicas share: one PostgreSQL database, reached through a pgx pool.
// Concurrent Ingest calls of one replica share one transaction through a
// single committer goroutine, as in package sqlite; replicas claim
// deliveries concurrently (FOR UPDATE SKIP LOCKED) without taking the same
// one, and keep each incident's deliveries in order (see outbox.go). A
// background pruner deletes what is past the retention, a chunk at a time.
//
// Every transaction that adds deliveries to an incident's outbox or
// changes its escalation first takes a transaction-level advisory lock on
// the incident (see lockIncidents): an incident's rows are then added one
// transaction after another, in the order of their ids, on whichever
// replica. When the server cannot be reached, calls fail with
// store.ErrUnavailable; the pool is emptied and connects afresh, so the
// store works again once the server is back.
//
// Times are stored as Unix nanoseconds (bigint). The schema is created and
// upgraded by the numbered files in migrations/, through package schema
// (goose), under an advisory lock so that replicas starting together
// migrate it once.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/pkg/pgdsn"
	"github.com/klaxonhq/klaxon/pkg/store"
	"github.com/klaxonhq/klaxon/pkg/store/batch"
)

// Defaults of Options.
const (
	DefaultRetention     = 24 * time.Hour
	DefaultPruneInterval = time.Minute
	DefaultMaxBatch      = 256
	DefaultMaxConns      = 10
	DefaultCommitTimeout = 30 * time.Second
	// DefaultIdleTxTimeout is a third of storage.takeover_after's
	// default.
	DefaultIdleTxTimeout = 5 * time.Second
)

// Options tune a Store. The zero value is the defaults.
type Options struct {
	// MaxConns bounds the connection pool (default 10). One connection
	// is the committer's while it commits.
	MaxConns int
	// Retention is how long delivered rows are kept before they are
	// deleted (default 24h). Dead letters are kept until requeued.
	Retention time.Duration
	// PruneInterval is how often the pruner deletes what is past the
	// retention (default 1m); its first pass is one interval after Open.
	PruneInterval time.Duration
	// Now is the clock the pruner measures the retention by, and the
	// clock of UpdateEscalation's records and of nonces' expiry (default
	// time.Now).
	Now func() time.Time
	// MaxBatch is how many queued Ingest calls share one transaction
	// (default 256); 1 commits each on its own.
	MaxBatch int
	// CommitTimeout bounds one Ingest transaction, from taking a
	// connection to its commit (default 30s); past it the calls in it
	// fail with store.ErrUnavailable. The other calls are bounded by
	// their context.
	CommitTimeout time.Duration
	// IdleTxTimeout is how long PostgreSQL waits, in a transaction of the
	// store's, for the store's next statement before it ends the
	// transaction and the connection (idle_in_transaction_session_timeout;
	// default 5s, unless the connection string sets it). A replica
	// stopped inside a transaction (SIGSTOP, a frozen VM) keeps its
	// connection open, and with it the transaction's locks: without the
	// timeout, every other replica's claims that need one of them wait
	// until it wakes. The store's transactions are a few statements sent
	// one after the other, so keep it well below storage.takeover_after.
	IdleTxTimeout time.Duration
	// OnCommit, if set, is called by the committer after each committed
	// Ingest transaction with the number of notifications it recorded.
	OnCommit func(notifications int)
	// Registerer receives the store's metrics; nil registers none.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.PruneInterval <= 0 {
		o.PruneInterval = DefaultPruneInterval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.CommitTimeout <= 0 {
		o.CommitTimeout = DefaultCommitTimeout
	}
	if o.IdleTxTimeout <= 0 {
		o.IdleTxTimeout = DefaultIdleTxTimeout
	}
	if o.Logger == nil {
		o.Logger = promslog.NewNopLogger()
	}
	return o
}

// Store is the PostgreSQL store.Store and store.Escalations.
type Store struct {
	opts Options
	pool *pgxpool.Pool

	committer *batch.Committer
	// stopPruning ends the pruner, even in the middle of a pass.
	stopPruning context.CancelFunc
	pruneDone   chan struct{}
	closeOnce   sync.Once
}

var (
	_ store.Store       = (*Store)(nil)
	_ store.Escalations = (*Store)(nil)
)

// Open connects to the database connString names (a libpq URL or
// key=value string) and brings its schema up to date.
func Open(ctx context.Context, connString string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, fmt.Errorf("parsing the PostgreSQL connection string: %w", pgdsn.RedactParseError(err))
	}
	cfg.MaxConns = int32(min(opts.MaxConns, 1<<30))
	setIdleTxTimeout(cfg.ConnConfig, opts.IdleTxTimeout)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, unavailable("connecting to PostgreSQL", err)
	}
	s := &Store{
		opts:      opts,
		pool:      pool,
		pruneDone: make(chan struct{}),
	}
	if err := migrate(ctx, s.pool, s.opts.Logger); err != nil {
		pool.Close()
		return nil, err
	}
	s.committer = batch.New(s.commit, batch.Options{MaxBatch: opts.MaxBatch, Committed: s.committed})
	if opts.Registerer != nil {
		if err := registerAll(opts.Registerer, s.committer.Metrics(), newPoolCollector(pool)); err != nil {
			s.committer.Close()
			pool.Close()
			return nil, fmt.Errorf("registering store metrics: %w", err)
		}
	}
	var pruneCtx context.Context
	pruneCtx, s.stopPruning = context.WithCancel(context.Background())
	go s.pruneLoop(pruneCtx)
	return s, nil
}

// Close stops the committer, answering queued Ingest calls with
// store.ErrUnavailable, and the pruner, and closes the pool. Calls after
// Close fail with store.ErrUnavailable.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.committer.Close()
		s.stopPruning()
		<-s.pruneDone
		s.pool.Close()
	})
	return nil
}

// use runs fn on a connection of the pool. When the connection turns out
// broken (the server went away, rather than ctx ending, which closes it
// too), every idle connection is discarded too, since they are as likely
// broken: the next calls connect afresh, and work again once the server
// is back.
func (s *Store) use(ctx context.Context, op string, fn func(*pgxpool.Conn) error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return unavailable(op, err)
	}
	err = fn(conn)
	broken := conn.Conn().IsClosed() && ctx.Err() == nil
	conn.Release()
	if broken {
		s.pool.Reset()
	}
	if err != nil {
		return unavailable(op, err)
	}
	return nil
}

// inTx runs fn in a transaction on a connection of the pool and commits
// it if fn succeeds.
func (s *Store) inTx(ctx context.Context, op string, fn func(pgx.Tx) error) error {
	return s.use(ctx, op, func(c *pgxpool.Conn) error {
		return pgx.BeginFunc(ctx, c, fn)
	})
}

// exec runs one statement and returns how many rows it changed.
func (s *Store) exec(ctx context.Context, op, query string, args ...any) (int64, error) {
	var n int64
	err := s.use(ctx, op, func(c *pgxpool.Conn) error {
		tag, err := c.Exec(ctx, query, args...)
		n = tag.RowsAffected()
		return err
	})
	return n, err
}

// unavailable wraps err so that errors.Is(err, store.ErrUnavailable)
// holds, keeping PostgreSQL's reason in the message. A caller's error
// (callerError) is returned as it is.
func unavailable(op string, err error) error {
	var ce *callerError
	if errors.As(err, &ce) {
		return err
	}
	if errors.Is(err, store.ErrUnavailable) {
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: %w: %w", op, store.ErrUnavailable, err)
}

// Advisory locks. An incident's lock is a bigint key (incidentLock), as
// is the lock of a channel's run of an incident (runLock); the claim lock is the pair (lockClass, claimLock), a key space of its own.
const (
	lockClass = 0x6b6c7800 // "klx\0"
	claimLock = 1
)

// incidentLock is the advisory lock key of an incident.
func incidentLock(key string) int64 {
	h := fnv.New64a()
	h.Write([]byte("klaxon incident\x00"))
	h.Write([]byte(key))
	return int64(h.Sum64())
}

// runLock is the advisory lock key that ClaimRun takes for a channel and
// incident.
func runLock(channel, incident string) int64 {
	h := fnv.New64a()
	h.Write([]byte("klaxon run\x00"))
	h.Write([]byte(channel))
	h.Write([]byte{0})
	h.Write([]byte(incident))
	return int64(h.Sum64())
}

// lockIncidents takes the transaction's advisory locks on the incidents,
// waiting for the transactions that hold them. The locks are taken in the
// order of their keys, the same in every transaction, so that two
// transactions locking several incidents never deadlock.
func lockIncidents(ctx context.Context, tx pgx.Tx, incidents ...string) error {
	_, err := tx.Exec(ctx, lockSQL, lockKeys(incidents))
	return err
}

// lockSQL takes the advisory locks lockKeys gives, in their order.
const lockSQL = `SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k`

// lockKeys are the advisory lock keys of the incidents, sorted.
func lockKeys(incidents []string) []int64 {
	keys := make([]int64, 0, len(incidents))
	for _, k := range incidents {
		keys = append(keys, incidentLock(k))
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// idleTxTimeout is the server setting that ends a transaction whose
// client sends nothing more.
const idleTxTimeout = "idle_in_transaction_session_timeout"

// setIdleTxTimeout has the server end the connection's transactions once
// they wait longer than d for a statement, unless the connection string
// chose a timeout itself.
func setIdleTxTimeout(cfg *pgx.ConnConfig, d time.Duration) {
	if _, set := cfg.RuntimeParams[idleTxTimeout]; set {
		return
	}
	cfg.RuntimeParams[idleTxTimeout] = strconv.FormatInt(max(d.Milliseconds(), 1), 10)
}

// callerError is an error of the caller's function or change rather than
// of the store: it is returned as it is, not as store.ErrUnavailable.
type callerError struct{ err error }

func (e *callerError) Error() string { return e.err.Error() }
func (e *callerError) Unwrap() error { return e.err }

// text makes s storable in a text column, which cannot hold NUL: an
// upstream's error, say.
func text(s string) string { return strings.ReplaceAll(s, "\x00", "") }

func nanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

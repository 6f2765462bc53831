// Package sqlite is the store.Store of a single klaxon-receiver: one SQLite
// file (modernc.org/sqlite, pure Go) in the data directory, in WAL mode with
// synchronous=FULL, so that a notification acknowledged to Alertmanager
// survives a crash or a power cut. Concurrent Ingest calls share one
// transaction (one fsync) through a single committer goroutine, which runs
// statements prepared once per connection. The writer never checkpoints
// the WAL inside a commit: a background checkpointer does it on its own
// connection (see checkpoint.go), and a background pruner deletes what is
// past the retention, a chunk at a time (see prune.go).
//
// Times are stored as Unix nanoseconds. The schema is created and upgraded
// by the numbered files in migrations/, through package schema (goose).
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/promslog"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/klaxonhq/klaxon/pkg/store"
	"github.com/klaxonhq/klaxon/pkg/store/batch"
)

// Defaults of Options.
const (
	DefaultRetention          = 24 * time.Hour
	DefaultPruneInterval      = time.Minute
	DefaultBusyTimeout        = 5 * time.Second
	DefaultMaxBatch           = 256
	DefaultCheckpointInterval = time.Second
	DefaultWALSizeLimit       = 64 << 20
)

// readers is how many connections serve DeadLetters and Stats; in WAL mode
// they read while the writer writes.
const readers = 4

// Options tune a Store. The zero value is the defaults.
type Options struct {
	// Retention is how long delivered rows are kept before they are
	// deleted (default 24h). Dead letters are kept until requeued.
	Retention time.Duration
	// PruneInterval is how often the pruner deletes what is past the
	// retention (default 1m). It runs in the background, never in the
	// way of Claim; its first pass is one interval after Open.
	PruneInterval time.Duration
	// Now is the clock the pruner measures the retention by, and the
	// clock of UpdateEscalation's records and of nonces' expiry (default
	// time.Now).
	Now func() time.Time
	// BusyTimeout is how long a write waits for another process holding
	// the file's lock (default 5s); past it the write fails with
	// store.ErrUnavailable.
	BusyTimeout time.Duration
	// MaxBatch is how many queued Ingest calls share one transaction
	// (default 256); 1 commits each on its own.
	MaxBatch int
	// MaxPageCount caps the file at this many pages (PRAGMA
	// max_page_count); 0 leaves SQLite's own limit. Past it writes fail
	// as on a full disk.
	MaxPageCount int
	// CheckpointInterval is how often the background checkpointer copies
	// the WAL into the database file when fewer than a few MiB were
	// written meanwhile (default 1s).
	CheckpointInterval time.Duration
	// WALSizeLimit bounds the WAL file, in bytes (default 64 MiB). The
	// checkpointer normally has commits start the WAL afresh every few
	// MiB; when readers kept it from doing so until the WAL holds more
	// than this, it waits for them (a RESTART checkpoint), holding writes
	// back meanwhile. SQLite truncates a larger file to this size when the
	// WAL starts afresh.
	WALSizeLimit int64
	// OnCommit, if set, is called by the committer after each committed
	// Ingest transaction with the number of notifications it recorded.
	OnCommit func(notifications int)
	// Registerer receives the store's metrics; nil registers none.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.PruneInterval <= 0 {
		o.PruneInterval = DefaultPruneInterval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = DefaultBusyTimeout
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = DefaultCheckpointInterval
	}
	if o.WALSizeLimit <= 0 {
		o.WALSizeLimit = DefaultWALSizeLimit
	}
	if o.Logger == nil {
		o.Logger = promslog.NewNopLogger()
	}
	return o
}

// Store is the SQLite store.Store.
type Store struct {
	opts Options
	// w is the writer: one connection, so that this process's writes
	// never wait on each other's locks.
	writer *sql.DB
	// r serves reads.
	reader *sql.DB
	// checkpointer copies the WAL into the database file, off the
	// commit path.
	checkpointer *sql.DB
	// stmts are the committer's statements, each prepared once.
	stmts *stmtCache
	// walKick wakes the checkpointer early when the committer recorded
	// walBytes (its own count) since the last time.
	walKick  chan struct{}
	walBytes int64
	// writeMu is held by every write, and by the checkpointer to finish a
	// checkpoint with no write under way (see checkpoint).
	writeMu sync.Mutex
	// pageBytes is the database's page size: a WAL frame's but for its
	// header.
	pageBytes int64

	maxPages  atomic.Int64
	queryOnly atomic.Bool

	committer      *batch.Committer
	stop           chan struct{}
	checkpointDone chan struct{}
	// stopPruning ends the pruner, even in the middle of a pass.
	stopPruning context.CancelFunc
	pruneDone   chan struct{}
	// prunePasses counts the pruner's finished passes, for tests.
	prunePasses atomic.Int64
	closeOnce   sync.Once
}

var _ store.Store = (*Store)(nil)

// Open opens or creates the database file at path, creating its directory,
// and brings its schema up to date.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if strings.Contains(path, "?") {
		return nil, fmt.Errorf("database path %q must not contain '?'", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		if badPath(err) {
			return nil, fmt.Errorf("creating the data directory: %w", err)
		}
		return nil, fmt.Errorf("creating the data directory: %w: %w", store.ErrUnavailable, err)
	}
	s := &Store{
		opts:           opts,
		stop:           make(chan struct{}),
		checkpointDone: make(chan struct{}),
		pruneDone:      make(chan struct{}),
		walKick:        make(chan struct{}, 1),
	}
	s.maxPages.Store(int64(opts.MaxPageCount))
	// The writer never checkpoints (wal_autocheckpoint 0): the
	// checkpointer does. journal_size_limit makes SQLite truncate a WAL
	// grown past the limit when it starts it afresh.
	s.writer = sql.OpenDB(&connector{dsn: dsn(path, opts.BusyTimeout,
		"_pragma=wal_autocheckpoint(0)", fmt.Sprintf("_pragma=journal_size_limit(%d)", opts.WALSizeLimit)),
		init: s.initWriter})
	s.writer.SetMaxOpenConns(1)
	s.writer.SetMaxIdleConns(1)
	s.reader = sql.OpenDB(&connector{dsn: dsn(path, opts.BusyTimeout, "_query_only=1")})
	s.reader.SetMaxOpenConns(readers)
	s.reader.SetMaxIdleConns(readers)
	s.checkpointer = sql.OpenDB(&connector{dsn: dsn(path, checkpointBusyTimeout, "_pragma=wal_autocheckpoint(0)")})
	s.checkpointer.SetMaxOpenConns(1)
	s.checkpointer.SetMaxIdleConns(1)
	if err := s.start(ctx); err != nil {
		s.closeDBs()
		return nil, err
	}
	s.committer = batch.New(s.commit, batch.Options{MaxBatch: opts.MaxBatch, Committed: s.committed})
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(s.committer.Metrics()); err != nil {
			s.committer.Close()
			s.closeDBs()
			return nil, fmt.Errorf("registering store metrics: %w", err)
		}
	}
	go s.checkpointLoop()
	var pruneCtx context.Context
	pruneCtx, s.stopPruning = context.WithCancel(context.Background())
	go s.pruneLoop(pruneCtx)
	return s, nil
}

// start migrates the schema and prepares the ingest statements.
func (s *Store) start(ctx context.Context) error {
	if err := migrate(ctx, s.writer, s.opts.Logger); err != nil {
		return err
	}
	if err := s.writer.QueryRowContext(ctx, "PRAGMA page_size").Scan(&s.pageBytes); err != nil {
		return unavailable("reading the page size", err)
	}
	var err error
	if s.stmts, err = prepareStmts(ctx, s.writer, ingestStatements); err != nil {
		return unavailable("preparing the ingest statements", err)
	}
	return nil
}

// badPath says whether err, from creating the data directory, is the
// path's own fault, which no retry mends: a file where a directory should
// be, a name too long. A read-only or full disk, a missing mount or a
// permission may yet be mended.
func badPath(err error) bool {
	return errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.ENAMETOOLONG)
}

// dsn is the driver's name for the file: WAL, synchronous=FULL (a commit
// is on disk when it returns), a busy timeout, and transactions that take
// the write lock at BEGIN so that they never fail half-way on a lock;
// then the connection's own parameters.
func dsn(path string, busy time.Duration, extra ...string) string {
	q := []string{
		fmt.Sprintf("_pragma=busy_timeout(%d)", busy.Milliseconds()),
		"_pragma=journal_mode(WAL)",
		"_pragma=synchronous(FULL)",
		"_txlock=immediate",
	}
	return path + "?" + strings.Join(append(q, extra...), "&")
}

// initWriter applies the settings that can change while the store runs to
// each new writer connection.
func (s *Store) initWriter(ctx context.Context, c driver.Conn) error {
	ex, ok := c.(driver.ExecerContext)
	if !ok {
		return errors.New("sqlite driver connection cannot execute statements")
	}
	if n := s.maxPages.Load(); n > 0 {
		if _, err := ex.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", n), nil); err != nil {
			return err
		}
	}
	if s.queryOnly.Load() {
		if _, err := ex.ExecContext(ctx, "PRAGMA query_only = 1", nil); err != nil {
			return err
		}
	}
	return nil
}

var sqliteDriver = &sqlite.Driver{}

// connector opens driver connections and prepares each with init.
type connector struct {
	dsn  string
	init func(context.Context, driver.Conn) error
}

func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := sqliteDriver.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	if c.init != nil {
		if err := c.init(ctx, conn); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return conn, nil
}

func (c *connector) Driver() driver.Driver { return sqliteDriver }

// Close stops the committer, answering queued Ingest calls with
// store.ErrUnavailable, the checkpointer and the pruner, and closes the
// database.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.committer.Close()
		close(s.stop)
		s.stopPruning()
		<-s.checkpointDone
		<-s.pruneDone
		err = s.closeDBs()
	})
	return err
}

func (s *Store) closeDBs() error {
	return errors.Join(s.stmts.close(), s.reader.Close(), s.checkpointer.Close(), s.writer.Close())
}

// write runs fn on the writer connection. When SQLite reports a problem
// with the file (full, read-only, I/O error, cannot open), the connection
// is discarded so that the next write opens the file afresh: once the disk
// recovers the store works again without a restart.
func (s *Store) write(ctx context.Context, op string, fn func(*sql.Conn) error) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return use(ctx, s.writer, op, fn)
}

// use runs fn on a connection of db, discarding the connection after a
// fault of the file as write does.
func use(ctx context.Context, db *sql.DB, op string, fn func(*sql.Conn) error) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return unavailable(op, err)
	}
	err = fn(conn)
	if err != nil && fileFault(err) {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	_ = conn.Close()
	if err != nil {
		return unavailable(op, err)
	}
	return nil
}

// exec runs one statement on the writer and returns how many rows it
// changed.
func (s *Store) exec(ctx context.Context, op, query string, args ...any) (int64, error) {
	var n int64
	err := s.write(ctx, op, func(c *sql.Conn) error {
		res, err := c.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// unavailable wraps err so that errors.Is(err, store.ErrUnavailable)
// holds, keeping SQLite's reason in the message.
func unavailable(op string, err error) error {
	if errors.Is(err, store.ErrUnavailable) {
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: %w: %w", op, store.ErrUnavailable, err)
}

// fileFault says whether err is SQLite's report of a problem with the
// database file rather than with a statement.
func fileFault(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code() & 0xff {
	case sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN,
		sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_NOMEM:
		return true
	}
	return false
}

func nanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

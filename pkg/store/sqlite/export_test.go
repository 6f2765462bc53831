package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"strings"
)

// ExecWriter runs a statement, such as a PRAGMA, on the writer connection.
func (s *Store) ExecWriter(ctx context.Context, query string) error {
	_, err := s.writer.ExecContext(ctx, query)
	return err
}

// DiscardWriter closes the writer connection, so that the next write
// opens the file anew.
func (s *Store) DiscardWriter(ctx context.Context) error {
	conn, err := s.writer.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	return nil
}

// Queued is the number of Ingest calls waiting for the committer.
func (s *Store) Queued() int { return s.committer.Queued() }

// WriterPragma reads a PRAGMA's value on the writer connection.
func (s *Store) WriterPragma(ctx context.Context, name string) (int64, error) {
	var v int64
	err := s.writer.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v)
	return v, err
}

// PrunePasses is how many passes the pruner has finished.
func (s *Store) PrunePasses() int64 { return s.prunePasses.Load() }

// EscalationKeysPlan is SQLite's query plan of EscalationKeys, one step a
// line.
func (s *Store) EscalationKeysPlan(ctx context.Context) (string, error) {
	rows, err := s.reader.QueryContext(ctx, "EXPLAIN QUERY PLAN "+escalationKeysSQL,
		sql.Named("prefix", "abc"), sql.Named("end", "abd"), sql.Named("limit", 2))
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			return "", err
		}
		plan = append(plan, detail)
	}
	return strings.Join(plan, "\n"), rows.Err()
}

// Prune deletes what is past the retention at the store's clock's time,
// as one pass of the pruner does.
func (s *Store) Prune(ctx context.Context) error { return s.prune(ctx, s.opts.Now()) }

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// stmtCache holds the writer's frequent statements, prepared once: SQLite
// spends as long parsing a small statement as running it, and the
// committer runs a handful per notification. database/sql keeps each
// statement's driver statement per connection, so a statement is prepared
// again on the connection that replaces one discarded after a fault.
// Statements are prepared at start, while the writer's one connection is
// free; it is not while a transaction holds it.
type stmtCache struct {
	stmts map[string]*sql.Stmt
}

func prepareStmts(ctx context.Context, db *sql.DB, queries []string) (*stmtCache, error) {
	c := &stmtCache{stmts: map[string]*sql.Stmt{}}
	for _, q := range queries {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			c.close()
			return nil, fmt.Errorf("preparing %q: %w", q, err)
		}
		c.stmts[q] = st
	}
	return c, nil
}

func (c *stmtCache) close() error {
	if c == nil {
		return nil
	}
	var errs []error
	for _, st := range c.stmts {
		errs = append(errs, st.Close())
	}
	clear(c.stmts)
	return errors.Join(errs...)
}

// writeTx is a transaction on the writer whose statements come from the
// cache.
type writeTx struct {
	tx    *sql.Tx
	cache *stmtCache
}

// begin starts a transaction on c, a connection of the writer.
func (s *Store) begin(ctx context.Context, c *sql.Conn) (*writeTx, error) {
	tx, err := c.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &writeTx{tx: tx, cache: s.stmts}, nil
}

// stmt is the cached statement for query, or else query prepared anew,
// bound to the transaction, which closes it when it ends.
func (t *writeTx) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := t.cache.stmts[query]; ok {
		return t.tx.StmtContext(ctx, st), nil
	}
	return t.tx.PrepareContext(ctx, query)
}

func (t *writeTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := t.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (t *writeTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := t.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// scanRow runs a query of one row and scans it into dest, returning
// sql.ErrNoRows when there is none.
func (t *writeTx) scanRow(ctx context.Context, query string, args []any, dest ...any) error {
	st, err := t.stmt(ctx, query)
	if err != nil {
		return err
	}
	return st.QueryRowContext(ctx, args...).Scan(dest...)
}

func (t *writeTx) Commit() error   { return t.tx.Commit() }
func (t *writeTx) Rollback() error { return t.tx.Rollback() }

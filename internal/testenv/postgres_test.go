package testenv

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestPrivatePostgresRestart: a restart closes the connections open to
// the server, keeps its data, and the server takes new connections on
// the same address.
func TestPrivatePostgresRestart(t *testing.T) {
	pg := StartPrivatePostgres(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	pg.Restart(t)
	if _, err := conn.Exec(ctx, "SELECT 1"); err == nil {
		t.Error("a connection opened before the restart still works, want it closed")
	}
	again, err := pgx.Connect(ctx, pg.DSN)
	if err != nil {
		t.Fatalf("connecting after the restart: %v", err)
	}
	defer again.Close(ctx)
	var n int
	if err := again.QueryRow(ctx, "SELECT n FROM kept").Scan(&n); err != nil || n != 42 {
		t.Errorf("after the restart: %d %v, want the row 42", n, err)
	}
}

// Package pgdsn reports a PostgreSQL connection string that pgx refused
// without quoting it: the string may hold a password.
package pgdsn

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// RedactParseError keeps pgx's reason for rejecting a connection string
// and drops the string itself: pgx masks passwords in it only on a
// best-effort basis. A cause that quotes part of the string (`missing "="
// after "..."`) is left out too, as the quoted part may be a piece of the
// password.
func RedactParseError(err error) error {
	var pe *pgconn.ParseConfigError
	if !errors.As(err, &pe) {
		return errors.New("not a valid connection string")
	}
	msg := pe.Error()
	cause := pe.Unwrap()
	if cause != nil {
		msg = strings.TrimSuffix(msg, " ("+cause.Error()+")")
	}
	// pgx's message reads "cannot parse `<dsn>`: <reason>".
	i := strings.LastIndex(msg, "`: ")
	if i < 0 {
		return errors.New("not a valid connection string")
	}
	msg = msg[i+len("`: "):]
	if cause != nil && !strings.ContainsAny(cause.Error(), "\"'`") {
		return fmt.Errorf("%s: %w", msg, cause)
	}
	return errors.New(msg)
}

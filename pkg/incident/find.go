package incident

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/klaxonhq/klaxon/pkg/alert"

	"github.com/klaxonhq/klaxon/pkg/store"
)

// ErrNotFound is returned, wrapped, for an incident that is unknown or
// already resolved.
var ErrNotFound = errors.New("no such open incident")

// ErrAcknowledged is returned, wrapped, by AcknowledgeOpen when someone
// else acknowledged the incident first: nothing changed.
var ErrAcknowledged = errors.New("already acknowledged by someone else")

// Errors of an incident ID that names no single incident. The API answers
// 400 to ErrBadID and 409 to ErrAmbiguousID.
var (
	// ErrBadID: too short to name an incident, or not hexadecimal.
	ErrBadID = errors.New("not an incident ID")
	// ErrAmbiguousID: the keys of several open incidents start with it.
	ErrAmbiguousID = errors.New("incident ID matches several incidents")
)

// kindError is an error of a kind its caller tells apart (ErrBadID,
// ErrUnreachable...), in words of its own.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

// maxMatches is how many of the incidents an ambiguous ID matches its
// error lists.
const maxMatches = 5

var hexRE = regexp.MustCompile(`^[0-9a-f]+$`)

// findIncident returns the key of the one escalation whose key is id or
// starts with it. id is an incident key or a prefix of one of at least
// alert.ShortIDLength characters, such as alert.ShortID's; case does not
// matter. An unknown id gives an error wrapping ErrNotFound.
func findIncident(ctx context.Context, st store.Escalations, id string) (string, error) {
	prefix := strings.ToLower(strings.TrimSpace(id))
	switch {
	case !hexRE.MatchString(prefix):
		return "", &kindError{ErrBadID, fmt.Sprintf("%q is not an incident ID: IDs are hexadecimal, as the incidents command lists them", id)}
	case len(prefix) < alert.ShortIDLength:
		return "", &kindError{ErrBadID, fmt.Sprintf("incident ID %q is too short: give at least %d characters, as the incidents command lists them", id, alert.ShortIDLength)}
	}
	keys, err := st.EscalationKeys(ctx, prefix, maxMatches+1)
	if err != nil {
		return "", fmt.Errorf("finding incident %s: %w", id, err)
	}
	switch len(keys) {
	case 0:
		return "", fmt.Errorf("incident %s: %w", id, ErrNotFound)
	case 1:
		return keys[0], nil
	}
	count := fmt.Sprint(len(keys))
	if len(keys) > maxMatches {
		count, keys = fmt.Sprintf("more than %d", maxMatches), keys[:maxMatches]
	}
	return "", &kindError{ErrAmbiguousID, fmt.Sprintf("incident ID %s matches %s incidents (%s): give more of the ID",
		id, count, strings.Join(keys, ", "))}
}

// SamePerson reports whether two acknowledgers' names are the same, as
// escalation.Ack names one without a name.
func SamePerson(a, b string) bool {
	if b = strings.TrimSpace(b); b == "" {
		b = "someone"
	}
	return strings.EqualFold(strings.TrimSpace(a), b)
}

package receiver

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/klaxonhq/klaxon/pkg/api"
	"github.com/klaxonhq/klaxon/pkg/store"
)

// The waits between attempts to open a store that was unavailable at
// start: the first, doubled after each failure up to the longest.
const (
	firstStoreRetry = 250 * time.Millisecond
	maxStoreRetry   = 5 * time.Second
)

// awaitStore tries to open the store until it opens or ctx ends, waiting
// longer after each failure, up to maxStoreRetry. It logs each reason the
// store gives once, not each attempt, and returns the first failure that
// is not the store's being unavailable.
func (s *Service) awaitStore(ctx context.Context) error {
	wait, logged := firstStoreRetry, s.Ready().Error()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		err := s.open(ctx)
		switch {
		case err == nil:
			s.logger.Info("store open; taking notifications")
			return nil
		case ctx.Err() != nil:
			return nil
		case !errors.Is(err, store.ErrUnavailable):
			return err
		case err.Error() != logged:
			s.logger.Error("store unavailable; answering 503 until it opens", "err", err)
			logged = err.Error()
		}
		wait = min(2*wait, maxStoreRetry)
		s.logger.Debug("store still unavailable", "retry_in", wait)
	}
}

// unavailable answers r with 503 and msg: as the API's JSON for the
// webhook and the API, as text for the pages.
func unavailable(w http.ResponseWriter, r *http.Request, msg string) {
	if !guarded(r) {
		http.Error(w, msg, http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusServiceUnavailable)
	_ = json.NewEncoder(w).Encode(api.Response{Error: msg})
}

// guarded reports whether r is for the webhook or the API, which answer
// JSON and check the bearer token, rather than for a page.
func guarded(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/webhook/") || strings.HasPrefix(r.URL.Path, "/api/")
}

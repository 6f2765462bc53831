package acklink

import (
	"context"
	"sync"
	"time"
)

// Nonces remembers which tokens have been used, so that a link acts once.
// The receiver's store implements it durably; MemoryNonces serves tests
// and a single process.
type Nonces interface {
	// Use marks nonce used until the given time, after which its token
	// has expired anyway and the nonce may be forgotten. firstUse is true
	// only for the first call with a nonce.
	Use(ctx context.Context, nonce string, until time.Time) (firstUse bool, err error)
}

// MemoryNonces is a Nonces in memory, safe for concurrent use. It forgets
// everything when the process ends. The zero value is ready to use.
type MemoryNonces struct {
	// Now is the clock that expires nonces; nil means time.Now.
	Now func() time.Time

	mu   sync.Mutex
	used map[string]time.Time
}

// Use implements Nonces. Nonces whose time has passed are dropped on the
// way.
func (m *MemoryNonces) Use(ctx context.Context, nonce string, until time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	now := time.Now()
	if m.Now != nil {
		now = m.Now()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.used == nil {
		m.used = map[string]time.Time{}
	}
	for n, t := range m.used {
		if !now.Before(t) {
			delete(m.used, n)
		}
	}
	if _, ok := m.used[nonce]; ok {
		return false, nil
	}
	m.used[nonce] = until
	return true, nil
}

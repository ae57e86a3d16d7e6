package reservation

import (
	"context"
	"sync"
	"time"

	"github.com/relayd/relayd/p2p/identity"
)

// Memory is the in-process Store, the default for a single relay.
type Memory struct {
	now func() time.Time

	mu sync.Mutex
	m  map[identity.PeerID]Reservation
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty store. now defaults to time.Now.
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, m: make(map[identity.PeerID]Reservation)}
}

func (s *Memory) Put(ctx context.Context, r Reservation) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.m[r.Peer]
	s.m[r.Peer] = r
	return ok && s.now().Before(old.Expire), nil
}

func (s *Memory) Get(ctx context.Context, peer identity.PeerID) (Reservation, error) {
	if err := ctx.Err(); err != nil {
		return Reservation{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[peer]
	if !ok || !s.now().Before(r.Expire) {
		return Reservation{}, ErrNotFound
	}
	return r, nil
}

func (s *Memory) Delete(ctx context.Context, peer identity.PeerID, node string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.m[peer]; ok && r.Node == node {
		delete(s.m, peer)
	}
	return nil
}

func (s *Memory) Sweep(ctx context.Context, now time.Time) ([]Reservation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Reservation
	for p, r := range s.m {
		if !now.Before(r.Expire) {
			out = append(out, r)
			delete(s.m, p)
		}
	}
	return out, nil
}

// Len is the number of stored reservations, expired or not.
func (s *Memory) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// Count is the number of live reservations.
func (s *Memory) Count(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n, now := 0, s.now()
	for _, r := range s.m {
		if now.Before(r.Expire) {
			n++
		}
	}
	return n, nil
}

// All lists the live reservations.
func (s *Memory) All() []Reservation {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	out := make([]Reservation, 0, len(s.m))
	for _, r := range s.m {
		if now.Before(r.Expire) {
			out = append(out, r)
		}
	}
	return out
}

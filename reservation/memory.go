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

func (s *Memory) Put(_ context.Context, r Reservation) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.m[r.Peer]
	s.m[r.Peer] = r
	return ok && s.now().Before(old.Expire), nil
}

func (s *Memory) Get(_ context.Context, peer identity.PeerID) (Reservation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[peer]
	if !ok || !s.now().Before(r.Expire) {
		return Reservation{}, ErrNotFound
	}
	return r, nil
}

func (s *Memory) Delete(_ context.Context, peer identity.PeerID, node string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.m[peer]; ok && r.Node == node {
		delete(s.m, peer)
	}
	return nil
}

func (s *Memory) Sweep(_ context.Context, now time.Time) ([]Reservation, error) {
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

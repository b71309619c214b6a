package signaling

import (
	"context"
	"crypto/subtle"
	"sync"
	"time"
)

// MemoryStore keeps rooms in this process's memory: the default, for one
// instance. Held seats never expire here; away seats expire after their
// grace.
type MemoryStore struct {
	deliver func(peerID string, msg []byte) bool // set once by Listen

	mu    sync.Mutex
	rooms map[string]*memRoom // guarded by mu
	away  map[string]struct{} // guarded by mu; rooms with an away seat
}

type memRoom struct {
	seats [2]*memSeat
}

type memSeat struct {
	id, token string
	awayUntil time.Time // zero while held
}

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{rooms: map[string]*memRoom{}, away: map[string]struct{}{}}
}

func (s *MemoryStore) Listen(deliver func(string, []byte) bool) { s.deliver = deliver }

// sweep drops the expired seats of room. The caller holds mu.
func (s *MemoryStore) sweep(name string, now time.Time) *memRoom {
	r := s.rooms[name]
	if r == nil {
		return nil
	}
	stillAway := false
	for i, seat := range r.seats {
		if seat == nil || seat.awayUntil.IsZero() {
			continue
		}
		if now.After(seat.awayUntil) {
			r.seats[i] = nil
		} else {
			stillAway = true
		}
	}
	if !stillAway {
		delete(s.away, name)
	}
	if r.seats[0] == nil && r.seats[1] == nil {
		delete(s.rooms, name)
		return nil
	}
	return r
}

func (r *memRoom) otherThan(id string) string {
	for _, seat := range r.seats {
		if seat != nil && seat.id != id {
			return seat.id
		}
	}
	return ""
}

func (s *MemoryStore) Join(_ context.Context, room, token string) (JoinResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.sweep(room, time.Now())
	if r != nil && token != "" {
		for _, seat := range r.seats {
			if seat != nil && subtle.ConstantTimeCompare([]byte(seat.token), []byte(token)) == 1 {
				seat.awayUntil = time.Time{}
				return JoinResult{PeerID: seat.id, SeatToken: seat.token, OtherID: r.otherThan(seat.id), Resumed: true}, nil
			}
		}
	}
	if r == nil {
		r = &memRoom{}
		s.rooms[room] = r
	}
	for i, seat := range r.seats {
		if seat == nil {
			seat = &memSeat{id: newPeerID(), token: newSeatToken()}
			r.seats[i] = seat
			return JoinResult{PeerID: seat.id, SeatToken: seat.token, OtherID: r.otherThan(seat.id)}, nil
		}
	}
	return JoinResult{}, ErrRoomFull
}

func (s *MemoryStore) Leave(_ context.Context, room, peerID string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[room]
	if r == nil {
		return "", nil
	}
	for i, seat := range r.seats {
		if seat != nil && seat.id == peerID {
			r.seats[i] = nil
		}
	}
	other := r.otherThan(peerID)
	if other == "" {
		delete(s.rooms, room)
		delete(s.away, room)
	}
	return other, nil
}

func (s *MemoryStore) Away(_ context.Context, room, peerID string, grace time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[room]
	if r == nil {
		return nil
	}
	for _, seat := range r.seats {
		if seat != nil && seat.id == peerID {
			seat.awayUntil = time.Now().Add(grace)
			s.away[room] = struct{}{}
		}
	}
	return nil
}

// Maintain also sweeps every room with an away seat, so that a room whose
// two people both vanished does not linger.
func (s *MemoryStore) Maintain(_ context.Context, held []SeatRef) ([]SeatState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for name := range s.away {
		s.sweep(name, now)
	}
	states := make([]SeatState, len(held))
	for i, ref := range held {
		r := s.rooms[ref.Room]
		if r == nil {
			continue
		}
		for _, seat := range r.seats {
			if seat != nil && seat.id == ref.PeerID {
				states[i] = SeatState{Exists: true, OtherID: r.otherThan(ref.PeerID)}
			}
		}
	}
	return states, nil
}

// Publish delivers at once: in one process every seat is held here.
func (s *MemoryStore) Publish(_ context.Context, _, peerID string, msg []byte) (bool, error) {
	return s.deliver(peerID, msg), nil
}

func (s *MemoryStore) Ready(context.Context) error { return nil }

func (s *MemoryStore) Counts(context.Context) (rooms, seats int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.rooms {
		for _, seat := range r.seats {
			if seat != nil {
				seats++
			}
		}
	}
	return len(s.rooms), seats, nil
}

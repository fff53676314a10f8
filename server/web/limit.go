package web

import (
	"context"
	"sync"
	"time"
)

// bucket is a token bucket: capacity tokens, refilled at capacity per minute.
// There are no client addresses behind Tor, so buckets are global.
type bucket struct {
	now      func() time.Time
	capacity float64
	perSec   float64

	mu     sync.Mutex
	tokens float64   // mu
	last   time.Time // mu
}

func newBucket(perMinute int, now func() time.Time) *bucket {
	return &bucket{
		now:      now,
		capacity: float64(perMinute),
		perSec:   float64(perMinute) / 60,
		tokens:   float64(perMinute),
		last:     now(),
	}
}

// take removes one token and reports whether there was one.
func (b *bucket) take() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.capacity, b.tokens+d.Seconds()*b.perSec)
	}
	// A clock that steps back neither refills nor drains.
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// semaphore bounds concurrent work.
type semaphore chan struct{}

// tryAcquire takes a slot if one is free now.
func (s semaphore) tryAcquire() bool {
	select {
	case s <- struct{}{}:
		return true
	default:
		return false
	}
}

// acquire waits up to timeout for a slot, and gives up with errBusy (or
// when ctx ends, with its error).
func (s semaphore) acquire(ctx context.Context, timeout time.Duration) error {
	select {
	case s <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case s <- struct{}{}:
		return nil
	case <-t.C:
		return errBusy
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s semaphore) release() { <-s }

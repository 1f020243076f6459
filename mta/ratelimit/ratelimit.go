// Package ratelimit counts events per key (client IP, user) with token
// buckets, for the relay's per-client message rate limits and its
// authentication failure limit.
package ratelimit

import (
	"sync"
	"time"
)

// maxKeys bounds memory (see prune).
const maxKeys = 100_000

// Limiter allows up to n events per key per period, with bursts of up to
// n. n <= 0 allows everything.
type Limiter struct {
	perMinute int // n
	period    time.Duration

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// New returns a limiter of perMinute events a minute; perMinute <= 0
// disables it.
func New(perMinute int) *Limiter {
	return NewPer(perMinute, time.Minute)
}

// NewPer returns a limiter of n events per period; n <= 0 disables it.
func NewPer(n int, period time.Duration) *Limiter {
	return &Limiter{perMinute: n, period: period, buckets: map[string]*bucket{}}
}

// SetRate changes the number of events per period (for a configuration
// reload); buckets keep their tokens, capped at the new number.
func (l *Limiter) SetRate(perMinute int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.perMinute = perMinute
}

// Allow takes one token from key's bucket and reports whether there was one.
func (l *Limiter) Allow(key string, now time.Time) bool {
	if l == nil {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perMinute <= 0 {
		return true
	}
	b := l.refill(key, now, true)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Exhausted reports whether Allow would refuse key now, without taking a
// token: for a check before the work whose failures are counted.
func (l *Limiter) Exhausted(key string, now time.Time) bool {
	if l == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perMinute <= 0 {
		return false
	}
	b := l.refill(key, now, false)
	return b != nil && b.tokens < 1
}

// refill brings key's bucket up to date; a key without one gets a full one
// if create is set, else refill returns nil. The caller holds l.mu.
func (l *Limiter) refill(key string, now time.Time, create bool) *bucket {
	capacity := float64(l.perMinute)
	b := l.buckets[key]
	if b == nil {
		if !create {
			return nil
		}
		if len(l.buckets) >= maxKeys {
			l.prune(now)
		}
		b = &bucket{tokens: capacity, last: now}
		l.buckets[key] = b
	}
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(capacity, b.tokens+float64(elapsed)/float64(l.period)*capacity)
		b.last = now
	}
	return b
}

// prune drops buckets idle for a period or more (they would be full
// again); if every key is active, it drops some anyway so memory stays
// bounded, at the price of forgetting those keys' recent history.
func (l *Limiter) prune(now time.Time) {
	for k, b := range l.buckets {
		if now.Sub(b.last) >= l.period {
			delete(l.buckets, k)
		}
	}
	for k := range l.buckets {
		if len(l.buckets) < maxKeys*9/10 {
			break
		}
		delete(l.buckets, k)
	}
}

// Package ratelimit counts events per key (client IP, user) with token
// buckets, for the relay's per-client message rate limits.
package ratelimit

import (
	"sync"
	"time"
)

// maxKeys bounds memory (see prune).
const maxKeys = 100_000

// Limiter allows up to PerMinute events per key per minute, with bursts of
// up to PerMinute. The zero PerMinute allows everything.
type Limiter struct {
	perMinute int

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// New returns a limiter; perMinute <= 0 disables it.
func New(perMinute int) *Limiter {
	return &Limiter{perMinute: perMinute, buckets: map[string]*bucket{}}
}

// SetRate changes the rate (for a configuration reload); buckets keep
// their tokens, capped at the new rate.
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
	capacity := float64(l.perMinute)
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxKeys {
			l.prune(now)
		}
		b = &bucket{tokens: capacity, last: now}
		l.buckets[key] = b
	}
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(capacity, b.tokens+elapsed.Minutes()*capacity)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// prune drops buckets idle for a minute or more (they would be full
// again); if every key is active, it drops some anyway so memory stays
// bounded, at the price of forgetting those keys' recent history.
func (l *Limiter) prune(now time.Time) {
	for k, b := range l.buckets {
		if now.Sub(b.last) >= time.Minute {
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

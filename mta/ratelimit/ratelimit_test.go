package ratelimit

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := New(3)
	steps := []struct {
		key  string
		at   time.Duration
		want bool
	}{
		{"a", 0, true}, {"a", 0, true}, {"a", 0, true}, {"a", 0, false}, // burst of 3
		{"b", 0, true},                 // keys are independent
		{"a", 10 * time.Second, false}, // 0.5 token refilled
		{"a", 20 * time.Second, true},  // 1 token after 20s
		{"a", 20 * time.Second, false},
		{"a", 20*time.Second + time.Hour, true}, // refill caps at 3
		{"a", 20*time.Second + time.Hour, true},
		{"a", 20*time.Second + time.Hour, true},
		{"a", 20*time.Second + time.Hour, false},
	}
	for i, s := range steps {
		if got := l.Allow(s.key, t0.Add(s.at)); got != s.want {
			t.Errorf("step %d (%s at %v): got %v, want %v", i, s.key, s.at, got, s.want)
		}
	}
	if !New(0).Allow("x", t0) || !(*Limiter)(nil).Allow("x", t0) {
		t.Error("disabled limiter refused")
	}
}

func TestLimiterBoundedMemory(t *testing.T) {
	l := New(1)
	t0 := time.Now()
	for i := range maxKeys + 10 {
		l.Allow(string(rune(i)), t0) // all active at once: nothing is idle
	}
	if n := len(l.buckets); n > maxKeys {
		t.Errorf("%d buckets kept, limit %d", n, maxKeys)
	}
}

// A limiter over another period refills at n per that period, and
// Exhausted tells whether Allow would refuse without taking a token.
func TestLimiterPeriod(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := NewPer(2, time.Hour)
	steps := []struct {
		op   string // "allow" or "exhausted"
		key  string
		at   time.Duration
		want bool
	}{
		{"exhausted", "a", 0, false}, // unknown key: not exhausted, and not created
		{"allow", "a", 0, true},
		{"exhausted", "a", 0, false},
		{"allow", "a", 0, true},
		{"exhausted", "a", 0, true},
		{"exhausted", "a", 0, true}, // asking takes nothing
		{"allow", "a", 0, false},
		{"exhausted", "b", 0, false},
		{"exhausted", "a", 20 * time.Minute, true}, // 2/3 of a token back
		{"exhausted", "a", 30 * time.Minute, false},
		{"allow", "a", 30 * time.Minute, true},
		{"allow", "a", 30 * time.Minute, false},
	}
	for i, s := range steps {
		var got bool
		if s.op == "allow" {
			got = l.Allow(s.key, t0.Add(s.at))
		} else {
			got = l.Exhausted(s.key, t0.Add(s.at))
		}
		if got != s.want {
			t.Errorf("step %d (%s %s at %v): got %v, want %v", i, s.op, s.key, s.at, got, s.want)
		}
	}
	if len(l.buckets) != 1 {
		t.Errorf("%d buckets, want 1: Exhausted must not create any", len(l.buckets))
	}
	if New(0).Exhausted("x", t0) || (*Limiter)(nil).Exhausted("x", t0) {
		t.Error("disabled limiter exhausted")
	}
}

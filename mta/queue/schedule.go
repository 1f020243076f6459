package queue

import (
	"container/heap"
	"math/rand/v2"
	"time"
)

// Backoff returns the delay before retry number attempt (1 = after the first
// failure): min doubled per attempt, capped at max, with up to ±10% jitter so
// that messages deferred together do not retry in lockstep. jitter, when
// non-nil, returns a number in [0,1) (tests pass a fixed one).
func Backoff(attempt int, min, max time.Duration, jitter func() float64) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	d := min
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	if jitter == nil {
		jitter = rand.Float64
	}
	f := 0.9 + 0.2*jitter()
	return time.Duration(float64(d) * f)
}

// timerQueue is a min-heap of parked jobs ordered by due time.
type timerQueue []*job

func (t timerQueue) Len() int           { return len(t) }
func (t timerQueue) Less(i, j int) bool { return t[i].due.Before(t[j].due) }
func (t timerQueue) Swap(i, j int)      { t[i], t[j] = t[j], t[i] }
func (t *timerQueue) Push(x any)        { *t = append(*t, x.(*job)) }
func (t *timerQueue) Pop() any {
	old := *t
	j := old[len(old)-1]
	old[len(old)-1] = nil
	*t = old[:len(old)-1]
	return j
}
func (t *timerQueue) push(j *job) { heap.Push(t, j) }
func (t *timerQueue) pop() *job   { return heap.Pop(t).(*job) }
func (t timerQueue) peek() *job   { return t[0] }

package plugin

import (
	"context"
	"runtime"
	"sync"
	"time"
)

// Guest calls run on threads of their own, at a lower priority.
//
// A guest that computes until its timeout holds a Go P (one of GOMAXPROCS)
// all that time, and the Go scheduler lets a waiting goroutine in only every
// 10 ms: on a 2-core relay, four hostile filters spinning for their 2 s
// raised a bystander's latency (a message to a domain without filters) from
// 3.8 ms to 228 ms at p50. So guest code runs on goroutines locked to OS
// threads whose nice value is raised (guestNice), and the process gets more
// Ps for them (guestProcsPerCPU): the relay keeps every P it had, and when
// guests and the relay want the same cores the kernel prefers the relay's
// threads. A chain stage moves to a guest thread once, not once per filter
// (a move costs two thread wake-ups, 5-15 µs). A guest's deadline holds
// whatever thread it runs on. See plugin/RATIONALE.md.

// guestNice is the nice value of guest threads: a nice-0 thread gets ~68
// times the CPU of a nice-19 one when both want it (CFS weights 1024/15).
// Nice 10 left a bystander's p99 at 2.4-2.8x its quiet figure with four
// hostile filters; 19 brings it to ~1.5x (plugin/RATIONALE.md).
const guestNice = 19

// guestProcsPerCPU is how many Ps per CPU the host adds for guest threads:
// a filter keeps at most 2 instances per CPU busy. Guests blocked in a host
// call (DNS, a socket) hold a thread but no P.
const guestProcsPerCPU = 2

// guestThreadIdle is how long an idle guest thread waits for work before
// it ends.
const guestThreadIdle = 30 * time.Second

var guestProcs = guestProcsPerCPU * runtime.NumCPU()

// addedProcs is the GOMAXPROCS this package last set.
var addedProcs struct {
	sync.Mutex
	set int
}

// reserveGuestProcs raises GOMAXPROCS by guestProcs, once: again only if
// something else set it since (a test framework does).
func reserveGuestProcs() {
	addedProcs.Lock()
	defer addedProcs.Unlock()
	if cur := runtime.GOMAXPROCS(0); cur != addedProcs.set {
		addedProcs.set = cur + guestProcs
		runtime.GOMAXPROCS(addedProcs.set)
	}
}

type guestCall struct {
	f    func(context.Context)
	ctx  context.Context
	done chan struct{}
}

type onGuestKey struct{}

// idleGuests hands a call to a guest thread waiting for one.
var idleGuests = make(chan guestCall)

// onGuestThread runs f on a guest thread, with ctx marked so that calls
// within f stay on that thread, and returns when f has.
func onGuestThread(ctx context.Context, f func(context.Context)) {
	if ctx.Value(onGuestKey{}) != nil {
		f(ctx)
		return
	}
	c := guestCall{f: f, ctx: context.WithValue(ctx, onGuestKey{}, true), done: make(chan struct{})}
	select {
	case idleGuests <- c:
	default:
		go guestThread(c)
	}
	<-c.done
}

// guestThread runs calls until it has been idle for guestThreadIdle; it
// ends locked, which ends its thread.
func guestThread(c guestCall) {
	runtime.LockOSThread()
	threadNice(guestNice)
	idle := time.NewTimer(guestThreadIdle)
	for {
		c.f(c.ctx)
		close(c.done)
		idle.Reset(guestThreadIdle)
		select {
		case c = <-idleGuests:
		case <-idle.C:
			return
		}
	}
}

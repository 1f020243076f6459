package plugin

import (
	"context"
	"runtime"
	"sync"
)

// Guest calls run on threads of their own, at a lower priority.
//
// A guest that computes until its timeout holds a Go P (one of GOMAXPROCS)
// all that time, and the Go scheduler lets a waiting goroutine in only every
// 10 ms: on a 2-core relay, four hostile filters spinning for their 2 s
// raised a bystander's latency (a message to a domain without filters) from
// 2.4 ms to 220 ms at p50. So every guest call runs on one of a fixed set of
// goroutines locked to OS threads whose nice value is raised (threadNice),
// and the process gets that many more Ps: the relay keeps every P it had,
// and when guests and the relay want the same cores the kernel prefers the
// relay's threads. A guest's deadline still holds: its checks do not depend
// on the thread. See plugin/RATIONALE.md for the measurements.

// guestNice is the nice value of guest threads: a nice-0 thread gets ~10
// times the CPU of a nice-10 one when both want it (CFS weights 1024/110).
const guestNice = 10

// guestThreadsPerCPU sizes the set: enough threads that calls rarely wait
// for one (a filter keeps at most 2 instances per CPU busy).
const guestThreadsPerCPU = 2

type guestCall struct {
	f    func()
	done chan struct{}
}

var guestThreadCount = guestThreadsPerCPU * runtime.NumCPU()

// addedProcs is the GOMAXPROCS this package last set.
var addedProcs struct {
	sync.Mutex
	set int
}

// reserveGuestProcs raises GOMAXPROCS by the guest threads' count, once:
// again only if something else set it since (a test framework does).
func reserveGuestProcs() {
	addedProcs.Lock()
	defer addedProcs.Unlock()
	if cur := runtime.GOMAXPROCS(0); cur != addedProcs.set {
		addedProcs.set = cur + guestThreadCount
		runtime.GOMAXPROCS(addedProcs.set)
	}
}

var guestThreads = sync.OnceValue(func() chan guestCall {
	work := make(chan guestCall)
	for range guestThreadCount {
		go func() {
			runtime.LockOSThread() // never unlocked: the thread keeps its nice value
			threadNice(guestNice)
			for c := range work {
				c.f()
				close(c.done)
			}
		}()
	}
	return work
})

// onGuestThread runs f on a guest thread and returns when it has. If ctx
// ends while every thread is busy, f does not run and ctx's error is
// returned.
func onGuestThread(ctx context.Context, f func()) error {
	c := guestCall{f: f, done: make(chan struct{})}
	select {
	case guestThreads() <- c:
	case <-ctx.Done():
		return ctx.Err()
	}
	<-c.done
	return nil
}

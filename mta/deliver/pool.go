package deliver

import (
	"sync"
	"time"
)

// pool keeps greeted sessions per hop so that a busy destination does not
// pay for TCP, greeting, EHLO and TLS on every message.
type pool struct {
	maxIdle int
	timeout time.Duration

	mu     sync.Mutex
	idle   map[string][]*session // per hop key, most recently used last
	closed bool
}

func newPool(maxIdle int, timeout time.Duration) *pool {
	return &pool{maxIdle: maxIdle, timeout: timeout, idle: make(map[string][]*session)}
}

// get returns an idle session for the hop key, or nil.
func (p *pool) get(key string) *session {
	p.mu.Lock()
	defer p.mu.Unlock()
	list := p.idle[key]
	for len(list) > 0 {
		s := list[len(list)-1]
		list = list[:len(list)-1]
		if s.idle.Stop() { // false: its idle timer fired and is closing it
			p.idle[key] = list
			s.reused = true
			return s
		}
	}
	delete(p.idle, key)
	return nil
}

// put parks a healthy session, or closes it when the pool is full or closed.
func (p *pool) put(s *session) {
	key := s.hop.key()
	p.mu.Lock()
	if p.closed || len(p.idle[key]) >= p.maxIdle {
		p.mu.Unlock()
		s.close()
		return
	}
	s.idle = time.AfterFunc(p.timeout, func() { p.expire(key, s) })
	p.idle[key] = append(p.idle[key], s)
	p.mu.Unlock()
}

func (p *pool) expire(key string, s *session) {
	p.mu.Lock()
	list := p.idle[key]
	for i, x := range list {
		if x == s {
			p.idle[key] = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(p.idle[key]) == 0 {
		delete(p.idle, key)
	}
	p.mu.Unlock()
	s.close()
}

// close says QUIT on every idle session, in parallel so a slow peer cannot
// hold up shutdown by more than one short timeout.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	var all []*session
	for _, list := range p.idle {
		for _, s := range list {
			if s.idle.Stop() {
				all = append(all, s)
			}
		}
	}
	p.idle = make(map[string][]*session)
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range all {
		wg.Go(s.close)
	}
	wg.Wait()
}

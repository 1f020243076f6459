package smtpd

import (
	"sync"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"
)

// admit decides at MAIL whether a new transaction may start: the queue and
// the disk must have room (never accept what cannot be stored), and the
// client and user must be within their message rates.
func (s *session) admit() *smtp.SMTPError {
	srv := s.srv
	if max := srv.config().Queue.MaxMessages; max > 0 && srv.queue.Len() >= max {
		srv.log.Warn("queue full, refusing mail", "queued", srv.queue.Len(), "max", max)
		return reply(452, [3]int{4, 3, 1}, "Mail queue full, try again later")
	}
	if !srv.disk.ok(time.Now(), srv.config().Queue.MinFreeDisk) {
		srv.log.Warn("data directory nearly full, refusing mail", "dir", srv.config().DataDir)
		return reply(452, [3]int{4, 3, 1}, "Insufficient system storage, try again later")
	}
	now := time.Now()
	if s.cs.remote.IsValid() && !srv.ipRate.Allow(s.clientIP().String(), now) {
		srv.log.Warn("message rate exceeded", "client_ip", s.clientIP().String())
		return reply(451, [3]int{4, 7, 1}, "Too many messages from your address, slow down")
	}
	if u := s.authUser(); u != "" && !srv.userRate.Allow(u, now) {
		srv.log.Warn("message rate exceeded", "user", u)
		return reply(451, [3]int{4, 7, 1}, "Too many messages from your account, slow down")
	}
	return nil
}

// diskCheck reports whether the data directory's file system has at least
// min bytes free, asking the kernel at most once a second.
type diskCheck struct {
	dir string

	mu      sync.Mutex
	checked time.Time
	free    bool
}

func (d *diskCheck) ok(now time.Time, min int64) bool {
	if min <= 0 {
		return true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if now.Sub(d.checked) < time.Second {
		return d.free
	}
	d.checked = now
	var st syscall.Statfs_t
	if err := syscall.Statfs(d.dir, &st); err != nil {
		// Unknown: let the write itself fail with a 451 rather than refuse all mail.
		d.free = true
		return true
	}
	d.free = int64(st.Bavail)*int64(st.Bsize) >= min
	return d.free
}

package queue

// Queue administration: list, show, flush, hold, release and delete, on a
// running Queue (served by mta/control) or offline on the spool directory
// of a stopped server (Spool). A running Queue holds an exclusive flock on
// its directory, so an offline command cannot change a spool under its feet.

import (
	"bufio"
	"container/heap"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

var (
	ErrNotFound = errors.New("no such message in the queue")
	ErrBusy     = errors.New("a delivery attempt for this message is in progress; try again shortly")
	ErrLocked   = errors.New("the queue is owned by a running server; use its control socket")
)

// Admin is what an operator can do to a queue. *Queue and *Spool implement it.
type Admin interface {
	// List returns a copy of every envelope, oldest first.
	List() ([]*Envelope, error)
	// Show returns one message's envelope and header.
	Show(id string) (*Detail, error)
	// Flush makes the message id (every message for "") due now and
	// returns how many messages it changed.
	Flush(id string) (int, error)
	// Hold stops delivery attempts for id until Release; the hold is
	// persisted in the envelope and survives restarts.
	Hold(id string) error
	Release(id string) error
	// Delete removes a message. With bounce, its pending recipients fail
	// instead and the sender gets the usual bounce before it is removed
	// (offline: at the server's next start).
	Delete(id string, bounce bool) error
}

// Detail is what Show returns.
type Detail struct {
	Envelope *Envelope `json:"envelope"`
	Header   string    `json:"header"` // the message header, at most maxShowHeader bytes
}

const (
	maxShowHeader = 64 << 10
	// deletedReply is the last reply of a recipient failed by Delete(id, true).
	deletedReply = "deleted from the queue by the administrator"
)

var (
	_ Admin = (*Queue)(nil)
	_ Admin = (*Spool)(nil)
)

// lockSpool takes the exclusive lock on dir, or fails at once if another
// process has it. The lock is a flock on the directory itself, so it leaves
// no file behind and is released by the kernel when the process dies.
func lockSpool(dir string) (*os.File, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("queue: %s is in use by another process: %w", dir, ErrLocked)
		}
		return nil, fmt.Errorf("queue: locking %s: %w", dir, err)
	}
	return f, nil
}

// readHeader returns the header of the message at path (up to the blank
// line), at most maxShowHeader bytes.
func readHeader(path string, size int64) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	br := bufio.NewReader(io.LimitReader(f, min(size, maxShowHeader)))
	var b strings.Builder
	for {
		line, err := br.ReadString('\n')
		if strings.TrimRight(line, "\r\n") == "" && err == nil {
			break
		}
		b.WriteString(line)
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

func sortEnvelopes(envs []*Envelope) {
	sort.Slice(envs, func(i, j int) bool {
		if !envs[i].Created.Equal(envs[j].Created) {
			return envs[i].Created.Before(envs[j].Created)
		}
		return envs[i].ID < envs[j].ID
	})
}

// --- on a running queue ---

func (q *Queue) lookup(id string) (*message, error) {
	if !validID(id) {
		return nil, ErrNotFound
	}
	q.mu.Lock()
	m := q.msgs[id]
	q.mu.Unlock()
	if m == nil {
		return nil, ErrNotFound
	}
	return m, nil
}

// List implements Admin.
func (q *Queue) List() ([]*Envelope, error) {
	q.mu.Lock()
	ms := make([]*message, 0, len(q.msgs))
	for _, m := range q.msgs {
		ms = append(ms, m)
	}
	q.mu.Unlock()
	envs := make([]*Envelope, 0, len(ms))
	for _, m := range ms {
		m.mu.Lock()
		if !m.finished {
			envs = append(envs, m.env.Clone())
		}
		m.mu.Unlock()
	}
	sortEnvelopes(envs)
	return envs, nil
}

// Show implements Admin.
func (q *Queue) Show(id string) (*Detail, error) {
	m, err := q.lookup(id)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	env, finished := m.env.Clone(), m.finished
	m.mu.Unlock()
	if finished {
		return nil, ErrNotFound
	}
	h, err := readHeader(q.msgPath(id), env.Size)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	return &Detail{Envelope: env, Header: h}, nil
}

// Flush implements Admin. A held message is left alone.
func (q *Queue) Flush(id string) (int, error) {
	if id != "" {
		if _, err := q.lookup(id); err != nil {
			return 0, err
		}
	}
	flushed := map[*message]bool{}
	q.mu.Lock()
	for _, j := range q.waiting {
		if id == "" || j.msg.env.ID == id { // ID never changes: no m.mu needed
			j.due = time.Time{}
			flushed[j.msg] = true
		}
	}
	heap.Init(&q.waiting)
	select {
	case q.wake <- struct{}{}:
	default:
	}
	q.mu.Unlock()
	for m := range flushed {
		m.mu.Lock()
		for _, r := range m.env.Recipients {
			if !r.State.Final() {
				r.NextAttempt = time.Time{}
			}
		}
		m.mu.Unlock()
	}
	return len(flushed), nil
}

// unqueue takes m's parked and ready jobs out of the scheduler (jobs in
// flight are not touched) and returns them.
func (q *Queue) unqueue(m *message) []*job {
	q.mu.Lock()
	defer q.mu.Unlock()
	var removed []*job
	for name, d := range q.dests {
		kept := d.pending[:0]
		for _, j := range d.pending {
			if j.msg == m {
				removed = append(removed, j)
			} else {
				kept = append(kept, j)
			}
		}
		clear(d.pending[len(kept):])
		d.pending = kept
		if d.active == 0 && len(d.pending) == 0 {
			delete(q.dests, name)
		}
	}
	kept := q.waiting[:0]
	for _, j := range q.waiting {
		if j.msg == m {
			removed = append(removed, j)
		} else {
			kept = append(kept, j)
		}
	}
	clear(q.waiting[len(kept):])
	q.waiting = kept
	heap.Init(&q.waiting)
	return removed
}

// Hold implements Admin. An attempt already in flight finishes; its
// recipients are not retried until Release.
func (q *Queue) Hold(id string) error {
	m, err := q.lookup(id)
	if err != nil {
		return err
	}
	m.mu.Lock()
	if m.finished {
		m.mu.Unlock()
		return ErrNotFound
	}
	already := m.env.Held
	m.env.Held = true
	m.mu.Unlock()
	if already {
		return nil
	}
	q.persist(m)
	removed := q.unqueue(m)
	m.mu.Lock()
	for _, j := range removed {
		m.releaseLocked(j)
	}
	m.mu.Unlock()
	return nil
}

// Release implements Admin. Recipients keep their next attempt time; Flush
// makes them due now.
func (q *Queue) Release(id string) error {
	m, err := q.lookup(id)
	if err != nil {
		return err
	}
	m.mu.Lock()
	if m.finished {
		m.mu.Unlock()
		return ErrNotFound
	}
	if !m.env.Held {
		m.mu.Unlock()
		return nil
	}
	m.env.Held = false
	var free []*Recipient
	for _, r := range m.env.Recipients {
		if !r.State.Final() && m.owner[r] == nil {
			free = append(free, r)
		}
	}
	m.mu.Unlock()
	q.persist(m)
	// Recipients still owned by an attempt in flight are rescheduled by it.
	q.schedule(m, free)
	return nil
}

// Delete implements Admin. It fails with ErrBusy while an attempt for the
// message is in flight, because that attempt may still deliver it.
func (q *Queue) Delete(id string, bounce bool) error {
	m, err := q.lookup(id)
	if err != nil {
		return err
	}
	removed := q.unqueue(m)
	isRemoved := map[*job]bool{}
	for _, j := range removed {
		isRemoved[j] = true
	}
	m.mu.Lock()
	busy := m.finished
	for _, j := range m.owner {
		busy = busy || !isRemoved[j]
	}
	if busy {
		finished := m.finished
		m.mu.Unlock()
		for _, j := range removed {
			q.enqueue(j)
		}
		if finished {
			return ErrNotFound
		}
		return ErrBusy
	}
	for _, j := range removed {
		m.releaseLocked(j)
	}
	if bounce {
		for _, r := range m.env.Recipients {
			if !r.State.Final() {
				r.State = StateFailed
				r.LastReply = deletedReply
			}
		}
		m.env.Held = false
		m.mu.Unlock()
		q.persist(m)
		q.finishIfDone(m)
		return nil
	}
	m.finished = true
	hasEnv, size := m.hasEnv, m.size
	m.mu.Unlock()
	q.log.Info("message deleted by the administrator", "id", id)
	if err := q.removeFiles(id, hasEnv, size); err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	syncDir(q.opts.Dir)
	q.mu.Lock()
	q.count--
	delete(q.msgs, id)
	q.mu.Unlock()
	return nil
}

// --- offline, on the directory of a stopped server ---

// Spool is a queue directory opened without a running Queue. Changes are
// written to the envelopes (atomically, fsync'd) and take effect when the
// server starts.
type Spool struct {
	dir  string
	lock *os.File // nil: another process owns the spool; read only
}

// OpenSpool opens the queue directory dir. If a running server holds it,
// the Spool is read only and every change fails with ErrLocked.
func OpenSpool(dir string) (*Spool, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	lock, err := lockSpool(dir)
	if err != nil && !errors.Is(err, ErrLocked) {
		return nil, err
	}
	return &Spool{dir: dir, lock: lock}, nil
}

// ReadOnly reports whether another process owns the spool.
func (s *Spool) ReadOnly() bool { return s.lock == nil }

// Close releases the lock.
func (s *Spool) Close() error {
	if s.lock == nil {
		return nil
	}
	err := s.lock.Close()
	s.lock = nil
	return err
}

func (s *Spool) envPath(id string) string { return filepath.Join(s.dir, id+".env") }
func (s *Spool) msgPath(id string) string { return filepath.Join(s.dir, id+".msg") }

func (s *Spool) read(id string) (*Envelope, error) {
	if !validID(id) {
		return nil, ErrNotFound
	}
	if _, err := os.Stat(s.msgPath(id)); errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotFound // an ID.env alone is what is left of a finished message
	}
	env, err := readEnvelope(s.envPath(id), s.msgPath(id), id)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("queue: %s: %w", id, err)
	}
	return env, nil
}

func (s *Spool) write(env *Envelope) error {
	if s.lock == nil {
		return ErrLocked
	}
	b, err := encodeEnvelope(env)
	if err == nil {
		err = writeFileSync(s.envPath(env.ID), b)
	}
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	return nil
}

// ids returns the ids of the spooled messages (those with an ID.msg; read
// tells a committed one from one still being received).
func (s *Spool) ids() ([]string, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	var ids []string
	for _, e := range entries {
		if id, ok := strings.CutSuffix(e.Name(), ".msg"); ok && validID(id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// List implements Admin. Unreadable envelopes are skipped (the server logs them).
func (s *Spool) List() ([]*Envelope, error) {
	ids, err := s.ids()
	if err != nil {
		return nil, err
	}
	var envs []*Envelope
	for _, id := range ids {
		env, err := s.read(id)
		if err != nil {
			continue
		}
		envs = append(envs, env)
	}
	sortEnvelopes(envs)
	return envs, nil
}

// Show implements Admin.
func (s *Spool) Show(id string) (*Detail, error) {
	env, err := s.read(id)
	if err != nil {
		return nil, err
	}
	h, err := readHeader(s.msgPath(id), env.Size)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	return &Detail{Envelope: env, Header: h}, nil
}

// Flush implements Admin: the recipients' next attempt is cleared, so the
// server tries them as soon as it starts.
func (s *Spool) Flush(id string) (int, error) {
	if s.lock == nil {
		return 0, ErrLocked
	}
	ids := []string{id}
	if id == "" {
		var err error
		if ids, err = s.ids(); err != nil {
			return 0, err
		}
	}
	n := 0
	for _, id := range ids {
		env, err := s.read(id)
		if err != nil {
			if len(ids) == 1 {
				return 0, err
			}
			continue
		}
		changed := false
		for _, r := range env.Recipients {
			if !r.State.Final() && !r.NextAttempt.IsZero() {
				r.NextAttempt, changed = time.Time{}, true
			}
		}
		if !changed {
			continue
		}
		if err := s.write(env); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (s *Spool) setHeld(id string, held bool) error {
	if s.lock == nil {
		return ErrLocked
	}
	env, err := s.read(id)
	if err != nil {
		return err
	}
	if env.Held == held {
		return nil
	}
	env.Held = held
	return s.write(env)
}

// Hold implements Admin.
func (s *Spool) Hold(id string) error { return s.setHeld(id, true) }

// Release implements Admin.
func (s *Spool) Release(id string) error { return s.setHeld(id, false) }

// Delete implements Admin. With bounce, the pending recipients are marked
// failed and the message is released; the server sends the bounce and
// removes the message when it starts.
func (s *Spool) Delete(id string, bounce bool) error {
	if s.lock == nil {
		return ErrLocked
	}
	env, err := s.read(id)
	if err != nil {
		return err
	}
	if bounce {
		for _, r := range env.Recipients {
			if !r.State.Final() {
				r.State = StateFailed
				r.LastReply = deletedReply
			}
		}
		env.Held = false
		return s.write(env)
	}
	if err := removeSpooled(s.msgPath(id), s.envPath(id)); err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	return nil
}

// Package queue is sluice's durable on-disk message queue and its delivery
// scheduler.
//
// A message is one file, ID.msg: the bytes (with the relay's Received
// header on top), then the JSON envelope and a trailer with a checksum
// (spoolfile.go). It is written, fsync'd, and its directory entry made
// durable by a directory fsync shared with concurrent commits (group
// commit, see commit.go); only then is the message acknowledged with 250.
// When a message's state changes after acceptance (a deferred attempt, a
// hold), its envelope is rewritten atomically to ID.env beside it (write,
// fsync, rename, fsync directory), which then takes precedence over the
// trailer. On start, an ID.msg with neither a valid trailer nor an ID.env
// was never acknowledged and is removed; every other message is scheduled
// again, so a crash at any point (including kill -9) neither loses nor
// duplicates an accepted message beyond an at-least-once redelivery of an
// attempt that was cut short.
//
// A message's recipients are grouped by destination (see Router). Each
// destination has its own FIFO and a concurrency limit, so a slow or broken
// next hop delays only its own recipients.
package queue

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sluice-mail/sluice/mta/deliver"
)

// Router maps a recipient to its destination.
type Router interface {
	// Route returns the destination key (recipients with the same key are
	// delivered together and share a concurrency limit) and its transport.
	// An error is a permanent failure for that recipient.
	Route(r *Recipient) (dest string, t deliver.Transport, err error)
}

// Schedule is when a recipient is retried (see Backoff) and when it is
// given up.
type Schedule struct {
	RetryMin, RetryMax, GiveUpAfter time.Duration
}

// Scheduler is implemented by a Router whose destinations have retry
// schedules of their own (a domain block's retry_min, retry_max and
// give_up_after). A zero field, or a Router without it, means Options'.
type Scheduler interface {
	Schedule(r *Recipient) Schedule
}

// Options configure a Queue.
type Options struct {
	Dir    string
	Router Router
	Logger hclog.Logger
	// ConcurrencyPerDestination caps parallel deliveries to one destination (default 10).
	ConcurrencyPerDestination int
	// MaxDeliveries caps delivery attempts in flight across all
	// destinations (default 100).
	MaxDeliveries int
	// Retry schedule (see Backoff) of recipients the Router does not
	// schedule itself (see Scheduler).
	RetryMin, RetryMax, GiveUpAfter time.Duration
	// Finished, if set, is called once a message has no pending recipient,
	// before its files are removed (used for bounces and the delivered hook).
	// The message data is the first env.Size bytes of the file at msgPath
	// (an envelope trailer may follow, see spoolfile.go).
	Finished func(env *Envelope, msgPath string)
	// Notifier, if set, sends delivery status notifications (mta/dsn).
	Notifier Notifier
	// DelayWarning is how long a message waits before Notifier.Delayed is
	// called for it, once (default 4h; negative: never).
	DelayWarning time.Duration
	// Observe, if set, is called after every delivery attempt with each
	// recipient's outcome (mta/metrics counts them). It must not block.
	Observe func(Attempt)
}

// Notifier is told about delivery outcomes that may call for a DSN. It gets
// the queue (to commit a notification into), a copy of the envelope and the
// path of the message's spool file, which exists for the duration of the
// call; the message data is its first env.Size bytes (OpenData).
type Notifier interface {
	// Finished reports the recipients of env that reached a final state
	// and are not Reported yet: after an attempt that ended some while
	// others are still queued (a bounce should not wait for a slow
	// destination's give_up_after), and when none is pending, before
	// Options.Finished and before the files are removed. The queue then
	// marks them Reported. If it returns an error they are reported later;
	// at the end the message is kept and Finished is called again (after
	// RetryMin, or at the next start), so a bounce is durable before its
	// original goes.
	Finished(q *Queue, env *Envelope, msgPath string) error
	// Delayed is called once per message, at the first deferred attempt
	// after DelayWarning. An error means it is called again at the next one.
	Delayed(q *Queue, env *Envelope, msgPath string) error
}

// Queue is the durable queue. Its methods are safe for concurrent use.
type Queue struct {
	opts Options
	log  hclog.Logger

	commits committer // group commit of envelopes (commit.go)
	pool    filePool  // spool files for reuse (recycle.go)

	mu       sync.Mutex
	dests    map[string]*destination
	waiting  timerQueue // jobs whose next attempt is in the future
	wake     chan struct{}
	slots    chan struct{} // one per delivery attempt in flight (MaxDeliveries)
	inflight sync.WaitGroup
	ctx      context.Context
	cancel   context.CancelFunc
	stopped  chan struct{}
	started  bool
	done     []*message          // recovered with no pending recipient: finished at Start
	count    int                 // messages in the queue
	msgs     map[string]*message // by id, for administration (admin.go)
	lock     *os.File            // the flock'd queue directory: one process owns the spool
}

// message is a queued message in memory: its envelope, guarded by mu.
type message struct {
	mu       sync.Mutex // guards env, finished, hasEnv and owner, and serialises envelope writes
	env      *Envelope
	finished bool
	// hasEnv: an ID.env may exist beside ID.msg (written, or being written).
	hasEnv bool
	size   int64 // of ID.msg, for its reuse (recycle.go); -1: unknown
	// owner maps each queued recipient to the job that holds it (parked,
	// ready or in flight), so that Hold, Release and Delete never create a
	// second job for a recipient.
	owner map[*Recipient]*job
}

// job is one delivery attempt: some recipients of a message that share a destination.
type job struct {
	msg       *message
	dest      string
	transport deliver.Transport
	rcpts     []*Recipient
	due       time.Time
}

type destination struct {
	pending []*job
	active  int
}

// Open opens (creating if needed) the queue directory and loads every
// committed message. Call Start to begin delivering.
func Open(opts Options) (*Queue, error) {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.ConcurrencyPerDestination <= 0 {
		opts.ConcurrencyPerDestination = 10
	}
	if opts.MaxDeliveries <= 0 {
		opts.MaxDeliveries = 100
	}
	if opts.RetryMin <= 0 {
		opts.RetryMin = 5 * time.Minute
	}
	if opts.RetryMax < opts.RetryMin {
		opts.RetryMax = max(4*time.Hour, opts.RetryMin)
	}
	if opts.GiveUpAfter <= 0 {
		opts.GiveUpAfter = 5 * 24 * time.Hour
	}
	if opts.DelayWarning == 0 {
		opts.DelayWarning = 4 * time.Hour
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	lock, err := lockSpool(opts.Dir)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	q := &Queue{
		opts:    opts,
		log:     opts.Logger,
		dests:   map[string]*destination{},
		msgs:    map[string]*message{},
		lock:    lock,
		wake:    make(chan struct{}, 1),
		slots:   make(chan struct{}, opts.MaxDeliveries),
		ctx:     ctx,
		cancel:  cancel,
		stopped: make(chan struct{}),
	}
	if err := q.recover(); err != nil {
		cancel()
		lock.Close()
		return nil, err
	}
	return q, nil
}

// recover removes unacknowledged files and the remains of finished
// messages, and schedules every committed message (see spoolfile.go).
func (q *Queue) recover() error {
	entries, err := os.ReadDir(q.opts.Dir)
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	hasEnv, hasMsg := map[string]bool{}, map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		if id, ok := strings.CutSuffix(name, ".env"); ok {
			hasEnv[id] = true
		} else if id, ok := strings.CutSuffix(name, ".msg"); ok {
			hasMsg[id] = true
		}
	}
	var loaded []*Envelope
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(q.opts.Dir, name)
		switch {
		case strings.HasSuffix(name, ".tmp"):
			os.Remove(path)
		case strings.HasSuffix(name, ".free"):
			// A spool file kept for reuse (recycle.go): no queued mail.
			if !q.pool.put(freeFile{path, -1}) {
				os.Remove(path)
			}
		case strings.HasSuffix(name, ".env"):
			if id := strings.TrimSuffix(name, ".env"); !hasMsg[id] {
				// Removal unlinks ID.msg first: this is what is left of a
				// finished (delivered or bounced) message.
				q.log.Info("removing envelope of a finished message", "file", name)
				os.Remove(path)
			}
		case strings.HasSuffix(name, ".msg"):
			id := strings.TrimSuffix(name, ".msg")
			var env *Envelope
			var err error
			if hasEnv[id] {
				var b []byte
				if b, err = os.ReadFile(q.envPath(id)); err != nil {
					return fmt.Errorf("queue: %w", err)
				}
				env, err = decodeEnvelope(b)
			} else {
				env, err = readTrailer(path, id)
				if errors.Is(err, errNoTrailer) {
					// Never acknowledged: the client was not told 250.
					q.log.Info("removing unacknowledged message", "file", name)
					os.Remove(path)
					continue
				}
			}
			if err == nil && env.ID != id {
				err = fmt.Errorf("envelope names message %q", env.ID)
			}
			if err != nil {
				// Keep the files for the operator; never delete mail we cannot read.
				q.log.Error("unreadable envelope left in place", "id", id, "error", err)
				continue
			}
			loaded = append(loaded, env)
		}
	}
	sort.Slice(loaded, func(i, j int) bool { return loaded[i].Created.Before(loaded[j].Created) })
	for _, env := range loaded {
		q.count++
		m := &message{env: env, hasEnv: hasEnv[env.ID], size: -1}
		q.track(m)
		if !env.Pending() {
			// Finishing may queue a bounce; not before the queue is running.
			q.done = append(q.done, m)
			continue
		}
		q.schedule(m, pendingRecipients(env))
	}
	if len(loaded) > 0 {
		q.log.Info("queue recovered", "messages", len(loaded))
	}
	return nil
}

func (q *Queue) msgPath(id string) string { return filepath.Join(q.opts.Dir, id+".msg") }
func (q *Queue) envPath(id string) string { return filepath.Join(q.opts.Dir, id+".env") }

// Len returns the number of messages in the queue.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.count
}

// Incoming is a message being received. Write its bytes, then Commit or Abort it.
type Incoming struct {
	ID   string
	Path string
	f    *os.File
	q    *Queue
	n    int64
	crc  uint32 // CRC-32C of the n bytes written, for the trailer
	// linked: the data was not written through this Incoming (a hard link
	// from the quarantine), so Commit writes ID.env instead of a trailer.
	linked bool
	// oldSize is the size of a recycled file before it was written over
	// (-1: unknown, 0: a new file): Commit cuts what is left beyond the message.
	oldSize int64
}

// NewMessage creates the data file for a message being received.
func (q *Queue) NewMessage() (*Incoming, error) {
	id := newID()
	path := q.msgPath(id)
	if f, size, ok := q.reuse(path); ok { // recycle.go
		return &Incoming{ID: id, Path: path, f: f, q: q, oldSize: size}, nil
	}
	f, err := openFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	return &Incoming{ID: id, Path: path, f: f, q: q}, nil
}

func (in *Incoming) Write(p []byte) (int, error) {
	n, err := in.f.Write(p)
	in.n += int64(n)
	in.crc = crc32.Update(in.crc, crcTable, p[:n])
	return n, err
}

// Size is the number of bytes written so far.
func (in *Incoming) Size() int64 { return in.n }

// ReadAt reads the data written so far (for filters that inspect the body),
// never beyond it: a recycled spool file may still hold an older message
// past that point (recycle.go).
func (in *Incoming) ReadAt(p []byte, off int64) (int, error) {
	if off >= in.n {
		return 0, io.EOF
	}
	if rest := in.n - off; int64(len(p)) > rest {
		n, err := in.f.ReadAt(p[:rest], off)
		if err == nil {
			err = io.EOF
		}
		return n, err
	}
	return in.f.ReadAt(p, off)
}

// Replace swaps the message data for the contents of r (used when a filter
// changed the message). The new bytes are written to a new file that
// atomically replaces the old one at Commit.
func (in *Incoming) Replace(r io.Reader) error {
	tmp, err := openFile(in.Path+".new.tmp", os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	h := crc32.New(crcTable)
	n, err := io.Copy(io.MultiWriter(tmp, h), r)
	if err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), in.Path); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	in.f.Close()
	in.f, in.n, in.crc, in.oldSize = tmp, n, h.Sum32(), 0
	return nil
}

// Abort discards the message; the client was not (and will not be) told 250.
func (in *Incoming) Abort() {
	if in.f != nil {
		in.f.Close()
		in.f = nil
		os.Remove(in.Path)
	}
}

// Commit makes the message durable and schedules its delivery. When it
// returns nil, the data and the envelope are on disk (file and directory
// fsync'd, see commit.go) and the client may be told 250.
func (q *Queue) Commit(in *Incoming, env *Envelope) error {
	if in.f == nil {
		return errors.New("queue: commit of an aborted message")
	}
	env.ID = in.ID
	env.Size = in.n
	if env.Created.IsZero() {
		env.Created = time.Now()
	}
	for _, r := range env.Recipients {
		if r.State == "" {
			r.State = StateQueued
		}
	}
	if err := env.validate(); err != nil {
		in.Abort()
		return err
	}
	data := in.f
	in.f = nil
	size := int64(-1) // of the spool file, once committed
	b, err := encodeEnvelope(env)
	switch {
	case err != nil:
		data.Close()
	case in.linked:
		// Data this Incoming did not write (no CRC): the envelope goes
		// to ID.env, after the data file is fsync'd (commit.go).
		err = q.writeEnvelope(q.envPath(env.ID), b, data)
	default:
		size, err = q.commitTrailer(data, in.n, in.crc, b, in.oldSize)
	}
	if err != nil {
		os.Remove(in.Path)
		os.Remove(q.envPath(env.ID))
		return fmt.Errorf("queue: %w", err)
	}
	q.mu.Lock()
	q.count++
	q.mu.Unlock()
	q.schedule(&message{env: env, hasEnv: in.linked, size: size}, env.Recipients)
	return nil
}

func pendingRecipients(env *Envelope) []*Recipient {
	var rs []*Recipient
	for _, r := range env.Recipients {
		if !r.State.Final() {
			rs = append(rs, r)
		}
	}
	return rs
}

// schedule creates jobs for rcpts (recipients of m that no job holds),
// grouped by destination and due time.
func (q *Queue) schedule(m *message, rcpts []*Recipient) {
	q.track(m)
	m.mu.Lock()
	if m.owner == nil {
		m.owner = map[*Recipient]*job{}
	}
	if m.env.Held || m.finished {
		// Held (or deleted): no jobs; Release schedules them again.
		for _, r := range rcpts {
			delete(m.owner, r)
		}
		m.mu.Unlock()
		return
	}
	groups := map[string]*job{}
	var order []*job
	var failed bool
	for _, r := range rcpts {
		if r.State.Final() {
			delete(m.owner, r)
			continue
		}
		dest, t, err := q.opts.Router.Route(r)
		if err != nil {
			r.State = StateFailed
			r.LastReply = "550 5.1.2 " + err.Error()
			delete(m.owner, r)
			failed = true
			if q.opts.Observe != nil {
				q.opts.Observe(Attempt{ID: m.env.ID, Created: m.env.Created, Outcomes: []Outcome{{r.Addr, r.Route, StatusBounced}}})
			}
			continue
		}
		due := r.NextAttempt
		key := dest + "\x00" + due.String()
		j := groups[key]
		if j == nil {
			j = &job{msg: m, dest: dest, transport: t, due: due}
			groups[key] = j
			order = append(order, j)
		}
		j.rcpts = append(j.rcpts, r)
		m.owner[r] = j
	}
	m.mu.Unlock()
	if failed {
		q.persist(m)
	}
	if len(order) == 0 {
		q.finishIfDone(m)
		return
	}
	for _, j := range order {
		q.enqueue(j)
	}
}

// enqueue hands a job to its destination now or parks it until it is due.
func (q *Queue) enqueue(j *job) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !j.due.IsZero() && j.due.After(time.Now()) {
		q.waiting.push(j)
		select {
		case q.wake <- struct{}{}:
		default:
		}
		return
	}
	q.readyLocked(j)
}

func (q *Queue) readyLocked(j *job) {
	d := q.dests[j.dest]
	if d == nil {
		d = &destination{}
		q.dests[j.dest] = d
	}
	d.pending = append(d.pending, j)
	if q.started && d.active < q.opts.ConcurrencyPerDestination {
		d.active++
		q.inflight.Add(1)
		go q.worker(j.dest, d)
	}
}

// Start begins delivering. It returns at once.
func (q *Queue) Start() {
	q.mu.Lock()
	q.started = true
	for name, d := range q.dests {
		for d.active < q.opts.ConcurrencyPerDestination && d.active < len(d.pending) {
			d.active++
			q.inflight.Add(1)
			go q.worker(name, d)
		}
	}
	done := q.done
	q.done = nil
	q.mu.Unlock()
	go q.timerLoop()
	for _, m := range done {
		q.finishIfDone(m)
	}
}

// worker delivers the destination's jobs until its FIFO is empty.
func (q *Queue) worker(name string, d *destination) {
	defer q.inflight.Done()
	for {
		q.mu.Lock()
		if len(d.pending) == 0 || q.ctx.Err() != nil {
			d.active--
			if d.active == 0 && len(d.pending) == 0 {
				delete(q.dests, name)
			}
			q.mu.Unlock()
			return
		}
		j := d.pending[0]
		d.pending[0] = nil
		d.pending = d.pending[1:]
		q.mu.Unlock()
		select {
		case q.slots <- struct{}{}:
		case <-q.ctx.Done():
			// Shutting down: the job's recipients stay queued on disk.
			continue
		}
		q.attempt(j)
		<-q.slots
	}
}

// timerLoop moves parked jobs to their destinations when they fall due.
func (q *Queue) timerLoop() {
	defer close(q.stopped)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		q.mu.Lock()
		now := time.Now()
		for q.waiting.Len() > 0 && !q.waiting.peek().due.After(now) {
			q.readyLocked(q.waiting.pop())
		}
		next := time.Hour
		if q.waiting.Len() > 0 {
			next = q.waiting.peek().due.Sub(now)
		}
		q.mu.Unlock()
		timer.Reset(next)
		select {
		case <-q.ctx.Done():
			return
		case <-q.wake:
		case <-timer.C:
		}
	}
}

// attempt runs one delivery attempt and records its outcome durably.
func (q *Queue) attempt(j *job) {
	m := j.msg
	m.mu.Lock()
	if m.env.Held || m.finished {
		// Held or deleted after this job was taken from its FIFO.
		m.releaseLocked(j)
		m.mu.Unlock()
		return
	}
	env := m.env
	addrs := make([]string, len(j.rcpts))
	for i, r := range j.rcpts {
		addrs[i] = r.Addr
	}
	msg := &deliver.Message{
		ID: env.ID, From: env.From, UTF8: env.UTF8, EightBit: env.EightBit, Size: env.Size,
		Open: func() (io.ReadCloser, error) { return OpenData(q.msgPath(env.ID), env.Size) },
		DSN:  dsnParams(env, j.rcpts),
	}
	m.mu.Unlock()

	start := time.Now()
	results := j.transport.Deliver(q.ctx, msg, addrs)
	if q.ctx.Err() != nil {
		// Shutting down: the attempt was cut short; the recipients stay
		// queued on disk and are retried on the next start.
		return
	}
	now := time.Now()

	m.mu.Lock()
	var retry []*Recipient
	var outcomes []Outcome // for Options.Observe
	for i, r := range j.rcpts {
		var res deliver.Result
		if i < len(results) {
			res = results[i]
		} else {
			res = deliver.Result{Rcpt: r.Addr, Text: "transport returned no result"}
		}
		r.Attempts++
		r.LastReply = res.String()
		r.LastAttempt = now
		status := StatusDeferred
		switch {
		case res.OK():
			r.State = StateDelivered
			r.Relayed, r.DSNPassed = res.Relayed, res.DSNPassed
			status = StatusDelivered
		case res.Permanent:
			r.State = StateFailed
			status = StatusBounced
		default:
			sch := q.Schedule(r)
			if now.Sub(env.Created) >= sch.GiveUpAfter {
				r.State = StateFailed
				r.LastReply = "expired after " + sch.GiveUpAfter.String() + ": " + res.String()
				status = StatusExpired
				break
			}
			r.NextAttempt = now.Add(Backoff(r.Attempts, sch.RetryMin, sch.RetryMax, nil))
			retry = append(retry, r)
		}
		q.log.Info("delivery attempt", "id", env.ID, "rcpt", r.Addr, "destination", j.dest,
			"reply", res.String(), "delay", now.Sub(env.Created).Round(time.Millisecond).String(),
			"duration", now.Sub(start).Round(time.Millisecond).String(), "status", status)
		if q.opts.Observe != nil {
			outcomes = append(outcomes, Outcome{r.Addr, r.Route, status})
		}
	}
	for _, r := range j.rcpts {
		if r.State.Final() && m.owner[r] == j {
			delete(m.owner, r) // retried ones stay owned until schedule hands them on
		}
	}
	warn := len(retry) > 0 && q.opts.Notifier != nil && q.opts.DelayWarning > 0 &&
		!env.DelayWarned && now.Sub(env.Created) >= q.opts.DelayWarning
	var snapshot *Envelope
	if warn {
		snapshot = env.Clone()
	}
	m.mu.Unlock()
	if q.opts.Observe != nil {
		q.opts.Observe(Attempt{ID: env.ID, Dest: j.dest, Created: env.Created, Duration: now.Sub(start), Outcomes: outcomes})
	}

	if warn {
		if err := q.opts.Notifier.Delayed(q, snapshot, q.msgPath(env.ID)); err != nil {
			q.log.Error("cannot send delay warning", "id", env.ID, "error", err)
		} else {
			m.mu.Lock()
			m.env.DelayWarned = true
			m.mu.Unlock()
		}
	}
	// A message whose recipients are all final is removed at once: writing
	// its final state first would cost two fsyncs on every message for a
	// file about to be deleted. Should a crash come between the delivery and
	// the removal, the message is attempted again (at least once, never lost).
	if len(retry) == 0 && q.finishIfDone(m) {
		return
	}
	// Recipients that ended here while others wait are reported now.
	m.mu.Lock()
	pending := m.env.Pending()
	m.mu.Unlock()
	if pending {
		q.report(m)
	}
	q.persist(m)
	if len(retry) > 0 {
		q.schedule(m, retry)
	}
}

// report has the Notifier report the recipients of m that reached a final
// state since its last report, and marks them Reported; an error is
// logged and returned, and they stay to be reported later. A recipient is
// marked before the call, so that concurrent attempts for other
// destinations of m never report it twice.
func (q *Queue) report(m *message) error {
	n := q.opts.Notifier
	if n == nil {
		return nil
	}
	m.mu.Lock()
	env := m.env.Clone() // as the Notifier sees it: the new ones unreported
	var claimed []*Recipient
	for _, r := range m.env.Recipients {
		if r.State.Final() && !r.Reported {
			r.Reported = true
			claimed = append(claimed, r)
		}
	}
	m.mu.Unlock()
	if len(claimed) == 0 {
		return nil
	}
	err := n.Finished(q, env, q.msgPath(env.ID))
	if err != nil {
		q.log.Error("cannot queue delivery status notification; will retry", "id", env.ID, "error", err)
		m.mu.Lock()
		for _, r := range claimed {
			r.Reported = false
		}
		m.mu.Unlock()
	}
	return err
}

// Schedule returns the retry schedule of r: the Router's (see Scheduler),
// with Options' where it has none.
func (q *Queue) Schedule(r *Recipient) Schedule {
	s := Schedule{}
	if sc, ok := q.opts.Router.(Scheduler); ok {
		s = sc.Schedule(r)
	}
	if s.RetryMin <= 0 {
		s.RetryMin = q.opts.RetryMin
	}
	if s.RetryMax <= 0 {
		s.RetryMax = q.opts.RetryMax
	}
	s.RetryMax = max(s.RetryMax, s.RetryMin)
	if s.GiveUpAfter <= 0 {
		s.GiveUpAfter = q.opts.GiveUpAfter
	}
	return s
}

// dsnParams are the RFC 3461 parameters of env and rcpts for the next
// hop, nil when the client gave none.
func dsnParams(env *Envelope, rcpts []*Recipient) *deliver.DSN {
	var d *deliver.DSN
	if env.DSNRet != "" || env.DSNEnvID != "" {
		d = &deliver.DSN{Ret: env.DSNRet, EnvID: env.DSNEnvID}
	}
	for _, r := range rcpts {
		if len(r.Notify) == 0 && r.ORcpt == "" {
			continue
		}
		if d == nil {
			d = &deliver.DSN{}
		}
		if d.Rcpt == nil {
			d.Rcpt = map[string]deliver.RcptDSN{}
		}
		d.Rcpt[r.Addr] = deliver.RcptDSN{Notify: r.Notify, ORcpt: r.ORcpt}
	}
	return d // nil: the client asked nothing (most mail), nothing allocated
}

// releaseLocked drops j's claim on its recipients. m.mu is held.
func (m *message) releaseLocked(j *job) {
	for _, r := range j.rcpts {
		if m.owner[r] == j {
			delete(m.owner, r)
		}
	}
}

// track registers m for administration.
func (q *Queue) track(m *message) {
	q.mu.Lock()
	q.msgs[m.env.ID] = m
	q.mu.Unlock()
}

// persist rewrites the envelope after a state change. Failing to persist is
// logged: the worst case is a repeated delivery attempt after a restart.
func (q *Queue) persist(m *message) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.finished {
		// Another attempt finished the message meanwhile and removed its
		// files (or is removing them): an ID.env now would outlive it.
		return
	}
	b, err := encodeEnvelope(m.env)
	id := m.env.ID
	if err == nil {
		m.hasEnv = true
		err = q.writeEnvelope(q.envPath(id), b, nil)
	}
	if err != nil {
		q.log.Error("cannot persist envelope", "id", id, "error", err)
	}
}

// finishIfDone removes a message whose recipients all reached a final state
// and reports whether it did; otherwise the caller persists the envelope.
func (q *Queue) finishIfDone(m *message) (removed bool) {
	m.mu.Lock()
	done := !m.finished && !m.env.Pending()
	m.finished = m.finished || done
	env := m.env.Clone()
	hasEnv, size := m.hasEnv, m.size
	m.mu.Unlock()
	if !done {
		return false
	}
	if err := q.report(m); err != nil {
		// Keep the original until its bounce is safely queued.
		m.mu.Lock()
		m.finished = false
		m.mu.Unlock()
		time.AfterFunc(q.opts.RetryMin, func() {
			if q.ctx.Err() == nil && !q.finishIfDone(m) {
				q.persist(m)
			}
		})
		return false
	}
	if q.opts.Finished != nil {
		q.opts.Finished(env, q.msgPath(env.ID))
	}
	if err := q.removeFiles(env.ID, hasEnv, size); err != nil {
		q.log.Error("cannot remove finished message", "id", env.ID, "error", err)
		return false
	}
	q.mu.Lock()
	q.count--
	delete(q.msgs, env.ID)
	q.mu.Unlock()
	return true
}

// removeFiles removes a message from the spool: ID.msg first, since it is
// what makes a message exist (a crash before the unlink is durable leaves
// the message queued, to be attempted again: at least once, never lost),
// then the ID.env a state change may have left beside it, which recovery
// would remove anyway once ID.msg is gone. Most messages never had an
// ID.env (hasEnv false): not even a failing unlink of it, which would
// take the directory's lock like any other, is spent on them. ID.msg is
// kept for reuse (recycle.go), which for existence is the same as unlinking.
func (q *Queue) removeFiles(id string, hasEnv bool, size int64) error {
	if err := q.retire(q.msgPath(id), size); err != nil {
		return err
	}
	if hasEnv {
		syscall.Unlink(q.envPath(id)) // if left behind, recovery removes it
	}
	return nil
}

func removeSpooled(msgPath, envPath string) error {
	if err := os.Remove(msgPath); err != nil {
		return err
	}
	syscall.Unlink(envPath) // perhaps absent; if left behind, recovery removes it
	return nil
}

// Close stops delivering and waits for attempts in flight to return (they
// are cancelled through their context). Queued messages stay on disk.
func (q *Queue) Close() {
	q.cancel()
	q.mu.Lock()
	started := q.started
	q.mu.Unlock()
	if started {
		<-q.stopped
	}
	q.inflight.Wait()
	q.pool.drain()
	q.mu.Lock()
	if q.lock != nil {
		q.lock.Close() // releases the flock
		q.lock = nil
	}
	q.mu.Unlock()
}

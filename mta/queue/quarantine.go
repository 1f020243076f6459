package queue

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// QuarantineDir is where quarantined messages are kept, beside the queue
// directory, in the same two-file format (ID.msg, ID.env) but never
// scheduled for delivery.
func (q *Queue) QuarantineDir() string {
	return filepath.Join(filepath.Dir(q.opts.Dir), "quarantine")
}

// Quarantine stores a received message durably in the quarantine area
// instead of the queue (a filter's quarantine verdict). Like Commit, it
// returns only after the data and the envelope are on disk.
func (q *Queue) Quarantine(in *Incoming, env *Envelope) error {
	dir := q.QuarantineDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		in.Abort()
		return fmt.Errorf("quarantine: %w", err)
	}
	env.ID, env.Size = in.ID, in.n
	if env.Created.IsZero() {
		env.Created = time.Now()
	}
	var err error
	if in.oldSize != 0 {
		err = in.f.Truncate(in.n) // a recycled file: drop its previous message's tail
	}
	if err = errors.Join(err, in.f.Sync()); err != nil {
		in.Abort()
		return fmt.Errorf("quarantine: %w", err)
	}
	in.f.Close()
	in.f = nil
	dst := filepath.Join(dir, in.ID+".msg")
	if err := os.Rename(in.Path, dst); err != nil {
		os.Remove(in.Path)
		return fmt.Errorf("quarantine: %w", err)
	}
	b, err := encodeEnvelope(env)
	if err == nil {
		err = writeFileSync(filepath.Join(dir, in.ID+".env"), b)
	}
	if err == nil {
		// The rename removed the file from the queue directory; make that durable too.
		err = syncDir(q.opts.Dir)
	}
	if err != nil {
		os.Remove(dst)
		return fmt.Errorf("quarantine: %w", err)
	}
	return nil
}

// ListQuarantine returns the envelopes of the quarantined messages in dir
// (see QuarantineDir), oldest first. It only reads, so it is safe while a
// server runs.
func ListQuarantine(dir string) ([]*Envelope, error) {
	s := &Spool{dir: dir}
	ids, err := s.ids()
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var envs []*Envelope
	for _, id := range ids {
		if env, err := s.read(id); err == nil {
			envs = append(envs, env)
		}
	}
	sortEnvelopes(envs)
	return envs, nil
}

// ShowQuarantined returns a quarantined message's envelope and header.
func ShowQuarantined(dir, id string) (*Detail, error) {
	s := &Spool{dir: dir}
	env, err := s.read(id)
	if err != nil {
		return nil, err
	}
	h, err := readHeader(s.msgPath(id), env.Size)
	if err != nil {
		return nil, fmt.Errorf("quarantine: %w", err)
	}
	return &Detail{Envelope: env, Header: h}, nil
}

// DeleteQuarantined removes a quarantined message for good.
func DeleteQuarantined(dir, id string) error {
	s := &Spool{dir: dir}
	if _, err := s.read(id); err != nil {
		return err
	}
	if err := removeSpooled(s.msgPath(id), s.envPath(id)); err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	return syncDir(dir)
}

// ReleaseQuarantined moves a quarantined message into the running queue
// for delivery. The data file is hard-linked into the queue and committed
// there before the quarantined copy is removed, so a crash at any point
// leaves the message in the quarantine, the queue, or (at worst) both.
func (q *Queue) ReleaseQuarantined(id string) error {
	qdir := q.QuarantineDir()
	env, in, err := linkQuarantined(qdir, q.opts.Dir, id)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(in.Path, os.O_RDWR, 0)
	if err != nil {
		os.Remove(in.Path)
		return fmt.Errorf("quarantine: %w", err)
	}
	in.f, in.q, in.linked = f, q, true
	for _, r := range env.Recipients {
		r.State, r.NextAttempt = StateQueued, time.Time{}
	}
	if err := q.Commit(in, env); err != nil {
		return err
	}
	return DeleteQuarantined(qdir, id)
}

// ReleaseQuarantined moves a quarantined message into a stopped server's
// spool; it is delivered when the server starts.
func (s *Spool) ReleaseQuarantined(quarantineDir, id string) error {
	if s.lock == nil {
		return ErrLocked
	}
	env, _, err := linkQuarantined(quarantineDir, s.dir, id)
	if err != nil {
		return err
	}
	for _, r := range env.Recipients {
		r.State, r.NextAttempt = StateQueued, time.Time{}
	}
	if err := s.write(env); err != nil {
		os.Remove(s.msgPath(id))
		return err
	}
	return DeleteQuarantined(quarantineDir, id)
}

// linkQuarantined reads a quarantined envelope and hard-links its data
// file into queueDir under the same id.
func linkQuarantined(qdir, queueDir, id string) (*Envelope, *Incoming, error) {
	qs := &Spool{dir: qdir}
	env, err := qs.read(id)
	if err != nil {
		return nil, nil, err
	}
	dst := filepath.Join(queueDir, id+".msg")
	if err := os.Link(qs.msgPath(id), dst); err != nil {
		return nil, nil, fmt.Errorf("quarantine: %w", err)
	}
	fi, err := os.Stat(dst)
	if err != nil {
		os.Remove(dst)
		return nil, nil, fmt.Errorf("quarantine: %w", err)
	}
	return env, &Incoming{ID: id, Path: dst, n: min(fi.Size(), env.Size), linked: true}, nil
}

package queue

import (
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
	if err := in.f.Sync(); err != nil {
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

package queue

import (
	"errors"
	"os"
	"sync"
)

// Group commit: the fsyncs that make a message durable are the cost of
// every 250 (a disk flush each, or a journal commit on ext4), so concurrent
// commits share them. Each commit first writes its envelope to ID.env.tmp
// without syncing and queues itself; one committer at a time then takes
// every queued commit as a batch and, for the whole batch:
//
//  1. fsyncs and closes each message data file and each envelope .tmp file;
//  2. renames each .tmp to ID.env, only for commits whose step 1 succeeded;
//  3. fsyncs the queue directory once, which makes the creation of every
//     ID.msg and every rename of the batch durable.
//
// The next round starts as soon as a round's renames are done, while that
// round's directory fsync runs.
//
// A commit returns only after the round that contains it finished, so its
// 250 still follows completed fsyncs of its own data, its own envelope and
// the directory entries of both: exactly what the unbatched sequence
// guaranteed. Nothing waits on purpose for a batch to fill: commits that
// arrive while a round runs form the next batch, so an idle relay commits
// at once and a busy one pays for one round per batch instead of per message.
//
// Crash reasoning (it is the reasoning of the unbatched code, per message):
//   - before step 2 there is no ID.env, so the message was never
//     acknowledged, and recovery removes its ID.msg and any .tmp;
//   - the rename in step 2 happens after the data and the envelope were
//     fsync'd, so an ID.env that survives a crash names complete, durable
//     data and is itself complete (never a torn write);
//   - a crash before step 3 completes may lose the rename, but then the
//     client was not told 250 and sends again: no acknowledged message is
//     lost, and at worst an unacknowledged one is delivered twice, which
//     SMTP's at-least-once contract allows.
//
// Writing the envelope under its final name without the rename would save
// one directory operation but not one fsync, and would let a crash leave a
// torn ID.env that recovery could not tell from a damaged acknowledged one,
// so the rename stays.
//
// Envelope rewrites after delivery attempts (persist) take the same path
// without a data file, so they share directory fsyncs with new messages.

// commitReq is one envelope on its way to disk.
type commitReq struct {
	data    *os.File // message data to fsync and close; nil for a rewrite
	tmp     *os.File // the envelope, written under tmpPath, to fsync and close
	tmpPath string
	path    string
	err     error
	// wake receives false when the commit is done (err is set), or true when
	// this commit must lead the next round.
	wake chan bool
}

// committer batches commitReqs. Its zero value is ready to use.
type committer struct {
	mu      sync.Mutex
	pending []*commitReq // waiting for the next round
	busy    bool         // a round is running or about to
}

// commit makes r durable in dir (see above) and returns its outcome.
func (c *committer) commit(dir string, r *commitReq) error {
	r.wake = make(chan bool, 1)
	c.mu.Lock()
	c.pending = append(c.pending, r)
	if c.busy {
		c.mu.Unlock()
		if lead := <-r.wake; !lead {
			return r.err
		}
		c.mu.Lock() // leading the next round; busy stays set
	}
	c.busy = true
	batch := c.pending
	c.pending = nil
	c.mu.Unlock()

	renamed := syncAndRename(batch)

	// The next round may start now: its files and this round's directory
	// are then fsync'd at the same time, which a journalling file system
	// serves with one journal commit instead of two in a row.
	c.mu.Lock()
	var next *commitReq
	if len(c.pending) > 0 {
		next = c.pending[0]
	} else {
		c.busy = false
	}
	c.mu.Unlock()
	if next != nil {
		next.wake <- true
	}

	if renamed {
		if err := syncDir(dir); err != nil {
			for _, o := range batch {
				if o.err == nil {
					o.err = err
				}
			}
		}
	}
	for _, o := range batch {
		if o != r {
			o.wake <- false
		}
	}
	return r.err
}

// syncAndRename does steps 1 and 2 for a batch, sets the err of each
// request that failed, and reports whether any file was renamed.
func syncAndRename(batch []*commitReq) bool {
	if len(batch) > 1 {
		for _, r := range batch {
			if r.data != nil {
				startWriteback(r.data)
			}
			startWriteback(r.tmp)
		}
	}
	for _, r := range batch {
		if r.data != nil {
			r.err = syncClose(r.data)
		}
		if err := syncClose(r.tmp); r.err == nil {
			r.err = err
		}
	}
	renamed := false
	for _, r := range batch {
		if r.err == nil {
			r.err = os.Rename(r.tmpPath, r.path)
			renamed = renamed || r.err == nil
		}
	}
	return renamed
}

func syncClose(f *os.File) error {
	return errors.Join(f.Sync(), f.Close())
}

// writeEnvelope writes b to path durably through the group commit,
// together with the message data file if data is not nil. On failure the
// .tmp file is removed; what else to remove is the caller's decision.
func (q *Queue) writeEnvelope(path string, b []byte, data *os.File) error {
	tmpPath := path + ".tmp"
	tmp, err := os.OpenFile(tmpPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err == nil {
		_, err = tmp.Write(b)
		if err != nil {
			tmp.Close()
		}
	}
	if err != nil {
		if data != nil {
			data.Close()
		}
		os.Remove(tmpPath)
		return err
	}
	err = q.commits.commit(q.opts.Dir, &commitReq{data: data, tmp: tmp, tmpPath: tmpPath, path: path})
	if err != nil {
		os.Remove(tmpPath)
	}
	return err
}

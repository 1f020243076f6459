package queue

import (
	"errors"
	"io"
	"os"
	"sync"
)

// Group commit of the queue directory. Making a new message durable
// takes two steps, in this order:
//
//  1. write the envelope and the trailer after the data of ID.msg
//     (spoolfile.go) and fsync the file;
//  2. fsync the queue directory, which makes the creation of ID.msg (or
//     the rename of a filter's replacement over it) durable.
//
// Step 1 is done by each commit itself, concurrently with the others:
// concurrent fsyncs of different files are merged by the file system into
// one journal commit (ext4, XFS), whereas doing them one after the other
// in a single thread costs one journal commit each. Measured on the bench
// rig, batching them into one thread halved throughput.
//
// Step 2 is shared: a commit whose fsync completed joins the next
// directory fsync, and one directory fsync covers every commit that joined
// before it started. A commit returns only after a directory fsync that
// started after its own step 1 completed, so its 250 follows the completed
// fsyncs of its data, its envelope and its directory entry: exactly what
// the unbatched sequence guaranteed. Nothing waits on purpose for a batch
// to fill: commits that arrive while a directory fsync runs form the next
// batch, so an idle relay commits at once and a busy one does one
// directory fsync per batch instead of per message.
//
// Crash reasoning, per message:
//   - until step 1 completes, the file may be on disk in any state (cut
//     short, without its trailer, or with blocks missing). The client was
//     not told 250. Recovery checks the CRC-32C that the trailer carries
//     over every byte of data and envelope: a file that fails is removed as
//     unacknowledged; one that passes is complete and is delivered
//     (at-least-once for a message whose 250 never went out, which SMTP
//     allows: the client sends it again).
//   - a crash after step 1 but before step 2 completes may lose the
//     directory entry and with it the message, but then the client was not
//     told 250 either;
//   - after step 2 the data, the envelope and the name are durable, and
//     only then is the client told 250. No acknowledged message is lost.
//
// Compared with writing the envelope as a separate ID.env (temporary file,
// fsync, rename), this creates one file instead of two, renames none and
// fsyncs one file instead of two per message; the directory, whose lock
// every create, rename and unlink of every session takes, sees two
// operations per message (create, unlink) instead of five.
//
// Envelope rewrites after delivery attempts (persist) write ID.env the old
// way (temporary file, fsync, rename, then the shared directory fsync), as
// do commits of data this process did not write (a release from the
// quarantine: the data is hard-linked into the queue without a trailer, so
// until its ID.env is renamed into place recovery removes it as
// unacknowledged). An ID.env that survives a crash was renamed only after
// its bytes were fsync'd, so it is never torn.

// commitReq is one envelope on its way to disk.
type commitReq struct {
	err error
	// wake receives false when the directory fsync covering this request is
	// done (err is set), or true when this request must run the next one.
	wake chan bool
}

// committer batches directory fsyncs. Its zero value is ready to use.
type committer struct {
	mu      sync.Mutex
	pending []*commitReq // waiting for the next directory fsync
	busy    bool         // a directory fsync is running or about to
}

// syncDir returns after a fsync of dir that started after the call.
func (c *committer) syncDir(dir string) error {
	r := &commitReq{wake: make(chan bool, 1)}
	c.mu.Lock()
	c.pending = append(c.pending, r)
	if c.busy {
		c.mu.Unlock()
		if lead := <-r.wake; !lead {
			return r.err
		}
		c.mu.Lock() // running the next one; busy stays set
	}
	c.busy = true
	batch := c.pending
	c.pending = nil
	c.mu.Unlock()

	err := syncDir(dir)

	c.mu.Lock()
	var next *commitReq
	if len(c.pending) > 0 {
		next = c.pending[0]
	} else {
		c.busy = false
	}
	c.mu.Unlock()
	if next != nil {
		next.wake <- true // the next batch starts at once
	}
	for _, o := range batch {
		if o != r {
			o.err = err
			o.wake <- false
		}
	}
	return err
}

func syncClose(f *os.File) error {
	return errors.Join(f.Sync(), f.Close())
}

// commitTrailer appends the envelope b and the trailer to the data file
// (dataLen bytes, CRC-32C crc), cuts off what a recycled file of oldSize
// bytes held beyond them, fsyncs and closes it (step 1), then joins the
// next directory fsync (step 2). It returns the file's size.
func (q *Queue) commitTrailer(data *os.File, dataLen int64, crc uint32, b []byte, oldSize int64) (int64, error) {
	buf := make([]byte, 0, len(b)+trailerLen)
	buf = appendTrailer(buf, dataLen, crc, b)
	size := dataLen + int64(len(buf))
	_, err := data.WriteAt(buf, dataLen)
	if err == nil && (oldSize < 0 || oldSize > size) {
		err = data.Truncate(size)
	}
	if err = errors.Join(err, syncClose(data)); err != nil {
		return 0, err
	}
	return size, q.commits.syncDir(q.opts.Dir)
}

// writeEnvelope writes b to path durably (temporary file, fsync, rename,
// directory fsync), together with the
// message data file if data is not nil, which it closes. On failure the
// .tmp file is removed; what else to remove is the caller's decision.
func (q *Queue) writeEnvelope(path string, b []byte, data *os.File) error {
	tmpPath := path + ".tmp"
	var dataErr error
	if data != nil {
		dataErr = syncClose(data)
	}
	tmp, err := openFile(tmpPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err == nil {
		_, err = tmp.Write(b)
		err = errors.Join(err, syncClose(tmp), dataErr)
	}
	if err == nil {
		err = os.Rename(tmpPath, path)
	}
	if err != nil {
		os.Remove(tmpPath)
		return err
	}
	return q.commits.syncDir(q.opts.Dir)
}

// spoolBufs recycles the buffers that copy message data into the spool;
// without ReadFrom, io.Copy from the SMTP reader allocates 32 KiB per
// message, most of the relay's garbage under load.
var spoolBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// ReadFrom writes everything from r to the message (io.ReaderFrom, used by
// io.Copy) through a pooled buffer.
func (in *Incoming) ReadFrom(r io.Reader) (int64, error) {
	buf := spoolBufs.Get().(*[]byte)
	defer spoolBufs.Put(buf)
	return io.CopyBuffer(struct{ io.Writer }{in}, r, *buf)
}

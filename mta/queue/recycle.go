package queue

import (
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// Spool files are recycled instead of unlinked and created again. A
// finished message's ID.msg is renamed to RANDOM.free, and the next
// NewMessage renames it to its own ID.msg and writes over it from the
// start, so a message costs no inode allocation or freeing and no block
// allocation or discard: measured under the bench rig, creating the file
// was the largest single cost of a message (ext4 searches past every inode
// freed in the last minutes for a new one) and unlinking it the next.
//
// Crash reasoning. Renaming ID.msg away removes the message exactly as an
// unlink did (a message exists when ID.msg does); if the rename is not yet
// durable at a crash, the message is delivered again (at least once). A
// recycled file still holds its previous message until it is overwritten,
// possibly with a valid trailer, but that trailer's envelope names the
// previous id, which can never be the file's new name (ids are unique), so
// recovery and the offline spool treat it as a file without a trailer: not
// committed, removed at start (readTrailer). Once the new message is
// written, its commit truncates any tail left from a longer predecessor
// before the fsync, so its trailer ends the file. .free files hold no mail
// that is still queued; recovery adopts them into the pool and Close
// removes the pool.

// The renames are syscall.Rename: os.Rename first stats the new name to
// refuse a directory there, one more path lookup per rename for names that
// are never directories.

// maxFree bounds the spool files kept for reuse.
const maxFree = 256

type freeFile struct {
	path string
	size int64 // -1: unknown
}

type filePool struct {
	mu   sync.Mutex
	free []freeFile
}

func (p *filePool) take() (freeFile, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) == 0 {
		return freeFile{}, false
	}
	f := p.free[len(p.free)-1]
	p.free = p.free[:len(p.free)-1]
	return f, true
}

// put adds f to the pool and reports whether there was room.
func (p *filePool) put(f freeFile) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) >= maxFree {
		return false
	}
	p.free = append(p.free, f)
	return true
}

func (p *filePool) full() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.free) >= maxFree
}

// drain removes every pooled file.
func (p *filePool) drain() {
	p.mu.Lock()
	free := p.free
	p.free = nil
	p.mu.Unlock()
	for _, f := range free {
		os.Remove(f.path)
	}
}

// retire takes the spool file at msgPath out of the queue: renamed into
// the pool, or unlinked when the pool is full or the rename fails. size is
// the file's size, -1 if unknown.
func (q *Queue) retire(msgPath string, size int64) error {
	if !q.pool.full() {
		free := filepath.Join(q.opts.Dir, newID()+".free")
		if err := syscall.Rename(msgPath, free); err == nil {
			if !q.pool.put(freeFile{free, size}) {
				os.Remove(free)
			}
			return nil
		}
	}
	return os.Remove(msgPath)
}

// reuse gives a pooled file the name path and opens it for writing from
// the start; ok is false when there is none to reuse.
func (q *Queue) reuse(path string) (f *os.File, size int64, ok bool) {
	for {
		ff, ok := q.pool.take()
		if !ok {
			return nil, 0, false
		}
		if err := syscall.Rename(ff.path, path); err != nil {
			os.Remove(ff.path)
			continue
		}
		f, err := openFile(path, os.O_RDWR, 0)
		if err != nil {
			os.Remove(path)
			continue
		}
		return f, ff.size, true
	}
}

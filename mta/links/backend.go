package links

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// backend keeps the named blobs of a Store: ID.data and ID.json of each
// object. A Store does everything else (tokens, metadata, expiry, limits).
type backend interface {
	// write creates name from r, all or nothing. size is r's length, or -1
	// when unknown.
	write(ctx context.Context, name string, r io.Reader, size int64) error
	// read returns name's bytes, or its first limit+1 bytes if it is longer.
	read(ctx context.Context, name string, limit int64) ([]byte, error)
	// open opens name for reading and seeking, without reading it whole.
	open(ctx context.Context, name string) (io.ReadSeekCloser, error)
	// remove deletes name; a missing name is not an error.
	remove(ctx context.Context, name string) error
	// list returns the names the backend holds, with their modification times.
	list(ctx context.Context) ([]entry, error)
}

// An entry is a name with its modification time.
type entry struct {
	name    string
	modTime time.Time
}

// Errors of read and open for a missing name match fs.ErrNotExist.

// dirBackend keeps each name as a file of a directory.
type dirBackend struct{ dir string }

func (b dirBackend) path(name string) string { return filepath.Join(b.dir, name) }

func (b dirBackend) write(_ context.Context, name string, r io.Reader, _ int64) error {
	_, err := writeFileSync(b.path(name), r)
	return err
}

func (b dirBackend) read(_ context.Context, name string, limit int64) ([]byte, error) {
	f, err := os.Open(b.path(name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit+1))
}

func (b dirBackend) open(_ context.Context, name string) (io.ReadSeekCloser, error) {
	return os.Open(b.path(name))
}

func (b dirBackend) remove(_ context.Context, name string) error {
	if err := os.Remove(b.path(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func (b dirBackend) list(context.Context) ([]entry, error) {
	ents, err := os.ReadDir(b.dir)
	if err != nil {
		return nil, err
	}
	out := make([]entry, 0, len(ents))
	for _, e := range ents {
		info, err := e.Info()
		if err != nil {
			continue // removed since the listing
		}
		out = append(out, entry{e.Name(), info.ModTime()})
	}
	return out, nil
}

// writeFileSync writes r to path through a temporary file, fsync and rename.
func writeFileSync(path string, r io.Reader) (int64, error) {
	tmp := fmt.Sprintf("%s.%s.tmp", path, NewToken()[:8])
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return n, err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return n, nil
}

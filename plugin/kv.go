package plugin

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/sluice-mail/sluice/sdk/abi"
)

// kvStore is one filter's persistent key-value namespace: a directory
// with one file per key, named by the key's SHA-256 so that no key can
// escape the directory. Writes go through a temporary file and rename.
type kvStore struct {
	dir   string
	mu    sync.Mutex // serialises writes and the key count
	count int
}

var errKVFull = errors.New("kv: too many keys")

func openKV(dir string) (*kvStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	s := &kvStore{dir: dir}
	for _, e := range ents {
		if filepath.Ext(e.Name()) == ".v" {
			s.count++
		}
	}
	return s, nil
}

func (s *kvStore) path(key []byte) string {
	sum := sha256.Sum256(key)
	return filepath.Join(s.dir, hex.EncodeToString(sum[:])+".v")
}

func (s *kvStore) get(key []byte) ([]byte, error) {
	b, err := os.ReadFile(s.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fs.ErrNotExist
	}
	return b, err
}

func (s *kvStore) put(key, val []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.path(key)
	_, statErr := os.Stat(p)
	isNew := errors.Is(statErr, fs.ErrNotExist)
	if isNew && s.count >= abi.MaxKVKeys {
		return errKVFull
	}
	tmp, err := os.CreateTemp(s.dir, "tmp-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(val)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("kv put: %w", err)
	}
	if isNew {
		s.count++
	}
	return nil
}

func (s *kvStore) delete(key []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := os.Remove(s.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return fs.ErrNotExist
	}
	if err == nil {
		s.count--
	}
	return err
}

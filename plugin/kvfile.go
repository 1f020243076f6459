package plugin

import (
	"fmt"

	"github.com/sluice-mail/sluice/sdk/abi"
)

// KV is one filter's key-value store opened from outside the relay, for
// tools that prepare a plugin's state offline (such as `sluice spam train`).
// It uses the layout the host uses (DATA_DIR/plugin-kv/<filter>/) and the
// same limits a plugin gets; a running relay sees its writes at the next
// kv_get (each write is an atomic rename).
type KV struct{ s *kvStore }

// OpenKV opens (creating it if needed) the store of filter under dataDir.
func OpenKV(dataDir, filter string) (*KV, error) {
	s, err := openKV(kvDir(dataDir, filter))
	if err != nil {
		return nil, err
	}
	return &KV{s: s}, nil
}

// Get returns the value of key; the error wraps fs.ErrNotExist when absent.
func (k *KV) Get(key string) ([]byte, error) { return k.s.get([]byte(key)) }

// Put stores val under key, within the limits of ABI.md section 4.
func (k *KV) Put(key string, val []byte) error {
	if len(key) == 0 {
		return fmt.Errorf("kv put: empty key")
	}
	if len(key) > abi.MaxKVKeyBytes || len(val) > abi.MaxKVValueBytes {
		return fmt.Errorf("kv put %q: key or value too large", key)
	}
	return k.s.put([]byte(key), val)
}

// Delete removes key; the error wraps fs.ErrNotExist when absent.
func (k *KV) Delete(key string) error { return k.s.delete([]byte(key)) }

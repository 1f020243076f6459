//go:build !wasip1

package sdk

// Outside the sandbox every host call fails with ErrNotInSandbox, so plugin
// logic can still be compiled and unit-tested with a plain `go test`.

func hostLog(level int32, msg string)               {}
func hostConfig() ([]byte, error)                   { return nil, ErrNotInSandbox }
func hostBodyRead(off int64, p []byte) (int, error) { return 0, ErrNotInSandbox }
func hostHeaderRead(off int64, p []byte) (int, error) {
	return 0, ErrNotInSandbox
}
func hostPartRead(path string, off int64, p []byte) (int, error) {
	return 0, ErrNotInSandbox
}
func hostKVGet(key string) ([]byte, error)   { return nil, ErrNotInSandbox }
func hostKVPut(key string, val []byte) error { return ErrNotInSandbox }
func hostKVDelete(key string) error          { return ErrNotInSandbox }
func hostDNS(req []byte) ([]byte, error)     { return nil, ErrNotInSandbox }
func hostHTTP(req []byte) ([]byte, error)    { return nil, ErrNotInSandbox }

//go:build !wasip1

package sdk

func hostFileRead(path string, off int64, p []byte) (int, error) { return 0, ErrNotInSandbox }
func hostSocketCall(req []byte, timeoutMs int32) ([]byte, error) { return nil, ErrNotInSandbox }

//go:build !wasip1

package sdk

func hostSignKeys() ([]byte, error)                     { return nil, ErrNotInSandbox }
func hostSign(name string, data []byte) ([]byte, error) { return nil, ErrNotInSandbox }

//go:build !wasip1

package sdk

func hostBlobPut(req, data []byte) ([]byte, error) { return nil, ErrNotInSandbox }

package plugin

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strings"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/sluice-mail/sluice/sdk/abi"
)

// fileSocketGrants are the "files" and "socket" capabilities of a filter:
// read-only access to files the operator lists (signature databases, key
// material) and one-shot exchanges with the one stream socket the operator
// names (clamd and similar daemons). Both are host functions; the WASI
// sandbox itself still has no files and no sockets.
type fileSocketGrants struct {
	files                 map[string]bool // nil unless granted
	socketNet, socketAddr string          // "" unless granted
}

func (g *fileSocketGrants) grant(name string, cfg FilterSpec) error {
	switch name {
	case "files":
		if len(cfg.Files) == 0 {
			return errors.New(`grant "files" needs files`)
		}
		g.files = map[string]bool{}
		for _, p := range cfg.Files {
			g.files[p] = true
		}
	case "socket":
		ep := cfg.SocketEndpoint
		switch {
		case ep == "":
			return errors.New(`grant "socket" needs socket_endpoint`)
		case strings.HasPrefix(ep, "unix:"):
			g.socketNet, g.socketAddr = "unix", strings.TrimPrefix(ep, "unix:")
		default:
			if _, _, err := net.SplitHostPort(ep); err != nil {
				return fmt.Errorf("socket_endpoint %q: %v", ep, err)
			}
			g.socketNet, g.socketAddr = "tcp", ep
		}
	default:
		return fmt.Errorf("unknown grant %q", name)
	}
	return nil
}

func hostFileRead(ctx context.Context, m api.Module, pathPtr, pathLen uint32, off uint64, buf, capacity uint32) int32 {
	st := enter(ctx)
	if st == nil {
		return abi.ErrUnavailable
	}
	if st.f.grants.files == nil {
		return abi.ErrDenied
	}
	if pathLen > abi.MaxFilePath {
		return abi.ErrInvalid
	}
	p, ok := m.Memory().Read(pathPtr, pathLen)
	if !ok {
		return abi.ErrInvalid
	}
	path := string(p)
	if !st.f.grants.files[path] {
		return abi.ErrDenied
	}
	file, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return abi.ErrNotFound
	} else if err != nil {
		st.f.log.Warn("plugin file_read failed", "path", path, "error", err)
		return abi.ErrFailed
	}
	defer file.Close()
	info, err := file.Stat()
	if err != nil || !info.Mode().IsRegular() {
		st.f.log.Warn("plugin file_read: not a regular file", "path", path)
		return abi.ErrFailed
	}
	return readRange(m, file, 0, info.Size(), off, buf, capacity)
}

func hostSocketCall(ctx context.Context, m api.Module, reqPtr, reqLen, timeoutMs, buf, capacity uint32) int32 {
	st := enter(ctx)
	if st == nil {
		return abi.ErrUnavailable
	}
	g := &st.f.grants
	if g.socketNet == "" {
		return abi.ErrDenied
	}
	if reqLen > abi.MaxSocketRequest {
		return abi.ErrTooLarge
	}
	// The request is written straight from guest memory: the guest does not
	// run while a host function does, so the view stays valid.
	req, ok := m.Memory().Read(reqPtr, reqLen)
	if !ok {
		return abi.ErrInvalid
	}
	// A guest whose buffer was too small repeats the identical call; it is
	// answered from the last response (the dns/http cache slot, under a key
	// no JSON request can equal).
	sum := sha256.Sum256(req)
	key := binary.BigEndian.AppendUint32(append([]byte("\x00socket"), sum[:]...), timeoutMs)
	if st.lastResp != nil && string(st.lastReq) == string(key) {
		return writeOut(m, buf, capacity, st.lastResp)
	}
	resp, code := st.f.callSocket(ctx, req, time.Duration(timeoutMs)*time.Millisecond)
	if code != 0 {
		return code
	}
	st.lastReq, st.lastResp = key, resp
	return writeOut(m, buf, capacity, resp)
}

// callSocket connects to the granted socket, writes req and reads until the
// peer closes the connection.
func (f *filter) callSocket(ctx context.Context, req []byte, timeout time.Duration) ([]byte, int32) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, f.grants.socketNet, f.grants.socketAddr)
	if err != nil {
		f.log.Debug("plugin socket call: dial failed", "error", err)
		return nil, abi.ErrFailed
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write(req); err != nil {
		f.log.Debug("plugin socket call: write failed", "error", err)
		return nil, abi.ErrFailed
	}
	resp, err := io.ReadAll(io.LimitReader(conn, abi.MaxSocketResponse+1))
	if err != nil {
		f.log.Debug("plugin socket call: read failed", "error", err)
		return nil, abi.ErrFailed
	}
	if len(resp) > abi.MaxSocketResponse {
		return nil, abi.ErrTooLarge
	}
	return resp, 0
}

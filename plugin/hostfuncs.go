package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"math"
	"net"
	"net/http"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/sluice-mail/sluice/sdk/abi"
)

// callState is what host functions may touch during one guest call. It
// travels in the call's context, so one set of host functions serves every
// instance and a call never sees another call's message.
type callState struct {
	f     *filter
	msg   *Message // data stage only
	parts []part
	// last dns/http answer, so a guest whose buffer was too small can ask
	// again without a second network round trip.
	lastReq, lastResp []byte
	dnsRefused        bool  // a lookup outside dns_zones was refused (and logged)
	blobBytes         int64 // stored by blob_put during this event, for blob_message_quota
}

type stateKey struct{}

func stateOf(ctx context.Context) *callState {
	st, _ := ctx.Value(stateKey{}).(*callState)
	return st
}

// errCallOver traps a guest that calls the host after its call's deadline.
var errCallOver = errors.New("host function called after the call's deadline")

// enter begins every host function: it returns the call's state, or traps
// the guest if the call is over. The guest's own checks come only every
// interrupt.Quantum loop rounds, and a loop of costly host calls (an
// RSA-4096 signature, a KV write) between two of them outran a 2 s
// timeout by 50 s; here the call ends within one host call of its deadline.
func enter(ctx context.Context) *callState {
	if ctx.Err() != nil {
		panic(errCallOver) // wazero returns it from the guest call as a trap
	}
	return stateOf(ctx)
}

const maxReadChunk = 1 << 20 // one body_read or part_read copies at most this much

// hostFuncNames lists ABI v1 imports, to refuse a module importing others.
var hostFuncNames = map[string]bool{
	"log": true, "config_read": true, "header_read": true, "body_read": true, "part_read": true,
	"kv_get": true, "kv_put": true, "kv_delete": true, "dns_lookup": true, "http_call": true,
	"file_read": true, "socket_call": true,
	"blob_put":  true,
	"sign_keys": true, "sign": true,
}

// instantiateHostModule defines the "sluice" import module in rt. Every
// function checks its pointers and returns an abi.Err* code instead of
// trapping on bad input.
func instantiateHostModule(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(abi.Module)
	b.NewFunctionBuilder().WithFunc(hostLog).Export("log")
	b.NewFunctionBuilder().WithFunc(hostConfigRead).Export("config_read")
	b.NewFunctionBuilder().WithFunc(hostHeaderRead).Export("header_read")
	b.NewFunctionBuilder().WithFunc(hostBodyRead).Export("body_read")
	b.NewFunctionBuilder().WithFunc(hostPartRead).Export("part_read")
	b.NewFunctionBuilder().WithFunc(hostKVGet).Export("kv_get")
	b.NewFunctionBuilder().WithFunc(hostKVPut).Export("kv_put")
	b.NewFunctionBuilder().WithFunc(hostKVDelete).Export("kv_delete")
	b.NewFunctionBuilder().WithFunc(hostDNSLookup).Export("dns_lookup")
	b.NewFunctionBuilder().WithFunc(hostHTTPCall).Export("http_call")
	b.NewFunctionBuilder().WithFunc(hostFileRead).Export("file_read")
	b.NewFunctionBuilder().WithFunc(hostSocketCall).Export("socket_call")
	b.NewFunctionBuilder().WithFunc(hostBlobPut).Export("blob_put")
	b.NewFunctionBuilder().WithFunc(hostSignKeys).Export("sign_keys")
	b.NewFunctionBuilder().WithFunc(hostSign).Export("sign")
	_, err := b.Instantiate(ctx)
	return err
}

// readGuest copies n bytes at ptr out of guest memory.
func readGuest(m api.Module, ptr, n uint32) ([]byte, bool) {
	b, ok := m.Memory().Read(ptr, n)
	if !ok {
		return nil, false
	}
	return bytes.Clone(b), true
}

// writeOut copies min(len(data), cap) bytes to buf and returns len(data):
// a guest whose buffer was too small learns the size it needs.
func writeOut(m api.Module, buf, capacity uint32, data []byte) int32 {
	if len(data) > math.MaxInt32 {
		return abi.ErrTooLarge
	}
	n := min(uint32(len(data)), capacity)
	if n > 0 && !m.Memory().Write(buf, data[:n]) {
		return abi.ErrInvalid
	}
	return int32(len(data))
}

func hostLog(ctx context.Context, m api.Module, level int32, ptr, n uint32) {
	st := enter(ctx)
	if st == nil {
		return
	}
	n = min(n, abi.MaxLogLineBytes+1)
	b, ok := m.Memory().Read(ptr, n)
	if !ok {
		return
	}
	st.f.logs.emit(level, "log", strings.TrimRight(string(b), "\r\n"))
}

func hostConfigRead(ctx context.Context, m api.Module, buf, capacity uint32) int32 {
	st := enter(ctx)
	if st == nil {
		return abi.ErrUnavailable
	}
	return writeOut(m, buf, capacity, st.f.cfg.ConfigJSON)
}

// readRange reads guest-requested bytes of [start, end) in ra straight
// into guest memory.
func readRange(m api.Module, ra io.ReaderAt, start, end int64, off uint64, buf, capacity uint32) int32 {
	if off > uint64(end-start) {
		return abi.ErrInvalid
	}
	n := min(int64(capacity), end-start-int64(off), maxReadChunk)
	if n == 0 {
		return 0
	}
	dst, ok := m.Memory().Read(buf, uint32(n))
	if !ok {
		return abi.ErrInvalid
	}
	got, err := ra.ReadAt(dst, start+int64(off))
	if err != nil && !(errors.Is(err, io.EOF) && got > 0) {
		return abi.ErrFailed
	}
	return int32(got)
}

// hostHeaderRead reads the message header as it arrived: every field with
// its own spacing and folding, through the blank line (for checks that need
// the exact bytes, such as DKIM's simple canonicalization).
func hostHeaderRead(ctx context.Context, m api.Module, off uint64, buf, capacity uint32) int32 {
	st := enter(ctx)
	if st == nil || st.msg == nil {
		return abi.ErrUnavailable
	}
	return readRange(m, st.msg.Body, 0, st.msg.BodyOffset, off, buf, capacity)
}

func hostBodyRead(ctx context.Context, m api.Module, off uint64, buf, capacity uint32) int32 {
	st := enter(ctx)
	if st == nil || st.msg == nil {
		return abi.ErrUnavailable
	}
	msg := st.msg
	return readRange(m, msg.Body, msg.BodyOffset, msg.BodyOffset+msg.BodySize, off, buf, capacity)
}

func hostPartRead(ctx context.Context, m api.Module, pathPtr, pathLen uint32, off uint64, buf, capacity uint32) int32 {
	st := enter(ctx)
	if st == nil || st.msg == nil {
		return abi.ErrUnavailable
	}
	if pathLen > 64 {
		return abi.ErrInvalid
	}
	path, ok := m.Memory().Read(pathPtr, pathLen)
	if !ok {
		return abi.ErrInvalid
	}
	for _, p := range st.parts {
		if p.Path == string(path) {
			return readRange(m, st.msg.Body, p.bodyStart, p.end, off, buf, capacity)
		}
	}
	return abi.ErrNotFound
}

// kvKey reads a kv key: 1 to abi.MaxKVKeyBytes arbitrary bytes, compared
// exactly (no case folding, no normalisation). An empty key is invalid,
// not too large.
func kvKey(m api.Module, ptr, n uint32) ([]byte, int32) {
	if n == 0 {
		return nil, abi.ErrInvalid
	}
	if n > abi.MaxKVKeyBytes {
		return nil, abi.ErrTooLarge
	}
	k, ok := readGuest(m, ptr, n)
	if !ok {
		return nil, abi.ErrInvalid
	}
	return k, 0
}

func hostKVGet(ctx context.Context, m api.Module, kp, kn, buf, capacity uint32) int32 {
	st := enter(ctx)
	if st == nil || st.f.kv == nil {
		return abi.ErrUnavailable
	}
	k, code := kvKey(m, kp, kn)
	if code != 0 {
		return code
	}
	v, err := st.f.kv.get(k)
	if errors.Is(err, fs.ErrNotExist) {
		return abi.ErrNotFound
	} else if err != nil {
		st.f.log.Error("kv get failed", "error", err)
		return abi.ErrFailed
	}
	return writeOut(m, buf, capacity, v)
}

func hostKVPut(ctx context.Context, m api.Module, kp, kn, vp, vn uint32) int32 {
	st := enter(ctx)
	if st == nil || st.f.kv == nil {
		return abi.ErrUnavailable
	}
	k, code := kvKey(m, kp, kn)
	if code != 0 {
		return code
	}
	if vn > abi.MaxKVValueBytes {
		return abi.ErrTooLarge
	}
	v, ok := readGuest(m, vp, vn)
	if !ok {
		return abi.ErrInvalid
	}
	if err := st.f.kv.put(k, v); errors.Is(err, errKVFull) {
		return abi.ErrTooLarge
	} else if err != nil {
		st.f.log.Error("kv put failed", "error", err)
		return abi.ErrFailed
	}
	return 0
}

func hostKVDelete(ctx context.Context, m api.Module, kp, kn uint32) int32 {
	st := enter(ctx)
	if st == nil || st.f.kv == nil {
		return abi.ErrUnavailable
	}
	k, code := kvKey(m, kp, kn)
	if code != 0 {
		return code
	}
	if err := st.f.kv.delete(k); errors.Is(err, fs.ErrNotExist) {
		return abi.ErrNotFound
	} else if err != nil {
		return abi.ErrFailed
	}
	return 0
}

// cached runs a granted network call unless the same request was just answered.
func cached(ctx context.Context, m api.Module, st *callState, rp, rn, buf, capacity uint32, do func(ctx context.Context, req []byte) ([]byte, int32)) int32 {
	if rn > 64<<10 {
		return abi.ErrTooLarge
	}
	req, ok := readGuest(m, rp, rn)
	if !ok {
		return abi.ErrInvalid
	}
	if st.lastResp == nil || !bytes.Equal(req, st.lastReq) {
		resp, code := do(ctx, req)
		if code != 0 {
			return code
		}
		st.lastReq, st.lastResp = req, resp
	}
	return writeOut(m, buf, capacity, st.lastResp)
}

func hostDNSLookup(ctx context.Context, m api.Module, rp, rn, buf, capacity uint32) int32 {
	st := enter(ctx)
	if st == nil {
		return abi.ErrUnavailable
	}
	if !st.f.grantDNS {
		return abi.ErrDenied
	}
	return cached(ctx, m, st, rp, rn, buf, capacity, st.f.lookupDNS)
}

func hostHTTPCall(ctx context.Context, m api.Module, rp, rn, buf, capacity uint32) int32 {
	st := enter(ctx)
	if st == nil {
		return abi.ErrUnavailable
	}
	if !st.f.grantHTTP {
		return abi.ErrDenied
	}
	return cached(ctx, m, st, rp, rn, buf, capacity, st.f.callHTTP)
}

func (f *filter) lookupDNS(ctx context.Context, raw []byte) ([]byte, int32) {
	var req abi.DNSRequest
	if json.Unmarshal(raw, &req) != nil || req.Name == "" || len(req.Name) > 255 {
		return nil, abi.ErrInvalid
	}
	if len(f.dnsZones) > 0 {
		// Only names in the zones leave the host, asked as checked: A-labels,
		// fully qualified (no search domain appended).
		qname, ok := dnsZoneName(req.Type, req.Name)
		if !ok {
			return nil, abi.ErrInvalid
		}
		if !inZones(qname, f.dnsZones) {
			if st := stateOf(ctx); st != nil && !st.dnsRefused {
				st.dnsRefused = true
				f.log.Warn("plugin dns lookup refused: name outside dns_zones", "type", req.Type, "name", qname)
			}
			return nil, abi.ErrDenied
		}
		if !strings.EqualFold(req.Type, "PTR") {
			req.Name = qname + "."
		}
	}
	r := f.resolver
	var recs []string
	var err error
	switch strings.ToUpper(req.Type) {
	case "A", "AAAA":
		network := "ip4"
		if strings.EqualFold(req.Type, "AAAA") {
			network = "ip6"
		}
		var ips []net.IP
		ips, err = r.LookupIP(ctx, network, req.Name)
		for _, ip := range ips {
			recs = append(recs, ip.String())
		}
	case "TXT":
		recs, err = r.LookupTXT(ctx, req.Name)
	case "MX":
		var mxs []*net.MX
		mxs, err = r.LookupMX(ctx, req.Name)
		for _, mx := range mxs {
			recs = append(recs, strings.TrimSuffix(mx.Host, ".")+" "+itoa(int(mx.Pref)))
		}
	case "PTR":
		recs, err = r.LookupAddr(ctx, req.Name)
	default:
		return nil, abi.ErrInvalid
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return nil, abi.ErrNotFound
	} else if err != nil {
		f.log.Debug("plugin dns lookup failed", "type", req.Type, "name", req.Name, "error", err)
		return nil, abi.ErrFailed
	}
	out, _ := json.Marshal(abi.DNSResponse{Records: recs})
	return out, 0
}

func (f *filter) callHTTP(ctx context.Context, raw []byte) ([]byte, int32) {
	var req abi.HTTPRequest
	if json.Unmarshal(raw, &req) != nil || (req.Method != http.MethodGet && req.Method != http.MethodPost) {
		return nil, abi.ErrInvalid
	}
	if len(req.Body) > abi.MaxHTTPBody {
		return nil, abi.ErrTooLarge
	}
	hr, err := http.NewRequestWithContext(ctx, req.Method, f.cfg.HTTPEndpoint, bytes.NewReader(req.Body))
	if err != nil {
		return nil, abi.ErrFailed
	}
	if req.ContentType != "" {
		hr.Header.Set("Content-Type", req.ContentType)
	}
	hr.Header.Set("User-Agent", "sluice-plugin/"+f.name)
	resp, err := f.host.httpClient.Do(hr)
	if err != nil {
		f.log.Debug("plugin http call failed", "error", err)
		return nil, abi.ErrFailed
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, abi.MaxHTTPBody+1))
	if err != nil {
		return nil, abi.ErrFailed
	}
	if len(body) > abi.MaxHTTPBody {
		return nil, abi.ErrTooLarge
	}
	out, _ := json.Marshal(abi.HTTPResponse{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: body})
	return out, 0
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// Command virus is sluice's built-in virus filter, a Wasm plugin like any
// other: it scans every decoded MIME part and archive member of a message
// against ClamAV signatures (built-in EICAR plus the operator's .hdb, .hsb
// and .ndb files, read through the "files" grant), optionally asks a clamd
// through the "socket" grant, applies an attachment policy by content and
// name, and rejects, quarantines or strips per its config.
// See README.md beside this file.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o virus.wasm ./plugins/virus
package main

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sluice-mail/sluice/plugins/internal/pluginconf"
	"github.com/sluice-mail/sluice/plugins/virus/engine"
	"github.com/sluice-mail/sluice/sdk"
)

func main() {}

func init() {
	sdk.Handle(sdk.Handlers{Data: data})
	conf = pluginconf.AtInit("virus", parseConfig)
}

// conf is the configuration, parsed in init: a bad one refuses to load,
// so check-config and a reload report it.
var conf *Config

// maxSigFile bounds one signature file read into the instance.
const maxSigFile = 256 << 20

// state is this instance's scanner; instances are reused, so the
// signatures are loaded once and checked for changes every ReloadEvery.
var state struct {
	scanner *engine.Scanner
	sum     [32]byte
	checked time.Time
}

// load returns the configuration and the scanner for the current signature
// files.
func load() (*Config, *engine.Scanner, error) {
	cfg := conf
	if cfg == nil { // outside the sandbox only: AtInit refuses a bad config
		return nil, nil, errors.New("no configuration")
	}
	if state.scanner != nil && time.Since(state.checked) < time.Duration(cfg.ReloadEvery) {
		return cfg, state.scanner, nil
	}
	h := sha256.New()
	files := make([][]byte, len(cfg.Signatures))
	for i, p := range cfg.Signatures {
		b, err := sdk.ReadFile(p, maxSigFile)
		if err != nil {
			return nil, nil, fmt.Errorf("signatures %s: %v", p, err)
		}
		files[i] = b
		fmt.Fprintf(h, "%d:%s:%d\n", i, p, len(b))
		h.Write(b)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	if state.scanner != nil && sum == state.sum {
		state.checked = time.Now()
		return cfg, state.scanner, nil
	}
	db := engine.NewDB()
	if cfg.Builtin == nil || *cfg.Builtin {
		db = engine.NewBuiltinDB()
	}
	for i, p := range cfg.Signatures {
		if err := db.Load(p, files[i]); err != nil {
			return nil, nil, err
		}
	}
	for _, s := range db.Skipped {
		sdk.Log(sdk.LevelWarn, "signature skipped: "+s)
	}
	sdk.Logf("loaded %d signatures (%d skipped) from %d files", db.Count, len(db.Skipped), len(cfg.Signatures))
	sc := &engine.Scanner{DB: db, Limits: cfg.limits(), Names: engine.NewNamePolicy(cfg.Attachments.Extensions)}
	state.scanner, state.sum, state.checked = sc, sum, time.Now()
	return cfg, sc, nil
}

func data(e *sdk.DataEvent) sdk.Result {
	cfg, sc, err := load()
	if err != nil {
		sdk.Log(sdk.LevelError, "virus filter not ready: "+err.Error())
		return sdk.Tempfail(451, "4.3.0", "Virus scanner unavailable, try again later")
	}
	msg, err := readMessage(e)
	if err != nil {
		sdk.Log(sdk.LevelError, "reading the message: "+err.Error())
		return sdk.Tempfail(451, "4.3.0", "Virus scanner unavailable, try again later")
	}
	rep := &engine.Report{}
	if cfg.Clamd.Mode == "only" {
		// clamd does the signatures; the engine still walks the message for
		// the attachment policy and limits.
		policyOnly := *sc
		policyOnly.DB = nil
		rep = policyOnly.ScanMessage(msg)
	} else {
		rep = sc.ScanMessage(msg)
	}
	var cl clamdResult
	if cfg.Clamd.Mode != "off" && !rep.Has(engine.KindVirus) {
		cl = callClamd(msg, time.Duration(cfg.Clamd.Timeout))
		if cl.Err != nil {
			sdk.Log(sdk.LevelWarn, cl.Err.Error())
		}
	}
	for _, f := range rep.Findings {
		sdk.Log(sdk.LevelInfo, f.String())
	}
	if cl.Virus != "" {
		sdk.Log(sdk.LevelInfo, "clamd: "+cl.Virus)
	}
	return verdict(cfg, rep, cl, e.Parts)
}

// readMessage rebuilds the message: the header as the event lists it,
// then the body pulled from the host.
func readMessage(e *sdk.DataEvent) ([]byte, error) {
	var b strings.Builder
	for _, f := range e.Header {
		b.WriteString(f.Name + ": " + f.Value + "\r\n")
	}
	b.WriteString("\r\n")
	msg := make([]byte, 0, b.Len()+int(e.BodySize))
	msg = append(msg, b.String()...)
	body := e.Body()
	buf := make([]byte, 1<<20)
	for {
		n, err := body.Read(buf)
		msg = append(msg, buf[:n]...)
		if err == io.EOF {
			return msg, nil
		}
		if err != nil {
			return nil, err
		}
		if int64(len(msg)) > int64(b.Len())+e.BodySize {
			return nil, fmt.Errorf("body longer than its announced %d bytes", e.BodySize)
		}
	}
}

func callClamd(msg []byte, timeout time.Duration) clamdResult {
	resp, err := sdk.SocketCall(instreamRequest(msg), timeout)
	if err != nil {
		return clamdResult{Ran: true, Err: fmt.Errorf("clamd: %v", err)}
	}
	name, err := parseClamdReply(resp)
	return clamdResult{Ran: true, Virus: name, Err: err}
}

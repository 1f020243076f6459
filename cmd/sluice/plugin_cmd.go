package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/sluice-mail/sluice/plugin"
	"github.com/sluice-mail/sluice/sdk/abi"
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// pluginTestResult is what "sluice plugin test" prints.
type pluginTestResult struct {
	Stage   string        `json:"stage"`
	Verdict pluginVerdict `json:"verdict"`
	Changes *abi.Changes  `json:"changes,omitempty"` // as a result names them (ABI.md 3.3)
}

type pluginVerdict struct {
	Action   string `json:"action"`
	Code     int    `json:"code,omitempty"`
	Enhanced string `json:"enhanced,omitempty"`
	Text     string `json:"text,omitempty"`
	Reason   string `json:"reason,omitempty"` // set when the plugin failed and on_error applied
}

// Exit codes of `sluice plugin test` beyond 0 (the plugin let the message
// on), 1 (it failed, or could not be loaded) and 2 (bad usage): a script
// can tell a refusal from a pass without parsing the JSON.
const (
	exitPluginRejected   = 3
	exitPluginTempfailed = 4
)

// pluginTestCommand runs one plugin offline on one stage and prints the
// verdict and changes as JSON, changes under the names a result uses. It
// exits 0 when the plugin answered continue, accept, discard or quarantine,
// 3 on reject, 4 on tempfail, 1 when it failed (the verdict then carries
// the on_error reason) or could not be loaded, 2 on bad usage.
//
//	sluice plugin test FILE.wasm -stage data -msg FILE.eml [-from ADDR] [-rcpt ADDR]... [-config JSON|@FILE]
//	                   [-grant G]... [-http-endpoint URL] [-signing-key NAME=FILE]...
func pluginTestCommand(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("sluice plugin test")
	fs.SetOutput(stderr)
	stage := fs.String("stage", "data", "stage to run: connect, helo, auth, mail, rcpt, data, delivered")
	msgFile := fs.String("msg", "", "message file (RFC 5322) for the data stage")
	from := fs.String("from", "sender@example.org", "envelope sender (empty for <>)")
	var rcpts, grants stringList
	fs.Var(&rcpts, "rcpt", "envelope recipient (repeatable; the last one is the RCPT of the rcpt stage)")
	var signingKeys stringList
	fs.Var(&grants, "grant", "capability to grant: "+strings.Join(plugin.Grants, ", ")+
		" (repeatable; http needs -http-endpoint, sign -signing-key; files and socket need settings this command lacks; blob_put answers -4 here)")
	fs.Var(&signingKeys, "signing-key", "NAME=FILE: a PEM private key for the sign grant, as in signing_keys (repeatable)")
	conf := fs.String("config", "", "filter config as JSON, or @FILE")
	helo := fs.String("helo", "client.example", "HELO/EHLO name")
	ip := fs.String("ip", "192.0.2.1", "client IP address")
	user := fs.String("user", "", "authenticated user (auth stage: the user tried)")
	timeout := fs.Duration("timeout", plugin.DefaultTimeout, "per-call timeout")
	memory := fs.Int64("memory", plugin.DefaultMemoryBytes, "memory limit in bytes")
	endpoint := fs.String("http-endpoint", "", "URL for the http grant")
	out := fs.String("out", "", "write the rewritten message to this file")

	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sluice plugin test FILE.wasm -stage STAGE [-msg FILE.eml] [flags]")
		fs.PrintDefaults()
		fmt.Fprintln(stderr, pluginTestExit)
	}
	file, ok := pluginFileArg(fs, args, "usage: sluice plugin test FILE.wasm -stage STAGE -msg FILE.eml [-from ADDR] [-rcpt ADDR]... [-config JSON|@FILE]", stderr)
	if !ok {
		return 2
	}
	cfgJSON, ok := pluginConfigFlag("sluice plugin test", *conf, stderr)
	if !ok {
		return 2
	}
	addr, err := netip.ParseAddr(*ip)
	if err != nil {
		fmt.Fprintf(stderr, "sluice plugin test: -ip: %v\n", err)
		return 2
	}
	var msg []byte
	if *stage == "data" {
		if *msgFile == "" {
			fmt.Fprintln(stderr, "sluice plugin test: the data stage needs -msg FILE.eml")
			return 2
		}
		if msg, err = os.ReadFile(*msgFile); err != nil {
			fmt.Fprintf(stderr, "sluice plugin test: %v\n", err)
			return 2
		}
	}

	var keys []plugin.SigningKey
	for _, kv := range signingKeys {
		name, path, ok := strings.Cut(kv, "=")
		if !ok || name == "" || path == "" {
			fmt.Fprintf(stderr, "sluice plugin test: -signing-key %q: want NAME=FILE\n", kv)
			return 2
		}
		keys = append(keys, plugin.SigningKey{Name: name, Path: path})
	}

	dataDir, err := os.MkdirTemp("", "sluice-plugin-test-")
	if err != nil {
		fmt.Fprintf(stderr, "sluice plugin test: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dataDir)
	ctx := context.Background()
	name := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	host, err := plugin.NewHost(ctx, []plugin.FilterSpec{{
		Name: name, Wasm: file, Stages: []string{*stage}, Timeout: *timeout, MemoryBytes: *memory,
		ConfigJSON: cfgJSON, Grants: grants, HTTPEndpoint: *endpoint, SigningKeys: keys,
	}}, plugin.HostOptions{DataDir: dataDir, CacheDir: plugin.UserCacheDir(), Logger: hclog.New(&hclog.LoggerOptions{Name: "plugin", Output: stderr})})
	if err != nil {
		fmt.Fprintf(stderr, "sluice plugin test: %v\n", err)
		return 1
	}
	defer host.Close(ctx)
	chain, err := host.Chain([]string{name})
	if err != nil {
		fmt.Fprintf(stderr, "sluice plugin test: %v\n", err)
		return 1
	}

	sess := &plugin.Session{ID: "test", ClientIP: addr, ClientPort: 25000, Listener: "test", ListenerKind: "smtp",
		Helo: *helo, HeloExtended: true, AuthUser: *user}
	txn := &plugin.Txn{Session: sess, QueueID: "test", From: *from}
	for _, r := range rcpts {
		txn.Recipients = append(txn.Recipients, plugin.Recipient{Addr: r})
	}
	res := pluginTestResult{Stage: *stage}
	var v plugin.Verdict
	var changes *plugin.Changes
	switch *stage {
	case "connect":
		v = chain.Connect(ctx, sess)
	case "helo":
		v = chain.Helo(ctx, sess)
	case "auth":
		v = chain.Auth(ctx, sess, "PLAIN", *user, true)
	case "mail":
		txn.Recipients = nil
		v = chain.Mail(ctx, txn)
	case "rcpt":
		if len(rcpts) == 0 {
			fmt.Fprintln(stderr, "sluice plugin test: the rcpt stage needs -rcpt ADDR")
			return 2
		}
		last := txn.Recipients[len(txn.Recipients)-1]
		txn.Recipients = txn.Recipients[:len(txn.Recipients)-1]
		v = chain.Rcpt(ctx, txn, last)
	case "data":
		m, err := plugin.ReadMessage(bytes.NewReader(msg), int64(len(msg)))
		if err != nil {
			fmt.Fprintf(stderr, "sluice plugin test: %s: %v\n", *msgFile, err)
			return 2
		}
		v, changes = chain.Data(ctx, txn, m)
		res.Changes = changes.ABI()
	case "delivered":
		var outcomes []plugin.Outcome
		for _, r := range rcpts {
			outcomes = append(outcomes, plugin.Outcome{Rcpt: r, Code: 250, Text: "OK", Delivered: true})
		}
		chain.Delivered(ctx, txn, outcomes)
		v = plugin.Verdict{Action: plugin.Continue}
	}
	res.Verdict = pluginVerdict{Action: v.Action.String(), Code: v.Code, Enhanced: v.Enhanced, Text: v.Text, Reason: v.Reason}
	if *out != "" && *stage == "data" {
		var buf bytes.Buffer
		if err := plugin.Apply(changes, bytes.NewReader(msg), &buf); err != nil {
			fmt.Fprintf(stderr, "sluice plugin test: apply: %v\n", err)
			return 1
		}
		if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
			fmt.Fprintf(stderr, "sluice plugin test: %v\n", err)
			return 1
		}
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(res); err != nil {
		fmt.Fprintf(stderr, "sluice plugin test: %v\n", errors.Unwrap(err))
		return 1
	}
	switch {
	case v.Reason != "":
		return 1
	case v.Action == plugin.Reject:
		return exitPluginRejected
	case v.Action == plugin.Tempfail:
		return exitPluginTempfailed
	}
	return 0
}

// pluginTestExit ends `sluice plugin test -h` and the manual pages.
const pluginTestExit = `Exit status of plugin test: 0 the plugin answered continue, accept, discard or quarantine;
3 reject; 4 tempfail; 1 the plugin failed (the verdict is its on_error, with the reason)
or could not be loaded; 2 bad usage.`

// Command access is sluice's built-in access-control filter: allow and deny
// lists of client IPs and networks, HELO names, senders, recipients and
// authenticated users; DNS blocklists with weights; greylisting at RCPT;
// per-IP and per-sender rate limits. State (greylist triplets, rate
// counters) lives in the host's key-value store. See README.md.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o access.wasm ./plugins/access
package main

import (
	"errors"
	"time"

	"github.com/sluice-mail/sluice/plugins/internal/pluginconf"
	"github.com/sluice-mail/sluice/sdk"
)

func main() {}

func init() {
	sdk.Handle(sdk.Handlers{
		Connect: func(ev *sdk.ConnectEvent) sdk.Result {
			return withPolicy(func(p *policy) sdk.Result { return p.connect(hostEnv, ev.Session) })
		},
		Helo: func(ev *sdk.HeloEvent) sdk.Result {
			return withPolicy(func(p *policy) sdk.Result { return p.helo(ev.Session) })
		},
		Auth: func(ev *sdk.AuthEvent) sdk.Result {
			return withPolicy(func(p *policy) sdk.Result { return p.auth(ev.User, ev.OK) })
		},
		Mail: func(ev *sdk.MailEvent) sdk.Result {
			return withPolicy(func(p *policy) sdk.Result { return p.mail(hostEnv, ev.Session, ev.Txn.From) })
		},
		Rcpt: func(ev *sdk.RcptEvent) sdk.Result {
			return withPolicy(func(p *policy) sdk.Result { return p.rcpt(hostEnv, ev.Session, ev.Txn.From, ev.Rcpt.Addr) })
		},
	})
	policyConf = pluginconf.AtInit("access", parsePolicy)
}

// policy is read once, in init: a configuration the filter cannot parse
// refuses to load (so `sluice check-config` and a reload report it), and a
// broken policy never lets everything through.
var policyConf *policy

func withPolicy(fn func(*policy) sdk.Result) sdk.Result {
	if policyConf == nil { // outside the sandbox only: AtInit refuses a bad config
		return sdk.Tempfail(451, "4.3.5", "Access policy unavailable, try again later")
	}
	return fn(policyConf)
}

// hostKV adapts the SDK's store to KV.
type hostKV struct{}

func (hostKV) Get(key string) ([]byte, error) {
	b, err := sdk.KVGet(key)
	if errors.Is(err, sdk.ErrNotFound) {
		return nil, errNotFound
	}
	return b, err
}

func (hostKV) Put(key string, val []byte) error { return sdk.KVPut(key, val) }

var hostEnv = env{
	kv: hostKV{},
	lookup: func(name string) ([]string, error) {
		recs, err := sdk.LookupDNS("A", name)
		if errors.Is(err, sdk.ErrNotFound) {
			return nil, errNotFound
		}
		return recs, err
	},
	now: time.Now,
	log: sdk.Log,
}

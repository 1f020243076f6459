// Command spf-dmarc is sluice's SPF (RFC 7208) and DMARC (RFC 7489)
// filter: at the data stage it checks the client's address against the
// SPF policy of MAIL FROM (or HELO), verifies DKIM signatures, evaluates
// the From domain's DMARC policy with identifier alignment, p=, sp= and
// pct=, records everything in one Authentication-Results header field
// (RFC 8601), removes those that arrive claiming this relay's authserv-id,
// and rejects or quarantines as the policy (or the operator's per-domain
// override) says.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o spf-dmarc.wasm ./plugins/spf-dmarc
// It needs the "dns" grant.
// Its configuration is in README.md beside this file.
package main

import (
	"errors"
	"math/rand/v2"
	"net"

	"github.com/sluice-mail/sluice/plugins/internal/authmail"
	"github.com/sluice-mail/sluice/plugins/internal/hdrtext"
	"github.com/sluice-mail/sluice/plugins/internal/pluginconf"
	"github.com/sluice-mail/sluice/sdk"
)

func main() {}

func init() {
	sdk.Handle(sdk.Handlers{Data: data})
	conf = pluginconf.AtInit("spf-dmarc", parseConfig)
}

// conf is read once, in init: a bad config (a missing authserv_id above
// all) refuses to load, so check-config and a reload report it.
var conf *settings

func load() (*settings, error) {
	if conf == nil { // outside the sandbox only: AtInit refuses a bad config
		return nil, errors.New("spf-dmarc: no configuration")
	}
	return conf, nil
}

func data(e *sdk.DataEvent) sdk.Result {
	s, err := load()
	if err != nil {
		panic(err) // the operator's on_error decides
	}
	if e.Session.AuthUser != "" || e.Session.Trusted {
		// Our own users' mail is signed, not judged; forged results still go.
		return changes(outcome{removeAR: authmail.ForgedAuthResults(e.Header, s.authservID)}, sdk.Continue())
	}
	raw, err := e.RawHeader() // DKIM's simple canonicalization needs the exact bytes
	if err != nil {
		panic(err)
	}
	in := input{clientIP: net.ParseIP(e.Session.ClientIP), helo: e.Session.Helo, from: e.Txn.From,
		smtputf8: hdrtext.SMTPUTF8(e.Txn.MailParams), header: e.Header, raw: raw, body: e.Body()}
	o := check(s, in, hostResolver, func(pct int) bool { return rand.IntN(100) < pct })
	for _, d := range o.dropped {
		sdk.Log(sdk.LevelWarn, "Authentication-Results: "+d)
	}
	switch o.action {
	case "reject":
		return sdk.Reject(550, "5.7.1", "Rejected by the DMARC policy of the sender's domain")
	case "quarantine":
		return changes(o, sdk.Quarantine("DMARC policy quarantine"))
	}
	return changes(o, sdk.Continue())
}

func changes(o outcome, r sdk.Result) sdk.Result {
	ch := new(sdk.Changes)
	authmail.ApplyAuthResults(ch, o.removeAR, o.authResults)
	if len(o.removeAR) == 0 && o.authResults == "" {
		return r
	}
	return r.With(ch)
}

// Command dkim is sluice's DKIM filter (RFC 6376): it signs mail from
// authenticated users and trusted networks with the key of the From
// domain, and verifies the signatures of other mail, recording the result
// in an Authentication-Results header field (RFC 8601).
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o dkim.wasm ./plugins/dkim
// It needs the "dns" grant to verify, and signs with the keys of the "sign"
// grant (signing_keys named "domain/selector", held and used by the host)
// or of its config. Its configuration is in README.md beside this file.
package main

import (
	"errors"
	"io"

	"github.com/sluice-mail/sluice/plugins/internal/authmail"
	"github.com/sluice-mail/sluice/plugins/internal/hdrtext"
	"github.com/sluice-mail/sluice/plugins/internal/pluginconf"
	"github.com/sluice-mail/sluice/sdk"
)

func main() {}

func init() {
	sdk.Handle(sdk.Handlers{Data: data})
	conf = pluginconf.AtInit("dkim", parseConfig)
}

// conf is the configuration, parsed in init (a bad one refuses to load, so
// check-config and a reload report it); the host's keys join it at the
// first message (hostKeysIn).
var (
	conf       *settings
	hostKeysIn bool
)

func load() (*settings, error) {
	if conf == nil { // outside the sandbox only: AtInit refuses a bad config
		return nil, errors.New("dkim: no configuration")
	}
	if !hostKeysIn {
		// Keys the host holds (the "sign" grant) sign natively; they win
		// over keys in the config for the same domain.
		host, err := hostKeys(sdk.SigningKeys, sdk.Sign)
		if err != nil {
			return nil, err
		}
		conf.withHostKeys(host)
		hostKeysIn = true
	}
	return conf, nil
}

func data(e *sdk.DataEvent) sdk.Result {
	s, err := load()
	if err != nil {
		// A broken key or config must not let mail through unsigned
		// silently: fail, and let the operator's on_error decide.
		panic(err)
	}
	var raw []byte
	if s.verifies(e.Session) {
		// Verification needs the exact header (simple canonicalization).
		if raw, err = e.RawHeader(); err != nil {
			panic(err)
		}
	}
	o, err := decide(s, e.Session, hdrtext.SMTPUTF8(e.Txn.MailParams), e.Header, raw, e.Body(), lookupTXT)
	if err != nil {
		panic(err)
	}
	for _, d := range o.dropped {
		sdk.Log(sdk.LevelWarn, "Authentication-Results: "+d)
	}
	return o.result()
}

// outcome is what the filter does to one message.
type outcome struct {
	removeAR    []int  // ranks of forged Authentication-Results fields
	signature   string // DKIM-Signature value to prepend, or ""
	authResults string // Authentication-Results value to prepend, or ""
	// dropped says what the Authentication-Results leave out, a value the
	// host would refuse in this message (authmail.FormatAuthResults).
	dropped []string
}

func (o outcome) result() sdk.Result {
	if len(o.removeAR) == 0 && o.signature == "" && o.authResults == "" {
		return sdk.Continue()
	}
	ch := new(sdk.Changes)
	authmail.ApplyAuthResults(ch, o.removeAR, o.authResults)
	if o.signature != "" {
		ch.PrependHeader("DKIM-Signature", o.signature)
	}
	return sdk.Continue().With(ch)
}

// ours reports whether the session is our own users' (authenticated or
// from a trusted network): their mail is signed, not verified.
func ours(sess sdk.Session) bool { return sess.AuthUser != "" || sess.Trusted }

// verifies reports whether the filter verifies the signatures of mail from
// the session (and so writes Authentication-Results).
func (s *settings) verifies(sess sdk.Session) bool {
	return !ours(sess) && s.verify && s.authservID != ""
}

// decide is the filter's logic, free of host calls except through body
// and lookup, so that it can be tested outside the sandbox. smtputf8 says
// whether the message was sent with SMTPUTF8, so may carry UTF-8 in its
// header. raw is the header as it arrived, for verifying (nil: rebuilt
// from h).
func decide(s *settings, sess sdk.Session, smtputf8 bool, h sdk.Header, raw []byte, body io.Reader, lookup func(string) ([]string, error)) (outcome, error) {
	var o outcome
	if s.authservID != "" {
		o.removeAR = authmail.ForgedAuthResults(h, s.authservID)
	}
	if ours(sess) {
		// Our own users' mail: sign it, never judge it.
		if k, ok := s.keyFor(authmail.FromDomain(h)); ok {
			sig, err := sign(k, s.headers, h, body)
			if err != nil {
				return o, err
			}
			o.signature = sig
		}
	} else if s.verifies(sess) {
		o.authResults, o.dropped = authmail.FormatAuthResults(s.authservID, verifyMessage(h, raw, body, lookup, s.maxSignatures), smtputf8)
	}
	return o, nil
}

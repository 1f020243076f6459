package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"

	"github.com/sluice-mail/sluice/plugins/internal/authmail"
	"github.com/sluice-mail/sluice/sdk"
)

// config is the filter's `config = { ... }` block.
type config struct {
	// AuthservID names this relay in Authentication-Results (required).
	AuthservID string `json:"authserv_id"`
	// Domains maps a From domain to the action taken when its DMARC check
	// fails and its policy applies: "reject", "quarantine" or "tag" (only
	// record the result). Without an entry the published p= decides.
	Domains map[string]string `json:"domains"`
	// Enforce applies DMARC policies at all (default true); false records
	// results only, for a trial period.
	Enforce *bool `json:"enforce"`
	// MaxSignatures bounds the DKIM signatures checked per message (default 5).
	MaxSignatures int `json:"max_signatures"`
}

type settings struct {
	authservID    string
	domains       map[string]string
	enforce       bool
	maxSignatures int
}

func parseConfig(raw []byte) (*settings, error) {
	var c config
	if len(raw) > 0 {
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	id, ok := authmail.ASCIIDomain(c.AuthservID) // A-labels: it heads every Authentication-Results
	if !ok || id == "" || strings.ContainsAny(c.AuthservID, " \t\r\n;()\"") {
		return nil, fmt.Errorf("config: authserv_id %q: want this relay's host name", c.AuthservID)
	}
	s := &settings{authservID: id, domains: map[string]string{}, enforce: c.Enforce == nil || *c.Enforce, maxSignatures: c.MaxSignatures}
	if s.maxSignatures <= 0 {
		s.maxSignatures = 5
	}
	for d, a := range c.Domains {
		switch a {
		case "reject", "quarantine", "tag":
		default:
			return nil, fmt.Errorf("config: domains[%q] = %q: want reject, quarantine or tag", d, a)
		}
		a8, ok := authmail.ASCIIDomain(d) // as FromDomain gives the From domain
		if !ok {
			return nil, fmt.Errorf("config: domains[%q]: not a valid domain name", d)
		}
		s.domains[a8] = a
	}
	return s, nil
}

// input is what one check needs from the event.
type input struct {
	clientIP net.IP
	helo     string
	from     string // MAIL FROM, "" for the null sender
	smtputf8 bool   // MAIL carried SMTPUTF8: the header may hold UTF-8
	header   sdk.Header
	raw      []byte // the header as it arrived, for DKIM (nil: rebuilt from header)
	body     io.Reader
}

// outcome is what the filter does with one message.
type outcome struct {
	action      string // "", "reject" or "quarantine"
	domain      string // the From domain whose policy acted
	authResults string
	removeAR    []int
	// dropped says what the Authentication-Results leave out, a value the
	// host would refuse in this message (authmail.FormatAuthResults).
	dropped []string
}

// check runs SPF (RFC 7208), DKIM (RFC 6376) and DMARC (RFC 7489).
// sample(pct) reports whether a message falls in a policy's pct= share.
func check(s *settings, in input, r resolver, sample func(pct int) bool) outcome {
	o := outcome{removeAR: authmail.ForgedAuthResults(in.header, s.authservID)}

	// SPF of MAIL FROM, or of the HELO identity for the null sender (section 2.4).
	sender := in.from
	spfRes := &authres.SPFResult{From: sender}
	if sender == "" {
		sender = "postmaster@" + in.helo
		spfRes = &authres.SPFResult{Helo: in.helo}
	}
	if in.clientIP == nil {
		spfRes.Value = authres.ResultNone
	} else {
		res, err := spf.CheckHostWithSender(in.clientIP, in.helo, sender,
			spf.WithResolver(r), spf.WithContext(context.Background()))
		spfRes.Value = authres.ResultValue(res)
		if err != nil && res != spf.Pass && res != spf.Fail && res != spf.SoftFail && res != spf.Neutral && !errors.Is(err, spf.ErrNoResult) {
			spfRes.Reason = reason(err)
		}
	}
	spfDomain, _ := authmail.ASCIIDomain(sdk.AddressDomain(sender))

	dkims := authmail.VerifyDKIM(in.header, in.raw, in.body, r.TXT, s.maxSignatures, reason)
	results := []authres.Result{spfRes}
	for _, d := range dkims {
		results = append(results, d)
	}

	fromDom := authmail.FromDomain(in.header) // A-labels, as DMARC looks it up and aligns
	if fromDom != "" {
		dr, act := evalDMARC(s, r, fromDom, spfRes.Value == authres.ResultPass, spfDomain, dkims, sample)
		results = append(results, dr)
		if act != "" && s.enforce {
			o.action, o.domain = act, fromDom
		}
	}
	o.authResults, o.dropped = authmail.FormatAuthResults(s.authservID, results, in.smtputf8)
	return o
}

// evalDMARC finds the From domain's policy (or its organizational
// domain's), checks identifier alignment and returns the result and the
// action the policy asks for ("" for none).
func evalDMARC(s *settings, r resolver, fromDom string, spfPass bool, spfDomain string, dkims []*authres.DKIMResult, sample func(int) bool) (*authres.DMARCResult, string) {
	res := &authres.DMARCResult{From: fromDom}
	org, err := publicsuffix.EffectiveTLDPlusOne(fromDom)
	if err != nil {
		org = fromDom
	}
	opts := &dmarc.LookupOptions{LookupTXT: r.TXT}
	rec, err := dmarc.LookupWithOptions(fromDom, opts)
	policyDom := fromDom
	if errors.Is(err, dmarc.ErrNoPolicy) && org != fromDom {
		rec, err = dmarc.LookupWithOptions(org, opts)
		policyDom = org
	}
	switch {
	case errors.Is(err, dmarc.ErrNoPolicy):
		res.Value = authres.ResultNone
		return res, ""
	case dmarc.IsTempFail(err):
		res.Value, res.Reason = authres.ResultTempError, reason(err)
		return res, ""
	case err != nil:
		res.Value, res.Reason = authres.ResultPermError, reason(err)
		return res, ""
	}
	aligned := func(d string, mode dmarc.AlignmentMode) bool {
		d, _ = authmail.ASCIIDomain(d) // a d= in U-labels aligns with its A-labels
		if mode == dmarc.AlignmentStrict {
			return d == fromDom
		}
		o, err := publicsuffix.EffectiveTLDPlusOne(d)
		return err == nil && o == org
	}
	pass := spfPass && aligned(spfDomain, rec.SPFAlignment)
	for _, d := range dkims {
		pass = pass || (d.Value == authres.ResultPass && aligned(d.Domain, rec.DKIMAlignment))
	}
	if pass {
		res.Value = authres.ResultPass
		return res, ""
	}
	res.Value = authres.ResultFail
	policy := rec.Policy
	if policyDom != fromDom && rec.SubdomainPolicy != "" {
		policy = rec.SubdomainPolicy
	}
	// pct= (section 6.6.4): a message outside the sampled share gets the
	// next less strict policy.
	if rec.Percent != nil && *rec.Percent < 100 && !sample(*rec.Percent) {
		switch policy {
		case dmarc.PolicyReject:
			policy = dmarc.PolicyQuarantine
		case dmarc.PolicyQuarantine:
			policy = dmarc.PolicyNone
		}
	}
	res.Reason = "p=" + string(policy)
	act := ""
	switch policy {
	case dmarc.PolicyReject:
		act = "reject"
	case dmarc.PolicyQuarantine:
		act = "quarantine"
	}
	if a, ok := s.domains[fromDom]; ok && act != "" {
		act = a
	}
	if act == "tag" {
		act = ""
	}
	return res, act
}

package main

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"

	"github.com/sluice-mail/sluice/plugins/internal/authmail"
	"github.com/sluice-mail/sluice/sdk"
)

// resolver answers the lookups of SPF, DKIM and DMARC through the host's
// dns grant. Errors are *net.DNSError, as the libraries expect: not found
// (NXDOMAIN or no record of the type) or temporary (anything else).
type resolver struct {
	lookup func(typ, name string) ([]string, error)
}

var hostResolver = resolver{lookup: sdk.LookupDNS}

// query asks for name in A-labels: SPF's domains (MAIL FROM, HELO, its
// macros) and DMARC's may come in U-labels from SMTPUTF8 mail, but the
// records are published under the A-labels (RFC 8616).
func (r resolver) query(typ, name string) ([]string, error) {
	ascii, _ := authmail.ASCIIDomain(name)
	recs, err := r.lookup(typ, ascii)
	if err := authmail.DNSError(name, err); err != nil {
		return nil, err
	}
	return recs, nil
}

func (r resolver) LookupTXT(_ context.Context, name string) ([]string, error) {
	return r.query("TXT", name)
}

// TXT is the form go-msgauth takes.
func (r resolver) TXT(name string) ([]string, error) { return r.query("TXT", name) }

func (r resolver) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	recs, err := r.query("MX", name)
	if err != nil {
		return nil, err
	}
	var out []*net.MX
	for _, rec := range recs { // "host pref"
		host, pref, _ := strings.Cut(rec, " ")
		p, _ := strconv.Atoi(pref)
		out = append(out, &net.MX{Host: host, Pref: uint16(p)})
	}
	return out, nil
}

func (r resolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	var out []net.IPAddr
	var firstErr error
	notFound := 0
	for _, typ := range []string{"A", "AAAA"} {
		recs, err := r.query(typ, host)
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			notFound++
			continue
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
		for _, s := range recs {
			if ip := net.ParseIP(s); ip != nil {
				out = append(out, net.IPAddr{IP: ip})
			}
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (r resolver) LookupAddr(_ context.Context, addr string) ([]string, error) {
	return r.query("PTR", addr)
}

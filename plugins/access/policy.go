package main

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-mail/sluice/sdk"
)

// env is what the decisions need from the host; tests fake it.
type env struct {
	kv KV
	// lookup resolves an A record; errNotFound when the name does not exist.
	lookup func(name string) ([]string, error)
	now    func() time.Time
	log    func(level int, msg string)
}

// Bucket counts: enough spread for millions of triplets, far under the
// host's 10 000 keys.
const (
	greyBuckets = 1024
	rateBuckets = 256
)

func clientIP(s sdk.Session) netip.Addr {
	ip, err := netip.ParseAddr(s.ClientIP)
	if err != nil {
		return netip.Addr{}
	}
	return ip.Unmap()
}

// exempt is a client that skips greylisting and DNS blocklists: an
// authenticated user or an allow-listed address. (List the relay's
// trusted_networks in allow.ips too.)
func (p *policy) exempt(s sdk.Session) bool {
	return s.AuthUser != "" || matchIP(p.allow.ips, clientIP(s))
}

func (p *policy) connect(e env, s sdk.Session) sdk.Result {
	ip := clientIP(s)
	if matchIP(p.allow.ips, ip) {
		return sdk.Continue()
	}
	if matchIP(p.deny.ips, ip) {
		return sdk.Reject(554, "5.7.1", "Access denied: client ["+ip.String()+"] is blocked by policy")
	}
	if p.dnsblAt == "connect" && !p.exempt(s) {
		return p.checkDNSBL(e, ip, 554)
	}
	return sdk.Continue()
}

func (p *policy) helo(s sdk.Session) sdk.Result {
	if matchIP(p.allow.ips, clientIP(s)) || matchHelo(p.allow.helo, s.Helo) {
		return sdk.Continue()
	}
	if matchHelo(p.deny.helo, s.Helo) {
		return sdk.Reject(550, "5.7.1", "HELO/EHLO name "+printable(s.Helo, 100)+" refused by policy")
	}
	return sdk.Continue()
}

func (p *policy) auth(user string, ok bool) sdk.Result {
	if ok && matchName(p.deny.us, user) {
		return sdk.Reject(535, "5.7.8", "Authentication refused by policy")
	}
	return sdk.Continue()
}

func (p *policy) mail(e env, s sdk.Session, from string) sdk.Result {
	if matchIP(p.allow.ips, clientIP(s)) || matchAddr(p.allow.senders, from) {
		return sdk.Continue()
	}
	if matchAddr(p.deny.senders, from) {
		return sdk.Reject(550, "5.7.1", "Sender address "+displayAddr(from)+" refused by policy")
	}
	now := e.now()
	if r := p.rate.PerIP; r.Messages > 0 {
		ip := clientIP(s)
		if over, err := countRate(e, "ip:"+ip.String(), r, now); err != nil {
			e.log(sdk.LevelWarn, "rate limit store: "+err.Error())
		} else if over {
			return sdk.Tempfail(451, "4.7.1", "Too many messages from ["+ip.String()+"], try again later")
		}
	}
	if r := p.rate.PerSender; r.Messages > 0 && from != "" {
		if over, err := countRate(e, "from:"+strings.ToLower(from), r, now); err != nil {
			e.log(sdk.LevelWarn, "rate limit store: "+err.Error())
		} else if over {
			return sdk.Tempfail(451, "4.7.1", "Too many messages from sender "+displayAddr(from)+", try again later")
		}
	}
	return sdk.Continue()
}

func (p *policy) rcpt(e env, s sdk.Session, from, to string) sdk.Result {
	ip := clientIP(s)
	dom := p.domains[sdk.AddressDomain(to)]
	if dom == nil {
		dom = &domainLists{}
	}
	if matchAddr(p.deny.rcpts, to) || matchAddr(dom.deny.rcpts, to) {
		return sdk.Reject(550, "5.7.1", "Recipient address "+displayAddr(to)+" refused by policy")
	}
	allowed := matchIP(p.allow.ips, ip) || matchAddr(p.allow.senders, from) || matchAddr(p.allow.rcpts, to) ||
		matchIP(dom.allow.ips, ip) || matchAddr(dom.allow.senders, from) || matchAddr(dom.allow.rcpts, to)
	if allowed {
		return sdk.Continue()
	}
	if matchIP(dom.deny.ips, ip) {
		return sdk.Reject(550, "5.7.1", "Client ["+ip.String()+"] may not send to this domain")
	}
	if matchAddr(dom.deny.senders, from) {
		return sdk.Reject(550, "5.7.1", "Sender address "+displayAddr(from)+" refused for this recipient")
	}
	if s.AuthUser != "" {
		return sdk.Continue()
	}
	if p.dnsblAt == "rcpt" {
		if r := p.checkDNSBL(e, ip, 550); r.Action != "continue" {
			return r
		}
	}
	if p.grey.Enabled {
		return p.greylist(e, ip, from, to)
	}
	return sdk.Continue()
}

// greylist answers 451 4.7.1 for a triplet (client network, sender,
// recipient) until it is retried after the delay (RFC 6647).
func (p *policy) greylist(e env, ip netip.Addr, from, to string) sdk.Result {
	bits := p.grey.IPv4Prefix
	if ip.Is6() {
		bits = p.grey.IPv6Prefix
	}
	var network string
	if ip.IsValid() {
		pfx, _ := ip.Prefix(bits)
		network = pfx.String()
	}
	key := network + "\x00" + strings.ToLower(from) + "\x00" + strings.ToLower(to)
	now := e.now().UnixMilli()
	delay := int64(p.grey.Delay * 1000)
	retry := int64(p.grey.RetryWindow * 1000)
	life := int64(p.grey.Lifetime * 1000)
	t := &table{kv: e.kv, prefix: "grey", buckets: greyBuckets}
	expired := func(r record) bool {
		if r.n > 0 {
			return now-r.last > life
		}
		return now-r.first > delay+retry
	}
	r, err := t.update(key, expired, func(r record, found bool) (record, bool) {
		switch {
		case !found:
			return record{first: now, last: now}, true
		case r.n > 0:
			r.last = now
			return r, true
		case now-r.first >= delay:
			r.n, r.last = 1, now
			return r, true
		}
		return r, false // still waiting: keep the first-seen time
	})
	if err != nil {
		// Without the store greylisting cannot work; let the mail through
		// rather than refuse it forever.
		e.log(sdk.LevelWarn, "greylist store: "+err.Error())
		return sdk.Continue()
	}
	if r.n > 0 {
		return sdk.Continue()
	}
	wait := (r.first + delay - now + 999) / 1000
	if wait < 1 {
		wait = 1
	}
	return sdk.Tempfail(451, "4.7.1", "Greylisted, please try again in "+strconv.FormatInt(wait, 10)+" seconds")
}

// countRate counts one transaction for key in a fixed window and reports
// whether the limit is exceeded.
func countRate(e env, key string, r Rate, now time.Time) (bool, error) {
	ms := now.UnixMilli()
	window := int64(r.Window * 1000)
	t := &table{kv: e.kv, prefix: "rate", buckets: rateBuckets}
	rec, err := t.update(key, func(x record) bool { return ms-x.first >= window }, func(x record, found bool) (record, bool) {
		if !found {
			return record{first: ms, last: ms, n: 1}, true
		}
		if x.n <= uint32(r.Messages) {
			x.n++
		}
		x.last = ms
		return x, true
	})
	if err != nil {
		return false, err
	}
	return rec.n > uint32(r.Messages), nil
}

// checkDNSBL queries every list for ip and refuses with code when the
// weights of the lists that answered reach the threshold.
func (p *policy) checkDNSBL(e env, ip netip.Addr, code int) sdk.Result {
	if len(p.dnsbl) == 0 || !ip.IsValid() {
		return sdk.Continue()
	}
	rev := reverseIP(ip)
	total := 0.0
	var hits []string
	for _, l := range p.dnsbl {
		recs, err := e.lookup(rev + "." + l.zone + ".")
		if err != nil {
			if errors.Is(err, sdk.ErrDenied) {
				e.log(sdk.LevelError, "dnsbl: the filter needs grants = [\"dns\"]")
				return sdk.Continue()
			}
			if !errors.Is(err, errNotFound) {
				e.log(sdk.LevelWarn, "dnsbl "+l.zone+": "+err.Error())
			}
			continue
		}
		if listed(l, recs) {
			total += l.weight
			hits = append(hits, l.zone)
		}
	}
	if len(hits) > 0 && total >= p.threshold {
		return sdk.Reject(code, "5.7.1", printable(fmt.Sprintf("Client [%s] blocked using %s", ip, strings.Join(hits, ", ")), 400))
	}
	return sdk.Continue()
}

// listed reports a hit: an A record in 127.0.0.0/8 (or one of the list's
// configured answers), ignoring 127.255.255.0/24, which lists use to
// signal query errors (refused resolver, rate limit) rather than a listing.
func listed(l dnsbl, recs []string) bool {
	for _, r := range recs {
		a, err := netip.ParseAddr(r)
		if err != nil || !a.Is4() {
			continue
		}
		if l.answers != nil {
			if l.answers[a] {
				return true
			}
			continue
		}
		b := a.As4()
		if b[0] == 127 && !(b[1] == 255 && b[2] == 255) {
			return true
		}
	}
	return false
}

// reverseIP gives the DNSBL query label of an address: the octets of an
// IPv4 address reversed, or the 32 nibbles of an IPv6 address reversed.
func reverseIP(ip netip.Addr) string {
	if ip.Is4() {
		b := ip.As4()
		return fmt.Sprintf("%d.%d.%d.%d", b[3], b[2], b[1], b[0])
	}
	b := ip.As16()
	const hexd = "0123456789abcdef"
	out := make([]byte, 0, 63)
	for i := 15; i >= 0; i-- {
		out = append(out, hexd[b[i]&15], '.', hexd[b[i]>>4], '.')
	}
	return string(out[:len(out)-1])
}

// displayAddr shows an address in a reply when it is plain ASCII and short.
func displayAddr(a string) string {
	if a == "" {
		return "<>"
	}
	if len(a) > 100 || printable(a, 100) != a {
		return "(address)"
	}
	return "<" + a + ">"
}

package main

import (
	"net/netip"
	"strings"
)

// matchIP reports whether ip falls in one of the prefixes.
func matchIP(pfx []netip.Prefix, ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap()
	for _, p := range pfx {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// matchHelo reports whether name matches an entry: exact, ".domain" for the
// domain and its subdomains, or a * ? pattern. Entries are lower case.
func matchHelo(entries []string, name string) bool {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	for _, e := range entries {
		switch {
		case strings.ContainsAny(e, "*?"):
			if glob(e, name) {
				return true
			}
		case strings.HasPrefix(e, "."):
			if name == e[1:] || strings.HasSuffix(name, e) {
				return true
			}
		case e == name:
			return true
		}
	}
	return false
}

// matchAddr reports whether the address matches an entry (see Lists).
// The null sender is "" and matches the entry "<>".
func matchAddr(entries []string, addr string) bool {
	addr = strings.ToLower(addr)
	dom := ""
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		dom = addr[i+1:]
	}
	for _, e := range entries {
		switch {
		case e == "<>":
			if addr == "" {
				return true
			}
		case addr == "":
		case strings.ContainsAny(e, "*?"):
			if glob(e, addr) {
				return true
			}
		case strings.HasPrefix(e, "@."):
			if dom == e[2:] || strings.HasSuffix(dom, e[1:]) {
				return true
			}
		case strings.HasPrefix(e, "@"):
			if dom == e[1:] {
				return true
			}
		case !strings.Contains(e, "@"):
			if dom == e {
				return true
			}
		case e == addr:
			return true
		}
	}
	return false
}

// matchName matches a user name exactly (case-insensitive) or by pattern.
func matchName(entries []string, name string) bool {
	name = strings.ToLower(name)
	for _, e := range entries {
		if e == name || strings.ContainsAny(e, "*?") && glob(e, name) {
			return true
		}
	}
	return false
}

// glob matches s against a pattern where * is any run of bytes and ? one
// byte. It runs in O(len(p)·len(s)) at worst, without recursion.
func glob(p, s string) bool {
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == s[si]):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// printable keeps the bytes a reply text may carry (0x20-0x7E), at most n.
func printable(s string, n int) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < n; i++ {
		if c := s[i]; c >= 0x20 && c <= 0x7e {
			b.WriteByte(c)
		}
	}
	return b.String()
}

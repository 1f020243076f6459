package engine

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// A pattern is a compiled ClamAV body-signature hex string (the fourth field
// of a .ndb line): hex bytes, nibble wildcards "a?" and "?a", "??", the gaps
// "*", "{n}", "{-n}", "{n-}", "{n-m}" and "[n-m]", and alternatives
// "(aa|bb)", "!(aa|bb)" (single bytes) or "(aabb|cc)" (byte strings).
//
// Matching searches for the pattern's anchor, its longest run of fixed
// bytes, and verifies the tokens on both sides of each hit with a
// backtracking matcher whose work per buffer is bounded (see matchBudget).
type pattern struct {
	toks []token
	// anchor is toks[anchorAt : anchorAt+len(anchor)], all fixed bytes.
	anchor   []byte
	anchorAt int
	back     []token // toks[:anchorAt] reversed, alternatives reversed too
	fwd      []token // toks[anchorAt:]
}

type tokKind uint8

const (
	tByte tokKind = iota // b&mask == val
	tSet                 // one byte in set
	tAlt                 // one of alts (byte strings, possibly of different lengths)
	tGap                 // min..max arbitrary bytes; max < 0 means unbounded
)

type token struct {
	kind      tokKind
	val, mask byte
	set       *[256]bool
	alts      [][]token // each alternative is a list of tByte tokens
	min, max  int
}

func (t token) fixed() bool { return t.kind == tByte && t.mask == 0xff }

// maxGap bounds a {n-m} gap so a signature cannot ask for absurd windows.
const maxGap = 1 << 20

var errNoAnchor = errors.New("pattern needs at least two consecutive fixed bytes")

// compilePattern parses a ClamAV hex signature.
func compilePattern(s string) (*pattern, error) {
	toks, err := parseTokens(s)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, errors.New("empty pattern")
	}
	if toks[0].kind == tGap || toks[len(toks)-1].kind == tGap {
		return nil, errors.New("pattern starts or ends with a gap")
	}
	p := &pattern{toks: toks}
	// The anchor is the longest run of fixed bytes; among equal runs the one
	// with the fewest 00 and ff bytes, which are common in binaries.
	bestLen, bestScore := 0, -1
	for i := 0; i < len(toks); {
		if !toks[i].fixed() {
			i++
			continue
		}
		j := i
		var run []byte
		for j < len(toks) && toks[j].fixed() {
			run = append(run, toks[j].val)
			j++
		}
		score := len(run) * 4
		for _, b := range run {
			if b == 0 || b == 0xff {
				score--
			}
		}
		if score > bestScore {
			bestLen, bestScore = len(run), score
			p.anchorAt, p.anchor = i, run
		}
		i = j
	}
	if bestLen < 2 {
		return nil, errNoAnchor
	}
	p.fwd = toks[p.anchorAt:]
	for i := p.anchorAt - 1; i >= 0; i-- {
		t := toks[i]
		if t.kind == tAlt {
			r := token{kind: tAlt}
			for _, a := range t.alts {
				ra := make([]token, len(a))
				for k := range a {
					ra[k] = a[len(a)-1-k]
				}
				r.alts = append(r.alts, ra)
			}
			t = r
		}
		p.back = append(p.back, t)
	}
	return p, nil
}

func hexNibble(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// hexByte parses two characters, each a hex digit or '?'.
func hexByte(a, b byte) (token, bool) {
	t := token{kind: tByte}
	if a != '?' {
		n, ok := hexNibble(a)
		if !ok {
			return t, false
		}
		t.val |= n << 4
		t.mask |= 0xf0
	}
	if b != '?' {
		n, ok := hexNibble(b)
		if !ok {
			return t, false
		}
		t.val |= n
		t.mask |= 0x0f
	}
	return t, true
}

func parseTokens(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '*':
			toks = appendGap(toks, 0, -1)
			i++
		case c == '{' || c == '[':
			closer := byte('}')
			if c == '[' {
				closer = ']'
			}
			j := strings.IndexByte(s[i:], closer)
			if j < 0 {
				return nil, fmt.Errorf("unclosed %q at %d", c, i)
			}
			lo, hi, err := parseRange(s[i+1 : i+j])
			if err != nil {
				return nil, fmt.Errorf("at %d: %v", i, err)
			}
			toks = appendGap(toks, lo, hi)
			i += j + 1
		case c == '(' || (c == '!' && i+1 < len(s) && s[i+1] == '('):
			neg := c == '!'
			if neg {
				i++
			}
			j := strings.IndexByte(s[i:], ')')
			if j < 0 {
				return nil, fmt.Errorf("unclosed '(' at %d", i)
			}
			t, err := parseAlt(s[i+1:i+j], neg)
			if err != nil {
				return nil, fmt.Errorf("at %d: %v", i, err)
			}
			toks = append(toks, t)
			i += j + 1
		default:
			if i+1 >= len(s) {
				return nil, fmt.Errorf("odd number of hex digits at %d", i)
			}
			t, ok := hexByte(c, s[i+1])
			if !ok {
				return nil, fmt.Errorf("invalid hex %q at %d", s[i:i+2], i)
			}
			if t.mask == 0 {
				toks = appendGap(toks, 1, 1)
			} else {
				toks = append(toks, t)
			}
			i += 2
		}
	}
	return toks, nil
}

// appendGap merges adjacent gaps ("??{2}" is {3}).
func appendGap(toks []token, lo, hi int) []token {
	if n := len(toks); n > 0 && toks[n-1].kind == tGap {
		g := &toks[n-1]
		g.min += lo
		if g.max < 0 || hi < 0 {
			g.max = -1
		} else {
			g.max += hi
		}
		return toks
	}
	return append(toks, token{kind: tGap, min: lo, max: hi})
}

func parseRange(r string) (lo, hi int, err error) {
	num := func(s string) (int, error) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > maxGap {
			return 0, fmt.Errorf("bad gap bound %q", s)
		}
		return n, nil
	}
	a, b, dash := strings.Cut(r, "-")
	switch {
	case !dash:
		lo, err = num(a)
		return lo, lo, err
	case a == "":
		hi, err = num(b)
		return 0, hi, err
	case b == "":
		lo, err = num(a)
		return lo, -1, err
	}
	if lo, err = num(a); err != nil {
		return
	}
	if hi, err = num(b); err != nil {
		return
	}
	if hi < lo {
		return 0, 0, fmt.Errorf("gap {%s}: upper bound below lower bound", r)
	}
	return lo, hi, nil
}

func parseAlt(body string, neg bool) (token, error) {
	parts := strings.Split(body, "|")
	if len(parts) < 2 && !neg {
		if body == "B" || body == "L" || body == "W" {
			return token{}, errors.New("boundary anchors (B), (L), (W) are not supported")
		}
	}
	single := true
	var alts [][]token
	for _, a := range parts {
		if a == "" || len(a)%2 != 0 {
			return token{}, fmt.Errorf("bad alternative %q", a)
		}
		var seq []token
		for k := 0; k < len(a); k += 2 {
			t, ok := hexByte(a[k], a[k+1])
			if !ok {
				return token{}, fmt.Errorf("bad alternative %q", a)
			}
			seq = append(seq, t)
		}
		if len(seq) != 1 {
			single = false
		}
		alts = append(alts, seq)
	}
	if single {
		var set [256]bool
		for _, a := range alts {
			for b := 0; b < 256; b++ {
				if byte(b)&a[0].mask == a[0].val {
					set[b] = true
				}
			}
		}
		if neg {
			for b := range set {
				set[b] = !set[b]
			}
		}
		return token{kind: tSet, set: &set}, nil
	}
	if neg {
		return token{}, errors.New("negated alternatives must be single bytes")
	}
	return token{kind: tAlt, alts: alts}, nil
}

// matchBudget and budgetPerByte bound the matcher steps spent on one
// signature in one buffer: matchBudget + budgetPerByte*len(buffer). A
// hostile buffer cannot make a scan quadratic beyond it, and since every
// anchor hit costs a step, the per-byte share keeps a buffer that only
// repeats a signature's anchor from using the bound up before a real
// match further on. A search the bound does stop is reported (DB.match),
// so that the scan records a limit rather than a clean file.
const (
	matchBudget   = 200000
	budgetPerByte = 8
)

// matcher verifies one pattern around anchor hits in data. The memo of
// failed unbounded gaps keeps repeated hits linear: a "*" whose remainder
// found no match from position p finds none from any later position
// (forward) or earlier position (backward).
type matcher struct {
	data   []byte
	budget int
}

// run matches toks against data starting at pos, moving by dir (+1 forward
// over data[pos], -1 backward over data[pos-1]); accept judges where the
// match ends. It reports whether a match exists.
func (m *matcher) run(toks []token, i, pos, dir int, fail map[int]int, accept func(int) bool) (ok bool, complete bool) {
	complete = true
	for i < len(toks) {
		if m.budget <= 0 {
			return false, false
		}
		m.budget--
		t := &toks[i]
		switch t.kind {
		case tByte:
			b, in := m.at(pos, dir)
			if !in || b&t.mask != t.val {
				return false, true
			}
			pos += dir
			i++
		case tSet:
			b, in := m.at(pos, dir)
			if !in || !t.set[b] {
				return false, true
			}
			pos += dir
			i++
		case tAlt:
			for _, a := range t.alts {
				if m.fixedAt(a, pos, dir) {
					ok, c := m.run(toks, i+1, pos+dir*len(a), dir, fail, accept)
					if ok {
						return true, true
					}
					complete = complete && c
				}
			}
			return false, complete
		case tGap:
			if t.max < 0 {
				if f, seen := fail[i]; seen && ((dir > 0 && pos >= f) || (dir < 0 && pos <= f)) {
					return false, true
				}
			}
			for n := t.min; t.max < 0 || n <= t.max; n++ {
				p := pos + dir*n
				if p < 0 || p > len(m.data) {
					break
				}
				// Skip quickly to where the next fixed byte occurs.
				if dir > 0 && i+1 < len(toks) && toks[i+1].fixed() {
					k := bytes.IndexByte(m.data[p:], toks[i+1].val)
					if k < 0 {
						break
					}
					if t.max >= 0 && n+k > t.max {
						break
					}
					n += k
					p += k
				}
				ok, c := m.run(toks, i+1, p, dir, fail, accept)
				if ok {
					return true, true
				}
				complete = complete && c
				if m.budget <= 0 {
					return false, false
				}
			}
			if t.max < 0 && complete {
				if f, seen := fail[i]; !seen || (dir > 0 && pos < f) || (dir < 0 && pos > f) {
					fail[i] = pos
				}
			}
			return false, complete
		}
	}
	return accept(pos), true
}

func (m *matcher) at(pos, dir int) (byte, bool) {
	if dir < 0 {
		pos--
	}
	if pos < 0 || pos >= len(m.data) {
		return 0, false
	}
	return m.data[pos], true
}

func (m *matcher) fixedAt(seq []token, pos, dir int) bool {
	for _, t := range seq {
		b, in := m.at(pos, dir)
		if !in || b&t.mask != t.val {
			return false
		}
		pos += dir
	}
	return true
}

// matchAt reports whether p matches with its anchor at data[hit:], the
// match's start satisfying startOK.
func (p *pattern) matchAt(m *matcher, hit int, fwdFail, backFail map[int]int, startOK func(int) bool) bool {
	if len(p.back) == 0 {
		if !startOK(hit) {
			return false
		}
		ok, _ := m.run(p.fwd, len(p.anchor), hit+len(p.anchor), +1, fwdFail, func(int) bool { return true })
		return ok
	}
	ok, _ := m.run(p.fwd, len(p.anchor), hit+len(p.anchor), +1, fwdFail, func(int) bool { return true })
	if !ok {
		return false
	}
	ok, _ = m.run(p.back, 0, hit, -1, backFail, startOK)
	return ok
}

// matchFrom reports whether p matches starting exactly at start.
func (p *pattern) matchFrom(m *matcher, start int, fail map[int]int) bool {
	ok, _ := m.run(p.toks, 0, start, +1, fail, func(int) bool { return true })
	return ok
}

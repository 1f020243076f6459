// Package engine is the scanning engine of sluice's virus filter: ClamAV
// signature databases (.hdb, .hsb, .ndb), a MIME walker, zip and gzip
// recursion with limits, and attachment policy by content and name. It is
// plain Go with no host dependency, so it runs in the Wasm plugin and in
// host-side tests and benchmarks alike.
package engine

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"path"
	"strconv"
	"strings"
)

// DB is a set of signatures. Build it with Load calls, then use it from any
// number of goroutines.
type DB struct {
	hashes    map[hashKey]string // exact size
	anySize   map[hashKey]string // size "*"
	hashKinds [3]bool            // which of md5, sha1, sha256 are needed
	body      []*bodySig
	fixed     []*bodySig // anchored at a known offset: checked there only
	table     [1 << 16][]int32
	present   [1 << 16 / 64]uint64
	// Skipped lists signatures that are valid ClamAV but use features this
	// engine does not implement (target types other than any/PE/ELF, offsets
	// relative to sections), as "file:line: reason".
	Skipped []string
	// Count is the number of signatures loaded.
	Count int
}

type hashKind uint8

const (
	hashMD5 hashKind = iota
	hashSHA1
	hashSHA256
)

type hashKey struct {
	kind hashKind
	sum  [32]byte
	size int64 // -1 in anySize
}

// Target types of .ndb signatures that the engine knows.
const (
	targetAny = 0
	targetPE  = 1
	targetELF = 6
)

type offKind uint8

const (
	offAny offKind = iota // "*"
	offAbs                // n[,shift]
	offEOF                // EOF-n[,shift]
	offEP                 // EP+n / EP-n [,shift] (PE only)
)

type bodySig struct {
	name   string
	target int
	off    offKind
	n      int // offset value (EOF-n stores n; EP stores the signed delta)
	shift  int
	pat    *pattern
}

// maxFixedWindow is the widest offset window (n,shift) that is checked
// position by position instead of through the anchor index.
const maxFixedWindow = 4096

// NewDB returns an empty database.
func NewDB() *DB {
	return &DB{hashes: map[hashKey]string{}, anySize: map[hashKey]string{}}
}

// LineError is a malformed line of a signature file. ClamAV refuses a whole
// database file for one bad line; so does Load.
type LineError struct {
	File string
	Line int
	Err  string
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Err) }

// Load adds the signatures of one ClamAV database file, chosen by the
// extension of name: .hdb and .hsb (hash:size:name), .ndb
// (name:target:offset:hex[:minfl[:maxfl]]). Empty lines and lines starting
// with '#' are ignored.
func (db *DB) Load(name string, data []byte) error {
	ext := strings.ToLower(path.Ext(name))
	var parse func(string) (string, error)
	switch ext {
	case ".hdb", ".hsb":
		parse = db.addHash
	case ".ndb":
		parse = db.addBody
	default:
		return fmt.Errorf("%s: unsupported signature file type %q (want .hdb, .hsb or .ndb)", name, ext)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	ln := 0
	for sc.Scan() {
		ln++
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" || line[0] == '#' {
			continue
		}
		skip, err := parse(line)
		if err != nil {
			return &LineError{File: name, Line: ln, Err: err.Error()}
		}
		if skip != "" {
			db.Skipped = append(db.Skipped, fmt.Sprintf("%s:%d: %s", name, ln, skip))
			continue
		}
		db.Count++
	}
	if err := sc.Err(); err != nil {
		return &LineError{File: name, Line: ln + 1, Err: err.Error()}
	}
	return nil
}

func validName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' || c == ':' {
			return false
		}
	}
	return true
}

func (db *DB) addHash(line string) (string, error) {
	f := strings.Split(line, ":")
	if len(f) < 3 || len(f) > 4 {
		return "", fmt.Errorf("want hash:size:name[:flevel], got %d fields", len(f))
	}
	sum, err := hex.DecodeString(f[0])
	if err != nil {
		return "", fmt.Errorf("bad hash %q", f[0])
	}
	var k hashKey
	switch len(sum) {
	case md5.Size:
		k.kind = hashMD5
	case sha1.Size:
		k.kind = hashSHA1
	case sha256.Size:
		k.kind = hashSHA256
	default:
		return "", fmt.Errorf("hash of %d bytes is neither MD5, SHA-1 nor SHA-256", len(sum))
	}
	copy(k.sum[:], sum)
	if !validName(f[2]) {
		return "", fmt.Errorf("bad signature name %q", f[2])
	}
	if f[1] == "*" {
		k.size = -1
		db.anySize[k] = f[2]
	} else {
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil || n < 0 {
			return "", fmt.Errorf("bad size %q", f[1])
		}
		k.size = n
		db.hashes[k] = f[2]
	}
	db.hashKinds[k.kind] = true
	return "", nil
}

func (db *DB) addBody(line string) (string, error) {
	f := strings.Split(line, ":")
	if len(f) < 4 || len(f) > 6 {
		return "", fmt.Errorf("want name:target:offset:hex[:minfl[:maxfl]], got %d fields", len(f))
	}
	s := &bodySig{name: f[0]}
	if !validName(s.name) {
		return "", fmt.Errorf("bad signature name %q", s.name)
	}
	t, err := strconv.Atoi(f[1])
	if err != nil || t < 0 || t > 14 {
		return "", fmt.Errorf("bad target type %q", f[1])
	}
	s.target = t
	pat, err := compilePattern(f[3])
	if err != nil {
		return "", err
	}
	s.pat = pat
	if t != targetAny && t != targetPE && t != targetELF {
		return fmt.Sprintf("target type %d not supported", t), nil
	}
	skip, err := s.parseOffset(f[2])
	if err != nil || skip != "" {
		return skip, err
	}
	idx := int32(len(db.body))
	db.body = append(db.body, s)
	if (s.off == offAbs || s.off == offEOF) && s.shift <= maxFixedWindow {
		db.fixed = append(db.fixed, s)
		return "", nil
	}
	k := uint16(pat.anchor[0])<<8 | uint16(pat.anchor[1])
	db.table[k] = append(db.table[k], idx)
	db.present[k/64] |= 1 << (k % 64)
	return "", nil
}

func (s *bodySig) parseOffset(o string) (string, error) {
	base, shift, hasShift := strings.Cut(o, ",")
	if hasShift {
		n, err := strconv.Atoi(shift)
		if err != nil || n < 0 || n > 1<<30 {
			return "", fmt.Errorf("bad offset shift %q", shift)
		}
		s.shift = n
	}
	num := func(x string) (int, error) {
		n, err := strconv.Atoi(x)
		if err != nil || n < 0 || n > 1<<30 {
			return 0, fmt.Errorf("bad offset %q", o)
		}
		return n, nil
	}
	var err error
	switch {
	case base == "*":
		if hasShift {
			return "", fmt.Errorf("bad offset %q", o)
		}
		s.off = offAny
	case strings.HasPrefix(base, "EOF-"):
		s.off = offEOF
		s.n, err = num(base[4:])
	case strings.HasPrefix(base, "EP+") || strings.HasPrefix(base, "EP-"):
		if s.target != targetPE {
			return "", fmt.Errorf("offset %q needs target type 1 (PE)", o)
		}
		s.off = offEP
		s.n, err = num(base[3:])
		if base[2] == '-' {
			s.n = -s.n
		}
	case base != "" && base[0] >= '0' && base[0] <= '9':
		s.off = offAbs
		s.n, err = num(base)
	default:
		return fmt.Sprintf("offset %q not supported", o), nil
	}
	return "", err
}

// startOK reports whether a match starting at pos satisfies the offset.
func (s *bodySig) startOK(pos, size, ep int) bool {
	var at int
	switch s.off {
	case offAny:
		return true
	case offAbs:
		at = s.n
	case offEOF:
		at = size - s.n
	case offEP:
		if ep < 0 {
			return false
		}
		at = ep + s.n
	}
	return pos >= at && pos <= at+s.shift
}

// fileType is what a buffer's magic says, for target types.
func targetOK(target int, data []byte) bool {
	switch target {
	case targetPE:
		return peHeader(data) >= 0
	case targetELF:
		return bytes.HasPrefix(data, []byte("\x7fELF"))
	}
	return true
}

// peHeader returns the offset of the "PE\0\0" signature of a PE file, or -1.
func peHeader(d []byte) int {
	if len(d) < 0x40 || d[0] != 'M' || d[1] != 'Z' {
		return -1
	}
	off := int(binary.LittleEndian.Uint32(d[0x3c:]))
	if off < 0x40 || off > len(d)-24 || !bytes.Equal(d[off:off+4], []byte("PE\x00\x00")) {
		return -1
	}
	return off
}

// peEntryPoint returns the file offset of a PE file's entry point, or -1.
func peEntryPoint(d []byte) int {
	pe := peHeader(d)
	if pe < 0 {
		return -1
	}
	coff := pe + 4
	nsec := int(binary.LittleEndian.Uint16(d[coff+2:]))
	optSize := int(binary.LittleEndian.Uint16(d[coff+16:]))
	opt := coff + 20
	if opt+20 > len(d) {
		return -1
	}
	ep := binary.LittleEndian.Uint32(d[opt+16:])
	sec := opt + optSize
	for i := 0; i < nsec && i < 96; i++ {
		h := sec + i*40
		if h+40 > len(d) {
			return -1
		}
		vsize := binary.LittleEndian.Uint32(d[h+8:])
		vaddr := binary.LittleEndian.Uint32(d[h+12:])
		rawSize := binary.LittleEndian.Uint32(d[h+16:])
		rawPtr := binary.LittleEndian.Uint32(d[h+20:])
		size := max(vsize, rawSize)
		if ep >= vaddr && ep-vaddr < size {
			off := int64(rawPtr) + int64(ep-vaddr)
			if off >= int64(len(d)) {
				return -1
			}
			return int(off)
		}
	}
	if int64(ep) < int64(len(d)) {
		return int(ep) // entry point in the headers
	}
	return -1
}

// Match returns the name of the first signature that matches data, or "".
func (db *DB) Match(data []byte) string {
	name, _ := db.match(data)
	return name
}

// match is Match that also reports whether the matcher's work bound
// stopped a body signature's search in data before its end: "no match"
// is then not a verdict.
func (db *DB) match(data []byte) (name string, unfinished bool) {
	if name := db.matchHash(data); name != "" {
		return name, false
	}
	return db.matchBody(data)
}

func (db *DB) matchHash(data []byte) string {
	if len(db.hashes) == 0 && len(db.anySize) == 0 {
		return ""
	}
	size := int64(len(data))
	try := func(k hashKey) string {
		k.size = size
		if n, ok := db.hashes[k]; ok {
			return n
		}
		k.size = -1
		return db.anySize[k]
	}
	if db.hashKinds[hashMD5] {
		k := hashKey{kind: hashMD5}
		s := md5.Sum(data)
		copy(k.sum[:], s[:])
		if n := try(k); n != "" {
			return n
		}
	}
	if db.hashKinds[hashSHA1] {
		k := hashKey{kind: hashSHA1}
		s := sha1.Sum(data)
		copy(k.sum[:], s[:])
		if n := try(k); n != "" {
			return n
		}
	}
	if db.hashKinds[hashSHA256] {
		k := hashKey{kind: hashSHA256}
		s := sha256.Sum256(data)
		copy(k.sum[:], s[:])
		if n := try(k); n != "" {
			return n
		}
	}
	return ""
}

func (db *DB) matchBody(data []byte) (string, bool) {
	if len(db.body) == 0 {
		return "", false
	}
	budget := matchBudget + budgetPerByte*len(data)
	unfinished := false
	ep := -2 // not computed
	entry := func() int {
		if ep == -2 {
			ep = peEntryPoint(data)
		}
		return ep
	}
	size := len(data)
	for _, s := range db.fixed {
		if !targetOK(s.target, data) {
			continue
		}
		at := s.n
		if s.off == offEOF {
			at = size - s.n
		}
		m := &matcher{data: data, budget: budget}
		fail := map[int]int{}
		for p := max(at, 0); p <= at+s.shift && p < size; p++ {
			if s.pat.matchFrom(m, p, fail) {
				return s.name, false
			}
		}
		unfinished = unfinished || m.budget <= 0
	}
	type state struct {
		m              *matcher
		fwdF, backF    map[int]int
		typeOK, tested bool
	}
	var states map[int32]*state
	for i := 0; i+1 < size; i++ {
		k := uint16(data[i])<<8 | uint16(data[i+1])
		if db.present[k/64]&(1<<(k%64)) == 0 {
			continue
		}
		for _, idx := range db.table[k] {
			s := db.body[idx]
			a := s.pat.anchor
			if len(a) > 2 && !bytes.HasPrefix(data[i:], a) {
				continue
			}
			if states == nil {
				states = map[int32]*state{}
			}
			st := states[idx]
			if st == nil {
				st = &state{m: &matcher{data: data, budget: budget}, fwdF: map[int]int{}, backF: map[int]int{}}
				states[idx] = st
			}
			if !st.tested {
				st.tested, st.typeOK = true, targetOK(s.target, data)
			}
			if !st.typeOK {
				continue
			}
			if st.m.budget <= 0 {
				unfinished = true
				continue
			}
			startOK := func(p int) bool { return s.startOK(p, size, entry()) }
			if s.pat.matchAt(st.m, i, st.fwdF, st.backF, startOK) {
				return s.name, false
			}
		}
	}
	return "", unfinished
}

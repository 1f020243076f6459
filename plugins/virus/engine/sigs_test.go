package engine

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

func ndb(t *testing.T, lines ...string) *DB {
	t.Helper()
	db := NewDB()
	if err := db.Load("t.ndb", []byte(strings.Join(lines, "\n"))); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestPatterns(t *testing.T) {
	hx := func(s string) string { return hex.EncodeToString([]byte(s)) }
	cases := []struct {
		sig, data string
		want      bool
	}{
		{"S:0:*:" + hx("virus"), "a virus here", true},
		{"S:0:*:" + hx("virus"), "a virsu here", false},
		{"S:0:*:" + hx("vi") + "??" + hx("us"), "xxvirusxx", true},
		{"S:0:*:" + hx("vi") + "??" + hx("us"), "xxviruus", false},
		{"S:0:*:" + hx("vi") + "7?" + hx("us"), "virus", true},  // r = 0x72
		{"S:0:*:" + hx("vi") + "?2" + hx("us"), "virus", true},  // r = 0x72
		{"S:0:*:" + hx("vi") + "?3" + hx("us"), "virus", false}, // r = 0x72
		{"S:0:*:" + hx("abc") + "*" + hx("xyz"), "abc" + strings.Repeat("-", 5000) + "xyz", true},
		{"S:0:*:" + hx("abc") + "*" + hx("xyz"), "xyz abc", false},
		{"S:0:*:" + hx("abc") + "{2-4}" + hx("xyz"), "abc12xyz", true},
		{"S:0:*:" + hx("abc") + "{2-4}" + hx("xyz"), "abc1234xyz", true},
		{"S:0:*:" + hx("abc") + "{2-4}" + hx("xyz"), "abc1xyz", false},
		{"S:0:*:" + hx("abc") + "{2-4}" + hx("xyz"), "abc12345xyz", false},
		{"S:0:*:" + hx("abc") + "{3}" + hx("xyz"), "abc123xyz", true},
		{"S:0:*:" + hx("abc") + "{-2}" + hx("xyz"), "abcxyz", true},
		{"S:0:*:" + hx("abc") + "{-2}" + hx("xyz"), "abc123xyz", false},
		{"S:0:*:" + hx("abc") + "{2-}" + hx("xyz"), "abc123456789xyz", true},
		{"S:0:*:" + hx("abc") + "{2-}" + hx("xyz"), "abc1xyz", false},
		{"S:0:*:" + hx("abc") + "[1-2]" + hx("xyz"), "abc1xyz", true},
		{"S:0:*:" + hx("ab") + "(63|64)" + hx("ef"), "abdef", true},
		{"S:0:*:" + hx("ab") + "(63|64)" + hx("ef"), "abxef", false},
		{"S:0:*:" + hx("ab") + "!(63|64)" + hx("ef"), "abxef", true},
		{"S:0:*:" + hx("ab") + "!(63|64)" + hx("ef"), "abcef", false},
		{"S:0:*:" + hx("ab") + "(" + hx("cd") + "|" + hx("xyz") + ")" + hx("ef"), "abxyzef", true},
		{"S:0:*:" + hx("ab") + "(" + hx("cd") + "|" + hx("xyz") + ")" + hx("ef"), "abcdef", true},
		{"S:0:*:" + hx("ab") + "(" + hx("cd") + "|" + hx("xyz") + ")" + hx("ef"), "abcxef", false},
		// Anchor in the middle: tokens before it are matched backwards.
		{"S:0:*:61(62|63)*" + hx("middle") + "{1-3}7a", "xab....middle12z", true},
		{"S:0:*:61(62|63)*" + hx("middle") + "{1-3}7a", "xad....middle12z", false},
		{"S:0:*:61(" + hx("bc") + "|" + hx("q") + ")" + hx("middle"), "aqmiddle", true},
		// Offsets.
		{"S:0:0:" + hx("MZ"), "MZ...", true},
		{"S:0:0:" + hx("MZ"), ".MZ..", false},
		{"S:0:2,3:" + hx("MZ"), "....MZ", true},
		{"S:0:2,3:" + hx("MZ"), "......MZ", false},
		{"S:0:EOF-3:" + hx("end"), "the end", true},
		{"S:0:EOF-4:" + hx("end"), "the end", false},
		{"S:0:EOF-5,2:" + hx("end"), "the end", true},
		{"S:0:10:" + hx("ab") + "*" + hx("cd"), "0123456789ab......cd", true},
		{"S:0:11:" + hx("ab") + "*" + hx("cd"), "0123456789ab......cd", false},
		// Target type PE: only in files with a PE header.
		{"S:1:*:" + hx("payload"), "not a PE payload", false},
	}
	for i, c := range cases {
		db := ndb(t, c.sig)
		got := db.Match([]byte(c.data)) != ""
		if got != c.want {
			t.Errorf("%d: %s on %q: got %v, want %v", i, c.sig, c.data, got, c.want)
		}
	}
}

// minimalPE builds a PE file whose entry point is at file offset epFile.
func minimalPE(body []byte) []byte {
	d := make([]byte, 0x200)
	copy(d, "MZ")
	d[0x3c] = 0x80
	copy(d[0x80:], "PE\x00\x00")
	coff := 0x84
	d[coff+2] = 1     // one section
	d[coff+16] = 0xe0 // optional header size
	opt := coff + 20
	// AddressOfEntryPoint = 0x1000 (RVA), section at RVA 0x1000 raw 0x200.
	d[opt+16], d[opt+17] = 0x00, 0x10
	sec := opt + 0xe0
	copy(d[sec:], ".text\x00\x00\x00")
	putU32 := func(o int, v uint32) { d[o], d[o+1], d[o+2], d[o+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24) }
	putU32(sec+8, uint32(len(body)))
	putU32(sec+12, 0x1000)
	putU32(sec+16, uint32(len(body)))
	putU32(sec+20, 0x200)
	return append(d, body...)
}

func TestPETargets(t *testing.T) {
	pe := minimalPE([]byte("\x90\x90ENTRYCODE here"))
	hx := hex.EncodeToString
	db := ndb(t, "PE.Any:1:*:"+hx([]byte("ENTRYCODE")), "PE.EP:1:EP+2:"+hx([]byte("ENTRYCODE")))
	if got := db.Match(pe); got != "PE.Any" {
		t.Errorf("PE sig: got %q", got)
	}
	db = ndb(t, "PE.EP:1:EP+2:"+hx([]byte("ENTRYCODE")))
	if got := db.Match(pe); got != "PE.EP" {
		t.Errorf("EP sig: got %q", got)
	}
	db = ndb(t, "PE.EP:1:EP+3:"+hx([]byte("ENTRYCODE")))
	if got := db.Match(pe); got != "" {
		t.Errorf("EP+3 sig matched: %q", got)
	}
	if got := db.Match(pe[0x200:]); got != "" {
		t.Errorf("PE sig matched a non-PE: %q", got)
	}
}

func TestHashSigs(t *testing.T) {
	data := []byte("some malware sample bytes")
	m, s1, s2 := md5.Sum(data), sha1.Sum(data), sha256.Sum256(data)
	for _, c := range []struct{ file, line, want string }{
		{"a.hdb", fmt.Sprintf("%x:%d:Mal.MD5", m, len(data)), "Mal.MD5"},
		{"a.hdb", fmt.Sprintf("%x:%d:Mal.MD5", m, len(data)+1), ""},
		{"a.hsb", fmt.Sprintf("%x:%d:Mal.SHA1", s1, len(data)), "Mal.SHA1"},
		{"a.hsb", fmt.Sprintf("%x:%d:Mal.SHA256", s2, len(data)), "Mal.SHA256"},
		{"a.hsb", fmt.Sprintf("%x:*:Mal.Any:73", s2), "Mal.Any"},
		{"a.hsb", fmt.Sprintf("%X:%d:Mal.Upper", s2, len(data)), "Mal.Upper"},
	} {
		db := NewDB()
		if err := db.Load(c.file, []byte(c.line+"\n")); err != nil {
			t.Fatal(err)
		}
		if got := db.Match(data); got != c.want {
			t.Errorf("%s: got %q, want %q", c.line, got, c.want)
		}
	}
}

func TestBadLines(t *testing.T) {
	for _, c := range []struct{ file, text, want string }{
		{"x.hdb", "zz:1:N", "x.hdb:1: bad hash"},
		{"x.hdb", "\n00112233445566778899aabbccddeeff:-1:N", "x.hdb:2: bad size"},
		{"x.hdb", "00112233445566778899aabbccddeeff:1", "got 2 fields"},
		{"x.ndb", "N:0:*:4", "odd number"},
		{"x.ndb", "N:0:*:41??42", "two consecutive fixed bytes"},
		{"x.ndb", "N:0:*:4142{3", "unclosed"},
		{"x.ndb", "N:0:*:4142{5-3}43", "upper bound below"},
		{"x.ndb", "N:0:*:4142(4|44)", "bad alternative"},
		{"x.ndb", "N:0:*:*4142", "starts or ends with a gap"},
		{"x.ndb", "N:0:Z:4142", ""}, // unsupported offset: skipped, not an error
		{"x.ldb", "N;Target:0;0;4142", "unsupported signature file type"},
		{"x.ndb", "Bad Name:0:*:4142", "bad signature name"},
	} {
		db := NewDB()
		err := db.Load(c.file, []byte(c.text))
		if c.want == "" {
			if err != nil || len(db.Skipped) != 1 {
				t.Errorf("%q: err %v skipped %v", c.text, err, db.Skipped)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.text, err, c.want)
		}
	}
}

// TestHostilePatternBounded: a pattern with many unbounded gaps over a
// buffer full of near-matches finishes (the budget and memo bound it).
func TestHostilePatternBounded(t *testing.T) {
	db := ndb(t, "H:0:*:6161*6262*6363*6464*6565*66")
	data := bytes.Repeat([]byte("aabbccddee"), 100000)
	if got := db.Match(data); got != "" {
		t.Fatalf("matched %q", got)
	}
	if got := db.Match(append(data, 'f')); got != "H" {
		t.Fatalf("got %q, want H", got)
	}
}

// TestMatchBudgetNoSilentMiss: content made of a signature's anchor
// repeated must not use up the matcher's work bound and hide a real match
// after it (a 2.25 MB attachment did, and the message passed as clean).
// Where the bound is reached all the same, by a signature whose gap makes
// every anchor hit costly, the scan reports a limit instead of "clean".
func TestMatchBudgetNoSilentMiss(t *testing.T) {
	hx := func(s string) string { return fmt.Sprintf("%x", s) }
	cheap := &Scanner{DB: ndb(t, "Cheap:0:*:"+hx("RANGEHEAD")+"{2-4}"+hx("RANGETAIL"))}
	data := append(bytes.Repeat([]byte("RANGEHEAD"), 400000), "12RANGETAIL"...)
	if r := cheap.ScanFile("a.bin", data); !r.Has(KindVirus) {
		t.Errorf("anchor repeated %d times hides the match: %v", 400000, r.Findings)
	}
	costly := &Scanner{DB: ndb(t, "Costly:0:*:aabb{0-4000}ccdd")}
	data = append(bytes.Repeat([]byte("\xaa\xbb\xcc"), 400000), "\xaa\xbb\xcc\xdd"...)
	r := costly.ScanFile("b.bin", data)
	if !r.Has(KindVirus) && !r.Has(KindLimit) {
		t.Errorf("costly pattern: no virus and no limit reported: %v", r.Findings)
	}
}

package engine

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

type fileType int

const (
	typeOther fileType = iota
	typeZip
	typeGzip
	typeExecutable
	typeScript
	typeOLE2Macro
)

var ole2Magic = []byte{0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1}

// utf16 returns s in UTF-16LE (ASCII only).
func utf16(s string) []byte {
	b := make([]byte, 0, 2*len(s))
	for i := 0; i < len(s); i++ {
		b = append(b, s[i], 0)
	}
	return b
}

var (
	vbaProject = utf16("_VBA_PROJECT")
	macros4    = utf16("Macros") // Word's macro storage
)

// sniff tells the type of data from its first bytes.
func sniff(d []byte) fileType {
	switch {
	case bytes.HasPrefix(d, []byte("PK\x03\x04")), bytes.HasPrefix(d, []byte("PK\x05\x06")) && len(d) >= 22:
		return typeZip
	case bytes.HasPrefix(d, []byte{0x1f, 0x8b, 8}):
		return typeGzip
	case peHeader(d) >= 0, bytes.HasPrefix(d, []byte("\x7fELF")),
		bytes.HasPrefix(d, []byte{0xfe, 0xed, 0xfa, 0xce}), bytes.HasPrefix(d, []byte{0xfe, 0xed, 0xfa, 0xcf}),
		bytes.HasPrefix(d, []byte{0xce, 0xfa, 0xed, 0xfe}), bytes.HasPrefix(d, []byte{0xcf, 0xfa, 0xed, 0xfe}):
		return typeExecutable
	case bytes.HasPrefix(d, ole2Magic):
		if bytes.Contains(d, vbaProject) || bytes.Contains(d, macros4) {
			return typeOLE2Macro
		}
	case isScript(d):
		return typeScript
	}
	return typeOther
}

// isScript recognises scripts by content: a shebang, a batch file's
// "@echo off", a Windows Script File's <job> or <package>.
func isScript(d []byte) bool {
	d = bytes.TrimPrefix(d, []byte("\xef\xbb\xbf"))
	if bytes.HasPrefix(d, []byte("#!")) {
		return true
	}
	head := d[:min(len(d), 64)]
	head = bytes.TrimLeft(head, " \t\r\n")
	lower := bytes.ToLower(head)
	return bytes.HasPrefix(lower, []byte("@echo off")) || bytes.HasPrefix(lower, []byte("<job")) || bytes.HasPrefix(lower, []byte("<package"))
}

// NamePolicy judges file names.
type NamePolicy struct {
	// Dangerous extensions, lower case without the dot.
	Dangerous map[string]bool
	// Decoys are extensions a dangerous one hides behind ("pdf" in
	// "invoice.pdf.exe"); nil means any extension at all.
	Decoys map[string]bool
}

func set(words string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(words) {
		m[w] = true
	}
	return m
}

// DefaultDangerous are the extensions Windows runs or mounts on a double
// click (the lists mail clients block).
const DefaultDangerous = "ade adp app appref-ms application appx bas bat cab chm cmd com cpl crt diagcab exe gadget hlp hta inf ins iso img isp jar js jse ksh lnk mad maf mag mam maq mar mas mat mau mav maw mda mde mdt mdw mdz msc msh msi msix msp mst ops pcd pif plg prf prg ps1 ps1xml ps2 psc1 psm1 reg scf scr sct shb shs sys tmp url vb vbe vbp vbs vhd vhdx vsmacros vsw ws wsc wsf wsh xbap xll xnk"

// DefaultNamePolicy uses DefaultDangerous and any decoy.
var DefaultNamePolicy = &NamePolicy{Dangerous: set(DefaultDangerous)}

// NewNamePolicy builds a policy; empty dangerous means DefaultDangerous.
func NewNamePolicy(dangerous []string) *NamePolicy {
	if len(dangerous) == 0 {
		return DefaultNamePolicy
	}
	p := &NamePolicy{Dangerous: map[string]bool{}}
	for _, e := range dangerous {
		p.Dangerous[strings.ToLower(strings.TrimPrefix(e, "."))] = true
	}
	return p
}

// bidi reports Unicode bidirectional controls, used to make
// "invoice[RLO]fdp.exe" display as "invoiceexe.pdf".
func bidi(r rune) bool {
	switch r {
	case '\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069', '\u200e', '\u200f', '\u061c':
		return true
	}
	return false
}

// Check returns the categories a file name falls in.
func (p *NamePolicy) Check(name string) []string {
	var cats []string
	clean := make([]rune, 0, len(name))
	hasBidi := false
	for _, r := range name {
		if bidi(r) {
			hasBidi = true
			continue
		}
		if r == utf8.RuneError || r < 0x20 {
			continue
		}
		clean = append(clean, r)
	}
	if hasBidi {
		cats = append(cats, CatBidi)
	}
	base := string(clean)
	if i := strings.LastIndexAny(base, `/\`); i >= 0 {
		base = base[i+1:]
	}
	// Windows ignores trailing dots and spaces: "x.exe. " runs as x.exe.
	base = strings.ToLower(strings.TrimRight(base, ". "))
	exts := strings.Split(base, ".")
	if len(exts) < 2 {
		return cats
	}
	last := strings.TrimSpace(exts[len(exts)-1])
	if !p.Dangerous[last] {
		return cats
	}
	cats = append(cats, CatExtension)
	if len(exts) >= 3 {
		prev := strings.TrimSpace(exts[len(exts)-2])
		if prev != "" && len(prev) <= 5 && (p.Decoys == nil || p.Decoys[prev]) {
			cats = append(cats, CatDoubleExtension)
		}
	}
	return cats
}

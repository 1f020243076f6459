package engine

import (
	"fmt"
	"strings"
)

// Limits bound the work and memory of one message's scan. A zero field
// takes its default from DefaultLimits.
type Limits struct {
	// MaxDepth bounds nesting: multipart containers, message/rfc822 parts
	// and archives each add a level (ClamAV's MaxRecursion).
	MaxDepth int `json:"max_depth"`
	// MaxFiles bounds the MIME parts and archive members scanned.
	MaxFiles int `json:"max_files"`
	// MaxFileSize bounds one decoded part or decompressed member.
	MaxFileSize int64 `json:"max_file_size"`
	// MaxTotal bounds every decoded and decompressed byte of the message
	// together; it is what stops an archive bomb.
	MaxTotal int64 `json:"max_total"`
}

// DefaultLimits are ClamAV's defaults, with a lower total.
var DefaultLimits = Limits{MaxDepth: 16, MaxFiles: 1000, MaxFileSize: 32 << 20, MaxTotal: 100 << 20}

// hardMaxDepth caps MaxDepth whatever the configuration says, so the
// recursion of the walker stays shallow.
const hardMaxDepth = 64

func (l Limits) withDefaults() Limits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultLimits.MaxDepth
	}
	l.MaxDepth = min(l.MaxDepth, hardMaxDepth)
	if l.MaxFiles <= 0 {
		l.MaxFiles = DefaultLimits.MaxFiles
	}
	if l.MaxFileSize <= 0 {
		l.MaxFileSize = DefaultLimits.MaxFileSize
	}
	if l.MaxTotal <= 0 {
		l.MaxTotal = DefaultLimits.MaxTotal
	}
	return l
}

// Kind classifies a finding.
type Kind string

const (
	KindVirus     Kind = "virus"     // a signature matched
	KindPolicy    Kind = "policy"    // the attachment policy objects (see Category)
	KindLimit     Kind = "limit"     // a limit stopped the scan; content went unscanned
	KindEncrypted Kind = "encrypted" // an encrypted archive member could not be scanned
)

// Policy categories.
const (
	CatExecutable      = "executable"       // PE, ELF or Mach-O by content
	CatScript          = "script"           // shebang, batch or WSF by content
	CatMacro           = "macro"            // Office document with VBA or Excel 4 macros
	CatExtension       = "extension"        // a dangerous file name extension
	CatDoubleExtension = "double-extension" // "invoice.pdf.exe"
	CatBidi            = "bidi"             // right-to-left override and other bidi controls in a name
)

// Finding is one reason to act on a message.
type Finding struct {
	Kind Kind
	// Name is the signature name, or for other kinds a ClamAV-style
	// heuristic name such as "Heuristics.Limits.Exceeded.MaxTotal".
	Name string
	// Category is the policy category (KindPolicy only).
	Category string
	// Part is the MIME part path (IMAP numbering, as the sluice host
	// numbers parts) of the attachment that holds the finding: the part to
	// strip. "" means the message as a whole.
	Part string
	// Where describes the location for logs: part, file names, archive members.
	Where string
}

// Report is the outcome of scanning one message.
type Report struct {
	Findings []Finding
	Files    int   // parts and archive members scanned
	Bytes    int64 // decoded and decompressed bytes scanned
}

// Has reports whether a finding of kind k exists.
func (r *Report) Has(k Kind) bool {
	for _, f := range r.Findings {
		if f.Kind == k {
			return true
		}
	}
	return false
}

// Scanner scans messages. Its fields are read-only during scans, so one
// Scanner serves concurrent scans.
type Scanner struct {
	DB     *DB
	Limits Limits
	Names  *NamePolicy // nil: DefaultNamePolicy
}

// scan is the state of one message scan.
type scan struct {
	s      *Scanner
	lim    Limits
	rep    *Report
	total  int64
	capped map[string]bool // limit findings already reported, by name
}

// loc is where a file sits: its host-visible part and a readable trail.
type loc struct {
	part  string // nearest part path the host lists ("" for the message)
	trail string
	// hostVisible is false inside content the host does not parse
	// (message/rfc822 parts, archives): parts there are not numbered.
	hostVisible bool
}

func (l loc) child(desc string) loc {
	if l.trail != "" {
		desc = l.trail + " > " + desc
	}
	return loc{part: l.part, trail: desc, hostVisible: l.hostVisible}
}

// ScanMessage scans a whole message (header and body, as received).
func (s *Scanner) ScanMessage(msg []byte) *Report {
	sc := &scan{s: s, lim: s.Limits.withDefaults(), rep: &Report{}, capped: map[string]bool{}}
	sc.message(msg, 0, loc{hostVisible: true})
	return sc.rep
}

// ScanFile scans one file (not a message) named name, e.g. for tests and
// the clamd comparison.
func (s *Scanner) ScanFile(name string, data []byte) *Report {
	sc := &scan{s: s, lim: s.Limits.withDefaults(), rep: &Report{}, capped: map[string]bool{}}
	sc.file(data, name, 0, loc{trail: name})
	return sc.rep
}

func (sc *scan) add(f Finding) { sc.rep.Findings = append(sc.rep.Findings, f) }

// limit records that a limit stopped part of the scan (once per limit and part).
func (sc *scan) limit(what string, l loc) {
	name := "Heuristics.Limits.Exceeded." + what
	if sc.capped[name+"\x00"+l.part] {
		return
	}
	sc.capped[name+"\x00"+l.part] = true
	sc.add(Finding{Kind: KindLimit, Name: name, Part: l.part, Where: l.trail})
}

// account charges n decoded bytes to the message; false if over the limits.
func (sc *scan) account(n int64, l loc) bool {
	if n > sc.lim.MaxFileSize {
		sc.limit("MaxFileSize", l)
		return false
	}
	if sc.total+n > sc.lim.MaxTotal {
		sc.limit("MaxTotal", l)
		return false
	}
	sc.total += n
	return true
}

// file scans one decoded file: signatures, then type, name and contents.
func (sc *scan) file(data []byte, name string, depth int, l loc) {
	if sc.rep.Files >= sc.lim.MaxFiles {
		sc.limit("MaxFiles", l)
		return
	}
	sc.rep.Files++
	sc.rep.Bytes += int64(len(data))
	if sc.s.DB != nil {
		sig, unfinished := sc.s.DB.match(data)
		if sig != "" {
			sc.add(Finding{Kind: KindVirus, Name: sig, Part: l.part, Where: l.trail})
			return
		}
		if unfinished {
			sc.limit("MatchBudget", l)
		}
	}
	names := sc.s.Names
	if names == nil {
		names = DefaultNamePolicy
	}
	if name != "" {
		for _, cat := range names.Check(name) {
			sc.add(Finding{Kind: KindPolicy, Name: "Sluice.Policy." + policyName(cat), Category: cat, Part: l.part, Where: l.trail})
		}
	}
	switch t := sniff(data); t {
	case typeZip:
		sc.zip(data, depth+1, l)
	case typeGzip:
		sc.gzip(data, name, depth+1, l)
	case typeExecutable:
		sc.add(Finding{Kind: KindPolicy, Name: "Sluice.Policy.Executable", Category: CatExecutable, Part: l.part, Where: l.trail})
	case typeScript:
		sc.add(Finding{Kind: KindPolicy, Name: "Sluice.Policy.Script", Category: CatScript, Part: l.part, Where: l.trail})
	case typeOLE2Macro:
		sc.add(Finding{Kind: KindPolicy, Name: "Sluice.Policy.Macro", Category: CatMacro, Part: l.part, Where: l.trail})
	}
}

func policyName(cat string) string {
	switch cat {
	case CatExtension:
		return "DangerousExtension"
	case CatDoubleExtension:
		return "DoubleExtension"
	case CatBidi:
		return "BidiOverride"
	}
	return strings.ToUpper(cat[:1]) + cat[1:]
}

// Summary is a short printable-ASCII description of the findings of kind k
// (names, de-duplicated), at most max bytes.
func (r *Report) Summary(k Kind, limit int) string {
	var names []string
	seen := map[string]bool{}
	for _, f := range r.Findings {
		if f.Kind == k && !seen[f.Name] {
			seen[f.Name] = true
			names = append(names, printable(f.Name))
		}
	}
	s := strings.Join(names, ", ")
	if len(s) > limit {
		s = s[:limit-3] + "..."
	}
	return s
}

// printable keeps printable ASCII, replacing anything else by '?'.
func printable(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}

func (f Finding) String() string {
	if f.Where != "" {
		return fmt.Sprintf("%s %s in %s", f.Kind, f.Name, f.Where)
	}
	return fmt.Sprintf("%s %s", f.Kind, f.Name)
}

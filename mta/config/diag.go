package config

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// FormatDiagnostic renders d on one line as "file:line:col: summary; detail",
// the form compilers use so that editors can jump to the spot. Warnings
// carry "warning: " before the summary.
func FormatDiagnostic(d *hcl.Diagnostic) string {
	var b strings.Builder
	if d.Subject != nil {
		fmt.Fprintf(&b, "%s:%d:%d: ", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
	}
	if d.Severity == hcl.DiagWarning {
		b.WriteString("warning: ")
	}
	b.WriteString(d.Summary)
	if d.Detail != "" {
		b.WriteString("; ")
		b.WriteString(d.Detail)
	}
	return b.String()
}

// WriteDiagnostics writes each diagnostic as FormatDiagnostic does, followed
// by the offending source line with the subject underlined:
//
//	sluice.hcl:3:5: Unsupported argument; An argument named "levle" is not expected here.
//	    3 |   levle = "info"
//	      |   ^^^^^
//
// Source is taken from files when it holds the diagnostic's file, else from
// the embedded default or the file on disk; without it only the first line
// is written. files may be nil.
func WriteDiagnostics(w io.Writer, diags hcl.Diagnostics, files map[string]*hcl.File) error {
	sources := map[string][]byte{}
	for name, f := range files {
		sources[name] = f.Bytes
	}
	for _, d := range diags {
		if _, err := fmt.Fprintln(w, FormatDiagnostic(d)); err != nil {
			return err
		}
		if d.Subject == nil {
			continue
		}
		name := d.Subject.Filename
		src, ok := sources[name]
		if !ok {
			switch {
			case name == DefaultSource:
				src = defaultHCL
			default:
				src, _ = os.ReadFile(name) // best effort: the message stands alone
			}
			sources[name] = src
		}
		if _, err := io.WriteString(w, excerpt(src, *d.Subject)); err != nil {
			return err
		}
	}
	return nil
}

// excerpt returns the source line where r starts and a caret line under the
// part of r on that line, or "" when src does not hold r.
func excerpt(src []byte, r hcl.Range) string {
	start, end := r.Start.Byte, r.End.Byte
	if len(src) == 0 || start < 0 || start > len(src) || end < start {
		return ""
	}
	lineStart := bytes.LastIndexByte(src[:start], '\n') + 1
	lineEnd := len(src)
	if i := bytes.IndexByte(src[start:], '\n'); i >= 0 {
		lineEnd = start + i
	}
	if end > lineEnd {
		end = lineEnd
	}
	line := strings.TrimRight(string(src[lineStart:lineEnd]), "\r")
	if !utf8.ValidString(line) {
		return ""
	}
	// Indent the carets with the line's own tabs so they line up.
	var pad strings.Builder
	for _, c := range string(src[lineStart:start]) {
		if c == '\t' {
			pad.WriteByte('\t')
		} else {
			pad.WriteByte(' ')
		}
	}
	carets := max(1, utf8.RuneCount(src[start:end]))
	gutter := fmt.Sprintf("%5d | ", r.Start.Line)
	return fmt.Sprintf("%s%s\n%s| %s%s\n", gutter, line, strings.Repeat(" ", len(gutter)-2), pad.String(), strings.Repeat("^", carets))
}

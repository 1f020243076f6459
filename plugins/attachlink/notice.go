package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"html"
	"io"
	"mime"
	"mime/quotedprintable"
	"sort"
	"strings"
	"time"

	"github.com/sluice-mail/sluice/sdk"
)

// stored is one attachment taken out of the message.
type stored struct {
	Path        string
	Filename    string
	ContentType string
	Info        sdk.BlobInfo
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

func expiry(s string) string {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return s
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func displayName(a stored) string {
	if a.Filename != "" {
		return a.Filename
	}
	return "attachment " + a.Path
}

// noticeText is the plain-text replacement of one attachment.
func noticeText(a stored) string {
	return fmt.Sprintf("[Attachment moved to a download link: %s]\n\n"+
		"The attachment %q (%s, %s) was removed from this message.\n"+
		"Download it until %s from:\n\n%s\n\nSHA-256: %s\n",
		displayName(a), displayName(a), a.ContentType, humanSize(a.Info.Size),
		expiry(a.Info.Expires), a.Info.URL, a.Info.SHA256)
}

// noticeHTML is its HTML version.
func noticeHTML(a stored) string {
	e := html.EscapeString
	return fmt.Sprintf("<!DOCTYPE html>\n<html><body><div style=\"border:1px solid #999;padding:8px;font-family:sans-serif\">\n"+
		"<p>The attachment <b>%s</b> (%s, %s) was removed from this message.</p>\n"+
		"<p><a href=\"%s\">Download %s</a> until %s.</p>\n"+
		"<p style=\"font-size:smaller\">SHA-256: <code>%s</code></p>\n</div></body></html>\n",
		e(displayName(a)), e(a.ContentType), e(humanSize(a.Info.Size)),
		e(a.Info.URL), e(displayName(a)), e(expiry(a.Info.Expires)), e(a.Info.SHA256))
}

func qp(s string) []byte {
	var b bytes.Buffer
	w := quotedprintable.NewWriter(&b)
	io.WriteString(w, s)
	w.Close()
	return b.Bytes()
}

func boundary() string {
	var b [12]byte
	rand.Read(b[:])
	return "sluice-link-" + hex.EncodeToString(b[:])
}

// entity renders the notice: its header fields (without the blank line)
// and its body, with no line break after the last line (the break before
// the next delimiter belongs to the delimiter).
func entity(a stored, withHTML bool) (header []string, body []byte) {
	text := qp(noticeText(a))
	if !withHTML {
		return []string{
			"Content-Type: text/plain; charset=utf-8",
			"Content-Transfer-Encoding: quoted-printable",
			"Content-Disposition: inline",
		}, bytes.TrimRight(text, "\r\n")
	}
	bd := boundary()
	var b bytes.Buffer
	b.WriteString("--" + bd + "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	b.Write(text)
	b.WriteString("\r\n--" + bd + "\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	b.Write(qp(noticeHTML(a)))
	b.WriteString("\r\n--" + bd + "--")
	return []string{
		"Content-Type: " + mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": bd}),
		"Content-Disposition: inline",
	}, b.Bytes()
}

// rebuild copies body with each replaced part's range (header and
// content) swapped for its notice entity. Only the kept ranges are read.
func rebuild(body io.ReaderAt, size int64, spans []span, repl map[string]stored, withHTML bool) ([]byte, error) {
	type cut struct {
		start, end int64
		data       []byte
	}
	var cuts []cut
	for _, s := range spans {
		a, ok := repl[s.Path]
		if !ok {
			continue
		}
		h, b := entity(a, withHTML)
		cuts = append(cuts, cut{s.HdrStart, s.End, append([]byte(strings.Join(h, "\r\n")+"\r\n\r\n"), b...)})
	}
	sort.Slice(cuts, func(i, j int) bool { return cuts[i].start < cuts[j].start })
	var out bytes.Buffer
	pos := int64(0)
	for _, c := range cuts {
		if c.start < pos {
			return nil, fmt.Errorf("overlapping parts")
		}
		if _, err := io.Copy(&out, io.NewSectionReader(body, pos, c.start-pos)); err != nil {
			return nil, err
		}
		out.Write(c.data)
		pos = c.end
	}
	if _, err := io.Copy(&out, io.NewSectionReader(body, pos, size-pos)); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

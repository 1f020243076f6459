// Package sendmail hands a message that a local program wrote to the relay,
// as sendmail(1) does for cron, PHP's mail() and scripts: it reads the
// message from a stream the way Postfix's sendmail and cleanup do (lines
// ending in LF or CRLF, a lone dot ending it unless -i, Bcc removed, Date,
// Message-ID and From added when missing), takes the recipients from the
// command line and, with -t, from the header, and submits it over SMTP or
// LMTP with go-smtp's client, mapping the outcome to the exit codes of
// sysexits.h that callers of sendmail expect.
//
// It queues nothing itself: Postfix's sendmail drops the message into a
// local maildrop directory that its daemons pick up; sluice has no such
// directory, so when the relay does not answer the message is not taken
// and the caller is told to try again later (EX_TEMPFAIL).
package sendmail

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message/textproto"
)

// ReadOptions say how ReadMessage reads its input.
type ReadOptions struct {
	// IgnoreDots: a line holding a single dot is data, not the end of the
	// message (sendmail's -i and -oi).
	IgnoreDots bool
	// MaxBytes bounds the message as read, CRLF line ends counted (0: no limit).
	MaxBytes int64
}

// ErrTooLarge is returned by ReadMessage for a message over MaxBytes.
var ErrTooLarge = errors.New("message exceeds the relay's max_message_size")

// ReadMessage reads a message as a local program writes it and returns it
// with CRLF line ends, as SMTP carries it. Lines may end in LF or CRLF; the
// last one may lack its end. Without IgnoreDots a line holding a single "."
// ends the message, as sendmail(1) does by default. A leading mailbox
// "From " line (of an mbox file) is dropped, as sendmail does.
//
// A CR elsewhere than before LF is kept: the relay refuses such a message
// (a bare CR is how SMTP smuggling starts), and the caller hears so.
func ReadMessage(r io.Reader, o ReadOptions) ([]byte, error) {
	br := bufio.NewReader(r)
	var out bytes.Buffer
	for first := true; ; first = false {
		line, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return nil, err
		}
		if len(line) == 0 && err == io.EOF {
			break
		}
		line = bytes.TrimSuffix(line, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		switch {
		case !o.IgnoreDots && string(line) == ".":
			return out.Bytes(), nil
		case first && bytes.HasPrefix(line, []byte("From ")):
			continue
		}
		out.Write(line)
		out.WriteString("\r\n")
		if o.MaxBytes > 0 && int64(out.Len()) > o.MaxBytes {
			return nil, ErrTooLarge
		}
		if err == io.EOF {
			break
		}
	}
	return out.Bytes(), nil
}

// Message is a message split into its header, parsed, and its body.
type Message struct {
	Header textproto.Header
	Body   []byte // after the blank line
}

// Parse splits a message read by ReadMessage. The header ends at the first
// empty line or at the first line that is neither a header field nor its
// continuation: that line starts the body, as Postfix's cleanup treats it
// (a program that writes only a body still gets its mail sent).
func Parse(msg []byte) (*Message, error) {
	end, bodyStart := headerEnd(msg)
	h, err := textproto.ReadHeader(bufio.NewReader(io.MultiReader(bytes.NewReader(msg[:end]), strings.NewReader("\r\n"))))
	if err != nil {
		return nil, fmt.Errorf("reading the message header: %w", err)
	}
	return &Message{Header: h, Body: msg[bodyStart:]}, nil
}

// headerEnd returns where the header fields of msg end and the body starts.
func headerEnd(msg []byte) (end, bodyStart int) {
	inField := false
	for i := 0; i < len(msg); {
		n := bytes.Index(msg[i:], []byte("\r\n"))
		if n < 0 {
			n = len(msg) - i
		}
		line := msg[i : i+n]
		switch {
		case len(line) == 0:
			return i, min(i+2, len(msg))
		case line[0] == ' ' || line[0] == '\t':
			if !inField {
				return i, i
			}
		case !isFieldStart(line):
			return i, i
		}
		inField = true
		i += n + 2
	}
	return len(msg), len(msg)
}

// isFieldStart reports whether line starts a header field: a name of
// printable ASCII other than ":" (RFC 5322 section 3.6.8), then ":".
func isFieldStart(line []byte) bool {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return false
	}
	for _, c := range line[:colon] {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

// Bytes returns the message: its header, an empty line, its body.
func (m *Message) Bytes() []byte {
	var b bytes.Buffer
	textproto.WriteHeader(&b, m.Header) // writes "\r\n" after the fields
	b.Write(m.Body)
	return b.Bytes()
}

// HeaderRecipients returns the addresses of the To, Cc and Bcc fields, or
// of Resent-To, Resent-Cc and Resent-Bcc when the message has any of those
// (it is being resent: RFC 5322 section 3.6.6), for sendmail -t. A bare
// user name gets "@" + origin. An empty group ("undisclosed-recipients:;")
// names nobody.
func (m *Message) HeaderRecipients(origin string) ([]string, error) {
	keys := []string{"To", "Cc", "Bcc"}
	for _, k := range []string{"Resent-To", "Resent-Cc", "Resent-Bcc"} {
		if m.Header.Has(k) {
			keys = []string{"Resent-To", "Resent-Cc", "Resent-Bcc"}
		}
	}
	var out []string
	for _, k := range keys {
		for fields := m.Header.FieldsByKey(k); fields.Next(); {
			addrs, err := ParseAddressList(fields.Value(), origin)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out = append(out, addrs...)
		}
	}
	return out, nil
}

// RemoveBcc deletes the Bcc and Resent-Bcc fields: their recipients get the
// message, and nobody learns who they are (RFC 5322 section 3.6.3).
func (m *Message) RemoveBcc() {
	m.Header.Del("Bcc")
	m.Header.Del("Resent-Bcc")
}

// Completion is what AddMissing needs to complete a header.
type Completion struct {
	Now      time.Time
	Hostname string // right of the "@" in Message-ID
	// From is the author for a missing From field: the envelope sender,
	// or the invoking user for the null sender; FullName its display name.
	From, FullName string
}

// AddMissing adds the fields RFC 5322 section 3.6 requires and local
// programs often leave out: Date, From and Message-ID (which it should
// have), as Postfix's cleanup does for local submissions and RFC 6409
// section 8 lets a submission agent do. The relay itself never adds them:
// it also receives mail from other hosts, which must come complete.
func (m *Message) AddMissing(c Completion) {
	if !m.Header.Has("Message-Id") {
		// AddRaw keeps the usual spelling; Add would write "Message-Id".
		m.Header.AddRaw([]byte("Message-ID: <" + newID(c.Now) + "@" + c.Hostname + ">\r\n"))
	}
	if !m.Header.Has("From") {
		m.Header.Add("From", formatAddress(c.FullName, c.From))
	}
	if !m.Header.Has("Date") {
		m.Header.Add("Date", c.Now.Format(time.RFC1123Z))
	}
}

// formatAddress writes name <addr>, the name quoted or RFC 2047-encoded
// as needed.
func formatAddress(name, addr string) string {
	if name == "" {
		return "<" + addr + ">"
	}
	if isPhrase(name) {
		return name + " <" + addr + ">"
	}
	s := (&mail.Address{Name: name, Address: "x@x"}).String()
	return strings.TrimSuffix(s, "<x@x>") + "<" + addr + ">"
}

// isPhrase reports whether name can stand unquoted as a display name:
// words of atext (RFC 5322 section 3.2.3) separated by single spaces.
func isPhrase(name string) bool {
	for _, w := range strings.Split(name, " ") {
		if w == "" {
			return false
		}
		for _, c := range []byte(w) {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0) {
				return false
			}
		}
	}
	return true
}

func newID(now time.Time) string {
	var b [8]byte
	rand.Read(b[:])
	return now.UTC().Format("20060102150405") + "." + hex.EncodeToString(b[:])
}

// addressParser decodes encoded words in display names whatever their
// charset: only the addresses matter here, and an unknown charset in a
// name must not make the recipients unreadable.
var addressParser = &mail.AddressParser{WordDecoder: &mime.WordDecoder{
	CharsetReader: func(_ string, r io.Reader) (io.Reader, error) { return r, nil },
}}

// ParseAddressList returns the addresses of an address list as a header
// field or sendmail's command line gives them: RFC 5322 addresses and
// groups, separated by commas, or bare user names, which get "@" + origin
// (Postfix's append_at_myorigin).
func ParseAddressList(s, origin string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	if list, err := addressParser.ParseList(s); err == nil {
		out := make([]string, len(list))
		for i, a := range list {
			out[i] = a.Address
		}
		return out, nil
	}
	// Not RFC 5322: bare user names ("root"), perhaps in angle brackets.
	var out []string
	for _, item := range strings.Split(s, ",") {
		a := strings.TrimSpace(item)
		if i, j := strings.LastIndexByte(a, '<'), strings.LastIndexByte(a, '>'); i >= 0 && j > i {
			a = a[i+1 : j]
		}
		if a == "" {
			continue
		}
		addr, err := Qualify(a, origin)
		if err != nil {
			return nil, err
		}
		out = append(out, addr)
	}
	return out, nil
}

// Qualify checks a mailbox given on the command line or as a bare user
// name and adds "@" + origin when it has no domain.
func Qualify(a, origin string) (string, error) {
	if !utf8.ValidString(a) || strings.ContainsFunc(a, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '<' || r == '>' || r == ',' }) {
		return "", fmt.Errorf("%q is not an address", a)
	}
	at := strings.LastIndexByte(a, '@')
	switch {
	case at < 0:
		return a + "@" + origin, nil
	case at == 0 || at == len(a)-1:
		return "", fmt.Errorf("%q is not an address", a)
	}
	return a, nil
}

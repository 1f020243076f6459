package smtpd

import (
	"net/textproto"
	"reflect"
	"unsafe"

	"github.com/emersion/go-smtp"
)

// DATA is not a command a client may pipeline past: it must wait for the
// 354 reply before it sends the message (RFC 2920 section 3.1, RFC 5321
// section 4.1.1.4). A client that sends the message with the command is
// not reading the server's replies, which is how spam engines talk, and
// what it sends cannot be trusted to be in step with the dialog. Postfix
// refuses it ("554 5.5.0 Error: improper use of SMTP command pipelining",
// reject_unauth_pipelining) when bytes are already buffered as it reads
// DATA; sluice does the same.
//
// The test is sound, never refusing a client that waited: go-smtp reads
// commands through a bufio.Reader, which reads from the connection only
// when what it holds does not complete the line asked for. So once the
// DATA line has been returned, the buffer holds only bytes that came in
// the same reads as that line, all of them read (hence sent) before the
// server wrote 354. go-smtp calls Data right after writing 354 and before
// reading anything more (handleData, handleDataLMTP), so the count that
// Data sees is that of bytes sent too early. It misses a client whose
// early bytes were still in the kernel's socket buffer, as Postfix does.
// It holds above TLS too: the bufio.Reader reads plaintext.
//
// go-smtp (v0.25) does not expose that reader; bufferedInput reads it from
// the unexported field Conn.text (a *textproto.Conn, whose R is the
// bufio.Reader). textField checks at start-up that the field still exists
// with that type, and the check is skipped if not; TestImproperPipelining
// fails then, so a go-smtp upgrade that moves it is noticed.

var textField = func() (uintptr, bool) {
	f, ok := reflect.TypeFor[smtp.Conn]().FieldByName("text")
	if !ok || f.Type != reflect.TypeFor[*textproto.Conn]() {
		return 0, false
	}
	return f.Offset, true
}

var textOffset, textOK = textField()

// bufferedInput is the number of bytes go-smtp has read from the client
// and not yet consumed; false when it cannot tell. It must run on the
// goroutine that reads the connection, or while that one waits (Data).
func bufferedInput(c *smtp.Conn) (int, bool) {
	if c == nil || !textOK {
		return 0, false
	}
	tp := *(**textproto.Conn)(unsafe.Add(unsafe.Pointer(c), textOffset))
	if tp == nil {
		return 0, false
	}
	if tp.R == nil {
		return 0, false
	}
	return tp.R.Buffered(), true
}

// sentBefore354 reports whether the client sent message data before it
// could have seen the 354 reply to DATA (see above). Not for BDAT, whose
// chunk follows the command by design (RFC 3030).
func (s *session) sentBefore354() bool {
	n, ok := bufferedInput(s.conn)
	return ok && n > 0
}

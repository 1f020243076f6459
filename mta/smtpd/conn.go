package smtpd

import (
	"bytes"
	"crypto/tls"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

// connState is what sluice itself observed about one client connection.
// go-smtp creates the backend session only at HELO/EHLO and does not say
// which verb was used, so this state lives on the net.Conn wrapper and is
// filled in by watching what the server writes.
type connState struct {
	id       string
	listener *listener
	remote   netip.AddrPort // invalid for a unix socket
	// implicitTLS is the TLS connection of an smtps listener, which sluice
	// terminates below go-smtp so that it can still watch the dialog.
	implicitTLS *tls.Conn

	extended atomic.Bool // last greeting was EHLO/LHLO, not HELO
	authUser atomic.Pointer[string]
}

// trackedConn wraps each accepted connection. It runs the connect stage
// before the greeting is written, records HELO vs EHLO from the server's
// reply, and releases the connection-limit slot on Close.
type trackedConn struct {
	net.Conn
	state *connState
	srv   *Server

	greeted  bool // the first write (the greeting) has happened
	sniffing bool // false once STARTTLS starts: later writes are ciphertext
	release  func()
	once     sync.Once
}

// The server's own replies to HELO and EHLO/LHLO, as go-smtp writes them
// (conn.go, handleGreet): the EHLO reply is always multi-line because it
// lists extensions, the HELO reply is a single line with an enhanced code.
var (
	replyEHLO     = []byte("250-Hello ")
	replyHELO     = []byte("250 2.0.0 Hello ")
	replyStartTLS = []byte("220 2.0.0 Ready to start TLS")
)

func (c *trackedConn) Write(p []byte) (int, error) {
	if !c.greeted {
		c.greeted = true
		if reply := c.srv.connectCheck(c.state); reply != nil {
			// Refuse instead of greeting (RFC 5321 section 3.1 allows 554 here).
			c.Conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			c.Conn.Write([]byte(reply.line()))
			c.Conn.Close()
			return 0, net.ErrClosed
		}
	}
	if c.sniffing {
		switch {
		case bytes.HasPrefix(p, replyEHLO):
			c.state.extended.Store(true)
		case bytes.HasPrefix(p, replyHELO):
			c.state.extended.Store(false)
		case bytes.HasPrefix(p, replyStartTLS):
			// STARTTLS is an ESMTP extension: the session is extended,
			// whatever the client sends after the handshake.
			c.state.extended.Store(true)
			c.sniffing = false
		}
	}
	return c.Conn.Write(p)
}

func (c *trackedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// stateOf finds sluice's connection state for a go-smtp connection. After
// STARTTLS go-smtp holds a *tls.Conn around our wrapper.
func stateOf(c *smtp.Conn) *connState {
	nc := c.Conn()
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	if tc, ok := nc.(*trackedConn); ok {
		return tc.state
	}
	return nil
}

// tlsState returns the TLS state of the connection, if any.
func tlsState(c *smtp.Conn, cs *connState) (*tls.ConnectionState, bool) {
	if st, ok := c.TLSConnectionState(); ok {
		return &st, true
	}
	if cs.implicitTLS != nil {
		st := cs.implicitTLS.ConnectionState()
		return &st, st.HandshakeComplete
	}
	return nil, false
}

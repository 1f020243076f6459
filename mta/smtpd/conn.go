package smtpd

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
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
	// authFailures counts wrong passwords on this connection, STARTTLS
	// or not (authlimit.go).
	authFailures atomic.Int32

	// inData is set while the session reads message data (DATA or BDAT):
	// read_timeout then bounds each read, not the whole message, and a
	// timeout is answered 421 (errDataTimeout) as the reply to the data.
	inData atomic.Bool
	// The message's own deadline (startData): dataStart plus data_timeout
	// plus one second for every min_data_rate bytes read since (dataBytes),
	// so a client that trickles a byte every few seconds is cut however
	// short its reads are, while one that keeps min_data_rate never is.
	dataStart   atomic.Int64 // UnixNano
	dataTimeout atomic.Int64 // time.Duration
	dataRate    atomic.Int64 // bytes per second; 0: no extension
	dataBytes   atomic.Int64
	// lastReply makes the next reply the last one: the connection closes
	// after it is written. Set when the client can no longer be read in
	// step (a read timed out, a line was too long, a STARTTLS handshake
	// failed): go-smtp would otherwise read on, and take what the client
	// sends next, message text included, for commands.
	lastReply atomic.Bool
	// noMoreReads makes every read fail: the session has decided to close
	// after its reply (hangUp), and go-smtp must not drain the rest of
	// the client's message meanwhile.
	noMoreReads atomic.Bool
	// bdat is the reader of the last BDAT transfer, until the next MAIL
	// has seen go-smtp close it (session.settleBDAT).
	bdat atomic.Pointer[io.PipeReader]
}

// trackedConn wraps each accepted connection. It runs the connect stage
// before the greeting is written, records HELO vs EHLO from the server's
// reply, releases the connection-limit slot on Close, and makes a read
// timeout final (connState.inData, lastReply).
type trackedConn struct {
	net.Conn
	state *connState
	srv   *Server

	greeted  bool // the first write (the greeting) has happened
	sniffing bool // false once STARTTLS starts: later writes are ciphertext
	release  func()
	once     sync.Once

	idle    time.Duration // read_timeout, for reads of message data
	readMu  sync.Mutex
	readErr error // once a read timed out, every read fails so
}

// The server's own replies to HELO and EHLO/LHLO, as go-smtp writes them
// (conn.go, handleGreet): the EHLO reply is always multi-line because it
// lists extensions, the HELO reply is a single line with an enhanced code.
var (
	replyEHLO     = []byte("250-Hello ")
	replyHELO     = []byte("250 2.0.0 Hello ")
	replyStartTLS = []byte("220 2.0.0 Ready to start TLS")
	// What go-smtp writes, in plaintext, when the STARTTLS handshake
	// fails; it would then read on in plaintext from a client that has
	// switched to TLS. No TLS record starts with '5'.
	replyHandshakeFailed = []byte("550 5.0.0 Handshake error")
)

func (c *trackedConn) Read(p []byte) (int, error) {
	c.readMu.Lock()
	err := c.readErr
	c.readMu.Unlock()
	if err != nil {
		return 0, err
	}
	if c.state.noMoreReads.Load() {
		return 0, net.ErrClosed
	}
	inData := c.state.inData.Load()
	var dataDeadline time.Time // zero: none
	if inData {
		var d time.Time
		if c.idle > 0 {
			d = time.Now().Add(c.idle)
		}
		if dl, ok := c.state.dataDeadline(); ok {
			dataDeadline = dl
			if d.IsZero() || dl.Before(d) {
				d = dl
			}
		}
		c.Conn.SetReadDeadline(d)
	}
	n, err := c.Conn.Read(p)
	if inData {
		c.state.dataBytes.Add(int64(n))
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		// A timeout is final: bytes that arrive later are not read, and
		// the reply go-smtp writes next is the last one.
		if inData {
			// go-smtp passes this back as the reply to DATA or BDAT
			// (it would answer 554 to the bare timeout on BDAT).
			err = errDataTimeout
			if !dataDeadline.IsZero() && !time.Now().Before(dataDeadline) {
				err = errDataDeadline
			}
		}
		c.readMu.Lock()
		c.readErr = err
		c.readMu.Unlock()
		c.state.lastReply.Store(true)
	}
	return n, err
}

// hangUp ends the connection after the reply being made, reading nothing more.
func (cs *connState) hangUp() {
	cs.noMoreReads.Store(true)
	cs.lastReply.Store(true)
}

// startData starts the clock of one message's data (see dataStart).
func (cs *connState) startData(now time.Time, timeout time.Duration, rate int64) {
	cs.dataStart.Store(now.UnixNano())
	cs.dataTimeout.Store(int64(timeout))
	cs.dataRate.Store(rate)
	cs.dataBytes.Store(0)
}

// dataDeadline is when the message's data must be complete, given what
// has been read of it so far; false when there is no data_timeout.
func (cs *connState) dataDeadline() (time.Time, bool) {
	d := time.Duration(cs.dataTimeout.Load())
	if d <= 0 {
		return time.Time{}, false
	}
	if rate := cs.dataRate.Load(); rate > 0 {
		d += time.Duration(float64(cs.dataBytes.Load()) / float64(rate) * float64(time.Second))
	}
	return time.Unix(0, cs.dataStart.Load()).Add(d), true
}

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
	} else if bytes.HasPrefix(p, replyHandshakeFailed) {
		c.state.lastReply.Store(true)
	}
	n, err := c.Conn.Write(p)
	if c.state.lastReply.Load() {
		c.readMu.Lock()
		c.readErr = net.ErrClosed
		c.readMu.Unlock()
		c.Conn.Close()
	}
	return n, err
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

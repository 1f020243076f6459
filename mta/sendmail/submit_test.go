package sendmail

import (
	"errors"
	"io"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// server is a relay whose replies a test chooses: refuse maps a step
// ("mail", "rcpt:ADDR", "data") to the error to answer; maxRcpts answers
// 452 past that many recipients in one transaction.
type server struct {
	refuse   map[string]*smtp.SMTPError
	maxRcpts int

	mu   sync.Mutex
	txns [][]string // recipients of each transaction that got its data accepted
	data []byte
}

func (s *server) NewSession(*smtp.Conn) (smtp.Session, error) { return &serverSession{s: s}, nil }

type serverSession struct {
	s     *server
	rcpts []string
}

func (ss *serverSession) Reset()        { ss.rcpts = nil }
func (ss *serverSession) Logout() error { return nil }
func (ss *serverSession) Mail(string, *smtp.MailOptions) error {
	if e := ss.s.refuse["mail"]; e != nil {
		return e
	}
	return nil
}

func (ss *serverSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if e := ss.s.refuse["rcpt:"+to]; e != nil {
		return e
	}
	if ss.s.maxRcpts > 0 && len(ss.rcpts) >= ss.s.maxRcpts {
		return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 5, 3}, Message: "Too many recipients"}
	}
	ss.rcpts = append(ss.rcpts, to)
	return nil
}

func (ss *serverSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if e := ss.s.refuse["data"]; e != nil {
		return e
	}
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	ss.s.txns = append(ss.s.txns, ss.rcpts)
	ss.s.data = b
	return nil
}

func (ss *serverSession) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	if _, err := io.ReadAll(r); err != nil {
		return err
	}
	for _, to := range ss.rcpts {
		status.SetStatus(to, ss.s.refuse["data:"+to])
	}
	return nil
}

func start(t *testing.T, s *server, lmtp bool) Relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(s)
	srv.Domain = "relay.test"
	srv.LMTP = lmtp
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return Relay{Network: "tcp", Address: ln.Addr().String(), LMTP: lmtp, Hello: "client.test", Timeout: 10 * time.Second}
}

var msg = []byte("Subject: x\r\n\r\n.dot\r\n")

func TestSubmit(t *testing.T) {
	s := &server{}
	r := start(t, s, false)
	if err := Submit(r, Envelope{From: "a@x.test", To: []string{"b@y.test", "c@y.test"}}, msg); err != nil {
		t.Fatal(err)
	}
	if want := [][]string{{"b@y.test", "c@y.test"}}; !reflect.DeepEqual(s.txns, want) {
		t.Errorf("transactions %q, want %q", s.txns, want)
	}
	if string(s.data) != string(msg) {
		t.Errorf("data %q", s.data)
	}
}

// TestSubmit452: recipients refused with 452 go in a further transaction.
func TestSubmit452(t *testing.T) {
	s := &server{maxRcpts: 2}
	r := start(t, s, false)
	if err := Submit(r, Envelope{To: []string{"1@y.test", "2@y.test", "3@y.test", "4@y.test", "5@y.test"}}, msg); err != nil {
		t.Fatal(err)
	}
	if want := [][]string{{"1@y.test", "2@y.test"}, {"3@y.test", "4@y.test"}, {"5@y.test"}}; !reflect.DeepEqual(s.txns, want) {
		t.Errorf("transactions %q, want %q", s.txns, want)
	}
}

func TestSubmitExitCodes(t *testing.T) {
	e := func(code int, enh smtp.EnhancedCode) *smtp.SMTPError {
		return &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: "no"}
	}
	for _, tc := range []struct {
		name   string
		refuse map[string]*smtp.SMTPError
		lmtp   bool
		code   int
		text   string
	}{
		{name: "unknown user", refuse: map[string]*smtp.SMTPError{"rcpt:c@y.test": e(550, smtp.EnhancedCode{5, 1, 1})}, code: ExNoUser, text: "RCPT TO:<c@y.test>"},
		{name: "relay denied", refuse: map[string]*smtp.SMTPError{"rcpt:c@y.test": e(554, smtp.EnhancedCode{5, 7, 1})}, code: ExNoPerm},
		{name: "sender refused", refuse: map[string]*smtp.SMTPError{"mail": e(553, smtp.EnhancedCode{5, 1, 8})}, code: ExDataErr, text: "MAIL FROM"},
		{name: "sender refused by policy", refuse: map[string]*smtp.SMTPError{"mail": e(550, smtp.EnhancedCode{5, 7, 1})}, code: ExNoPerm},
		{name: "queue full", refuse: map[string]*smtp.SMTPError{"mail": e(452, smtp.EnhancedCode{4, 3, 1})}, code: ExTempFail},
		{name: "content refused", refuse: map[string]*smtp.SMTPError{"data": e(554, smtp.EnhancedCode{5, 6, 0})}, code: ExDataErr, text: "end of data"},
		{name: "spam", refuse: map[string]*smtp.SMTPError{"data": e(550, smtp.EnhancedCode{5, 7, 1})}, code: ExNoPerm},
		{name: "filter tempfail", refuse: map[string]*smtp.SMTPError{"data": e(451, smtp.EnhancedCode{4, 3, 0})}, code: ExTempFail},
		{name: "first 452 with nothing accepted", refuse: map[string]*smtp.SMTPError{"rcpt:b@y.test": e(452, smtp.EnhancedCode{4, 5, 3})}, code: ExTempFail},
		{name: "LMTP one mailbox full", lmtp: true, refuse: map[string]*smtp.SMTPError{"data:c@y.test": e(452, smtp.EnhancedCode{4, 2, 2})}, code: ExTempFail},
		{name: "LMTP one refused for good", lmtp: true, refuse: map[string]*smtp.SMTPError{
			"data:b@y.test": e(452, smtp.EnhancedCode{4, 2, 2}), "data:c@y.test": e(550, smtp.EnhancedCode{5, 6, 0})}, code: ExDataErr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &server{refuse: tc.refuse}
			r := start(t, s, tc.lmtp)
			err := Submit(r, Envelope{From: "a@x.test", To: []string{"b@y.test", "c@y.test"}}, msg)
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("err %v, want an *Error", err)
			}
			if se.Code != tc.code || !strings.Contains(se.Error(), tc.text) {
				t.Errorf("code %d %q, want %d and %q", se.Code, se.Error(), tc.code, tc.text)
			}
			if !tc.lmtp && len(s.txns) != 0 {
				t.Errorf("a refused submission delivered %q", s.txns)
			}
		})
	}
}

func TestSubmitRelayDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	err = Submit(Relay{Network: "tcp", Address: addr, Hello: "c"}, Envelope{To: []string{"b@y.test"}}, msg)
	var se *Error
	if !errors.As(err, &se) || se.Code != ExTempFail {
		t.Fatalf("err %v, want exit code %d", err, ExTempFail)
	}
	err = Submit(Relay{Network: "unix", Address: t.TempDir() + "/none.sock", Hello: "c"}, Envelope{To: []string{"b@y.test"}}, msg)
	if !errors.As(err, &se) || se.Code != ExTempFail {
		t.Fatalf("unix: err %v, want exit code %d", err, ExTempFail)
	}
}

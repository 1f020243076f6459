package main

// End-to-end tests of delivery status notifications and retries through
// the real binary: DSN parameters in (RFC 3461), passed on or reported,
// tempfail-then-accept retries, bounces, delay warnings and per-domain
// give_up_after. Reports land in a Maildir and are parsed.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-smtp"

	"github.com/sluice-mail/sluice/internal/relaytest"
)

// paramSink is a next hop that records each message with the DSN
// parameters it came with, and answers RCPT as rcpt says (nil: accept).
type paramSink struct {
	addr string                       // where it listens
	rcpt func(to string, n int) error // n: how many times to was given before

	mu    sync.Mutex
	tries map[string]int
	msgs  []paramMsg
}

type paramMsg struct {
	mail  string            // "RET=... ENVID=..."
	rcpts map[string]string // address -> "NOTIFY=... ORCPT=..."
}

func startParamSink(t *testing.T, dsn bool, rcpt func(string, int) error) *paramSink {
	t.Helper()
	s := &paramSink{rcpt: rcpt, tries: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0") // a port of its own: no race with other tests for a free one
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &paramSession{s: s}, nil }))
	srv.Domain = "sink.e2e.test"
	srv.EnableDSN = dsn
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *paramSink) received() []paramMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]paramMsg(nil), s.msgs...)
}

type paramSession struct {
	s   *paramSink
	cur paramMsg
}

func (ps *paramSession) Reset()        { ps.cur = paramMsg{} }
func (ps *paramSession) Logout() error { return nil }
func (ps *paramSession) Mail(_ string, o *smtp.MailOptions) error {
	ps.cur = paramMsg{rcpts: map[string]string{}}
	if o != nil {
		ps.cur.mail = fmt.Sprintf("RET=%s ENVID=%s", o.Return, o.EnvelopeID)
	}
	return nil
}
func (ps *paramSession) Rcpt(to string, o *smtp.RcptOptions) error {
	ps.s.mu.Lock()
	n := ps.s.tries[to]
	ps.s.tries[to]++
	ps.s.mu.Unlock()
	if ps.s.rcpt != nil {
		if err := ps.s.rcpt(to, n); err != nil {
			return err
		}
	}
	ps.cur.rcpts[to] = ""
	if o != nil {
		ps.cur.rcpts[to] = fmt.Sprintf("NOTIFY=%v ORCPT=%s;%s", o.Notify, o.OriginalRecipientType, o.OriginalRecipient)
	}
	return nil
}
func (ps *paramSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	ps.s.mu.Lock()
	ps.s.msgs = append(ps.s.msgs, ps.cur)
	ps.s.mu.Unlock()
	return nil
}

// report is a delivery status notification read back from a Maildir.
type report struct {
	subject    string
	perMessage textproto.Header
	perRcpt    map[string]textproto.Header // by Final-Recipient address
	returned   string                      // Content-Type of the third part
}

// reports parses every message in the Maildir dir/new.
func reports(t *testing.T, dir string) []report {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "new"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []report
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join(dir, "new", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m, err := message.Read(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		rep := report{subject: m.Header.Get("Subject"), perRcpt: map[string]textproto.Header{}}
		if mt, params, _ := m.Header.ContentType(); mt != "multipart/report" || params["report-type"] != "delivery-status" {
			t.Fatalf("%s is not a delivery status notification: %s %v", e.Name(), mt, params)
		}
		mr := m.MultipartReader()
		for i := 0; ; i++ {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			ct, _, _ := p.Header.ContentType()
			switch i {
			case 1:
				br := bufio.NewReader(p.Body)
				if rep.perMessage, err = textproto.ReadHeader(br); err != nil {
					t.Fatal(err)
				}
				for {
					if _, err := br.Peek(1); err == io.EOF {
						break
					}
					h, err := textproto.ReadHeader(br)
					if err != nil {
						t.Fatal(err)
					}
					_, addr, _ := strings.Cut(h.Get("Final-Recipient"), "; ")
					rep.perRcpt[addr] = h
				}
			case 2:
				rep.returned = ct
			}
		}
		out = append(out, rep)
	}
	return out
}

func keys(m map[string]textproto.Header) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

// sendDSN sends one message with the DSN parameters given (go-smtp's
// client sends them only to a server that offers DSN).
func sendDSN(t *testing.T, addr, from string, mail *smtp.MailOptions, rcpts map[string]*smtp.RcptOptions) {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.e2e.test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("DSN"); !ok {
		t.Fatal("EHLO does not offer DSN")
	}
	if err := c.Mail(from, mail); err != nil {
		t.Fatalf("MAIL: %v", err)
	}
	var order []string
	for rc := range rcpts {
		order = append(order, rc)
	}
	sort.Strings(order)
	for _, rc := range order {
		if err := c.Rcpt(rc, rcpts[rc]); err != nil {
			t.Fatalf("RCPT %s: %v", rc, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "From: <"+from+">\r\nSubject: dsn e2e\r\n\r\nhello\r\n")
	if err := w.Close(); err != nil {
		t.Fatalf("end of data: %v", err)
	}
	c.Quit()
}

// TestDSNEndToEnd: a client's RET, ENVID, NOTIFY and ORCPT are accepted;
// an SMTP next hop that offers DSN receives them and reports success
// itself; for one without DSN sluice reports "relayed", for a Maildir
// "delivered", each with the ORCPT and ENVID given; NOTIFY=NEVER silences
// a failure.
func TestDSNEndToEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen := relaytest.FreeAddr(t)
	dsnSink := startParamSink(t, true, nil)
	plainSink := startParamSink(t, false, func(to string, _ int) error {
		if strings.HasPrefix(to, "gone@") {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		return nil
	})
	cfg := writeConfig(t, dir, fmt.Sprintf(`hostname = "relay.e2e.test"
data_dir = "./data"
limits {
  shutdown_grace = "1s"
}
listener "smtp" {
  address = %q
}
domain "dsn.test" {
  deliver "smtp" {
    address = %q
    tls     = "none"
  }
}
domain "plain.test" {
  deliver "smtp" {
    address = %q
    tls     = "none"
  }
}
domain "sender.test" {
  deliver "maildir" {}
}
`, listen, dsnSink.addr, plainSink.addr))
	p := startSluice(t, dir, "serve", "-config", cfg)
	p.waitListening(listen)

	success := []smtp.DSNNotify{smtp.DSNNotifySuccess, smtp.DSNNotifyFailure}
	orcpt := func(addr string) *smtp.RcptOptions {
		return &smtp.RcptOptions{Notify: success, OriginalRecipientType: smtp.DSNAddressTypeRFC822, OriginalRecipient: addr}
	}
	sendDSN(t, listen, "alice@sender.test", &smtp.MailOptions{Return: smtp.DSNReturnHeaders, EnvelopeID: "e2e-envid-1"},
		map[string]*smtp.RcptOptions{
			"a@dsn.test":      orcpt("list-a@example.org"),
			"b@plain.test":    orcpt("list-b@example.org"),
			"c@sender.test":   {Notify: success},
			"gone@plain.test": {Notify: []smtp.DSNNotify{smtp.DSNNotifyNever}},
		})

	queueDir := filepath.Join(dir, "data", "queue")
	box := filepath.Join(dir, "data", "maildir", "sender.test", "alice")
	// Each outcome is reported once, as soon as it is known: one report,
	// or one per destination when they finish apart.
	reported := map[string]textproto.Header{}
	var reps []report
	poll(t, "the reports and an empty queue", func() bool {
		if len(queueFiles(t, queueDir)) != 0 {
			return false
		}
		reps = reports(t, box)
		n := 0
		for _, r := range reps {
			n += len(r.perRcpt)
		}
		return n >= 2
	})
	if code := p.signal(syscall.SIGTERM); code != 0 {
		t.Errorf("exit code after SIGTERM: %d", code)
	}

	got := dsnSink.received()
	if len(got) != 1 || got[0].mail != "RET=HDRS ENVID=e2e-envid-1" ||
		got[0].rcpts["a@dsn.test"] != "NOTIFY=[SUCCESS FAILURE] ORCPT=RFC822;list-a@example.org" {
		t.Errorf("the DSN next hop got %+v, want the client's parameters", got)
	}
	if got := plainSink.received(); len(got) != 1 || len(got[0].rcpts) != 1 {
		t.Errorf("the plain next hop got %+v, want one message for b@", got)
	}
	n := 0
	for _, r := range reps {
		if r.subject != "Successful Mail Delivery Report" || r.perMessage.Get("Original-Envelope-Id") != "e2e-envid-1" ||
			r.returned != "text/rfc822-headers" {
			t.Errorf("report %q %v, returning %s", r.subject, r.perMessage.Map(), r.returned)
		}
		for addr, h := range r.perRcpt {
			reported[addr] = h
			n++
		}
	}
	// a@'s next hop reports itself, gone@ said NEVER.
	if keys(reported) != "b@plain.test,c@sender.test" || n != 2 {
		t.Fatalf("reports to alice name %s (%d in all), want b@plain.test and c@sender.test once each", keys(reported), n)
	}
	if b := reported["b@plain.test"]; b.Get("Action") != "relayed" || b.Get("Status") != "2.0.0" ||
		b.Get("Original-Recipient") != "RFC822;list-b@example.org" {
		t.Errorf("b@plain.test: %v", b.Map())
	}
	if c := reported["c@sender.test"]; c.Get("Action") != "delivered" || c.Get("Status") != "2.0.0" {
		t.Errorf("c@sender.test: %v", c.Map())
	}
}

// TestRetriesBouncesDelays: a next hop that tempfails a recipient three
// times and then accepts gets the message once, after retries on the
// configured schedule; the sender gets a delay warning for it after
// delay_warning, and the bounce of a recipient refused with 550 at once,
// without waiting for the other. A domain with a short give_up_after
// bounces its recipient as expired (4.4.7) while a recipient of the same
// message on the queue's longer schedule stays queued.
func TestRetriesBouncesDelays(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen, deadHop := relaytest.FreeAddr(t), relaytest.FreeAddr(t)
	flaky := startParamSink(t, false, func(to string, n int) error {
		switch {
		case strings.HasPrefix(to, "gone@"):
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		case n < 3:
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "not now"}
		}
		return nil
	})
	cfg := writeConfig(t, dir, fmt.Sprintf(`hostname = "relay.e2e.test"
data_dir = "./data"
limits {
  shutdown_grace = "1s"
}
queue {
  retry_min     = "1s"
  retry_max     = "1s"
  delay_warning = "1s"
}
listener "smtp" {
  address = %q
}
domain "flaky.test" {
  deliver "smtp" {
    address = %q
    tls     = "none"
  }
}
domain "dead.test" {
  give_up_after = "2s"
  deliver "smtp" {
    address = %q
    tls     = "none"
  }
}
domain "slow.test" {
  deliver "smtp" {
    address = %q
    tls     = "none"
  }
}
domain "sender.test" {
  deliver "maildir" {}
}
`, listen, flaky.addr, deadHop, deadHop))
	p := startSluice(t, dir, "serve", "-config", cfg)
	p.waitListening(listen)

	send := func(from string, rcpts ...string) {
		m := map[string]*smtp.RcptOptions{}
		for _, r := range rcpts {
			m[r] = nil
		}
		sendDSN(t, listen, from, nil, m)
	}
	send("alice@sender.test", "x@flaky.test", "gone@flaky.test")
	send("bob@sender.test", "z@dead.test", "w@slow.test")

	aliceBox := filepath.Join(dir, "data", "maildir", "sender.test", "alice")
	bobBox := filepath.Join(dir, "data", "maildir", "sender.test", "bob")
	var expired report
	poll(t, "the bounce of z@dead.test", func() bool {
		for _, r := range reports(t, bobBox) {
			if z, ok := r.perRcpt["z@dead.test"]; ok && z.Get("Action") == "failed" {
				expired = r
				return true
			}
		}
		return false
	})
	if z := expired.perRcpt["z@dead.test"]; z.Get("Status") != "4.4.7" || len(expired.perRcpt) != 1 {
		t.Errorf("bounce of z@dead.test: %v for %s, want status 4.4.7 (expired) for it alone", z.Map(), keys(expired.perRcpt))
	}
	code, out, errs := sluice(t, "queue", "-config", cfg, "list")
	if code != 0 || !strings.Contains(out, "queued     <w@slow.test>") {
		t.Errorf("w@slow.test is not queued after z@dead.test expired: %d\n%s%s", code, out, errs)
	}

	poll(t, "x@flaky.test delivered", func() bool { return len(flaky.received()) > 0 })
	poll(t, "alice's two reports", func() bool { return len(reports(t, aliceBox)) >= 2 })
	if code := p.signal(syscall.SIGTERM); code != 0 {
		t.Errorf("exit code after SIGTERM: %d", code)
	}
	if got := flaky.received(); len(got) != 1 || len(got[0].rcpts) != 1 {
		t.Errorf("flaky next hop got %+v, want one message, for x@ alone", got)
	}
	flaky.mu.Lock()
	tries := flaky.tries["x@flaky.test"]
	flaky.mu.Unlock()
	if tries != 4 {
		t.Errorf("x@flaky.test was tried %d times, want 4 (three 451, then 250)", tries)
	}
	actions := map[string]string{}
	for _, r := range reports(t, aliceBox) {
		for addr, h := range r.perRcpt {
			actions[addr] += h.Get("Action") + " " + h.Get("Status") + ";"
		}
	}
	if actions["gone@flaky.test"] != "failed 5.1.1;" || actions["x@flaky.test"] != "delayed 4.3.2;" || len(actions) != 2 {
		t.Errorf("alice's reports: %v, want gone@ failed 5.1.1 and x@ delayed 4.3.2, once each", actions)
	}
}

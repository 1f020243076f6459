package deliver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sluice-mail/sluice/sdk/mailbox"
)

// maildir delivers finally into one Maildir per recipient, following
// https://cr.yp.to/proto/maildir.html: write into tmp/, fsync, rename into
// new/, so that a reader never sees a partial message.
type maildir struct {
	template string
	dataDir  string
	host     string // Hostname escaped for use in file names
	log      hclog.Logger
}

// deliveries numbers deliveries within this process (the "Q" field).
var deliveries atomic.Uint64

func newMaildir(template string, opts Options) *maildir {
	// The spec asks to encode '/' and ':' in the host part of the name.
	host := strings.NewReplacer("/", `\057`, ":", `\072`).Replace(opts.Hostname)
	return &maildir{template: template, dataDir: opts.DataDir, host: host, log: opts.Logger.Named("maildir")}
}

func (m *maildir) Close() error { return nil }

func (m *maildir) Deliver(ctx context.Context, msg *Message, rcpts []string) []Result {
	out := make([]Result, len(rcpts))
	for i, rcpt := range rcpts {
		if err := ctx.Err(); err != nil {
			out[i] = classify(ctx, rcpt, "maildir", err)
			continue
		}
		out[i] = m.deliverOne(msg, rcpt)
		m.log.Debug("delivered", "id", msg.ID, "rcpt", rcpt, "result", out[i].String())
	}
	return out
}

// dir expands the path template for rcpt, refusing any recipient whose
// local part or domain could name a path outside its own directory.
func (m *maildir) dir(rcpt string) (string, error) {
	local, domain, ok := splitAddress(rcpt)
	if !ok {
		return "", localErr(550, "5.1.3", "recipient %q is not local@domain", rcpt)
	}
	local, domain = strings.ToLower(local), strings.ToLower(domain)
	for _, part := range []string{local, domain} {
		if !safePathElement(part) {
			return "", localErr(550, "5.1.3", "recipient %q cannot be stored in a maildir", rcpt)
		}
	}
	return strings.NewReplacer("{data_dir}", m.dataDir, "{domain}", domain, "{local}", local).Replace(m.template), nil
}

// safePathElement accepts a string that stays one directory name.
func safePathElement(s string) bool {
	if s == "" || s[0] == '.' || strings.Contains(s, "..") || strings.ContainsAny(s, "/\\\x00") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// CheckRecipient implements RecipientChecker with the checks deliverOne
// makes of the recipient.
func (m *maildir) CheckRecipient(rcpt string) error {
	if !mailbox.Valid(rcpt) {
		return localErr(550, "5.1.3", "recipient address contains forbidden characters")
	}
	_, err := m.dir(rcpt)
	return err
}

func (m *maildir) deliverOne(msg *Message, rcpt string) Result {
	if !mailbox.Valid(rcpt) {
		return classify(context.Background(), rcpt, "maildir", localErr(550, "5.1.3", "recipient address contains forbidden characters"))
	}
	if !validSender(msg.From) {
		return classify(context.Background(), rcpt, "maildir", localErr(550, "5.1.7", "sender address contains forbidden characters"))
	}
	dir, err := m.dir(rcpt)
	if err != nil {
		return classify(context.Background(), rcpt, "maildir", err)
	}
	name, err := m.store(dir, msg, rcpt)
	if err != nil {
		code, enh := 451, "4.3.0"
		if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
			code, enh = 452, "4.3.1"
		}
		return Result{Rcpt: rcpt, Code: code, Enhanced: enh, Text: cleanText("maildir: " + err.Error())}
	}
	return Result{Rcpt: rcpt, Code: 250, Enhanced: "2.0.0", Text: "delivered to maildir as " + name}
}

// store writes one copy and returns its file name in new/.
func (m *maildir) store(dir string, msg *Message, rcpt string) (string, error) {
	for _, sub := range []string{"tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return "", err
		}
	}
	name, err := m.uniqueName()
	if err != nil {
		return "", err
	}
	tmp := filepath.Join(dir, "tmp", name)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	if err := writeCopy(f, msg, rcpt); err != nil {
		f.Close()
		os.Remove(tmp)
		return "", err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return "", err
	}
	if err := os.Rename(tmp, filepath.Join(dir, "new", name)); err != nil {
		os.Remove(tmp)
		return "", err
	}
	// The rename is durable only once the directory itself is synced.
	return name, syncDir(filepath.Join(dir, "new"))
}

// writeCopy writes the trace fields of final delivery (RFC 5321 §4.4:
// the delivering MTA adds Return-Path) and then the message unchanged.
func writeCopy(f *os.File, msg *Message, rcpt string) error {
	if _, err := fmt.Fprintf(f, "Return-Path: <%s>\r\nDelivered-To: %s\r\n", msg.From, rcpt); err != nil {
		return err
	}
	body, err := msg.Open()
	if err != nil {
		return fmt.Errorf("open spooled message: %w", err)
	}
	defer body.Close()
	if _, err := io.Copy(f, body); err != nil {
		return err
	}
	return f.Sync()
}

// uniqueName follows the Maildir spec: seconds, then M(microseconds),
// P(pid), Q(delivery counter) and R(random) for uniqueness, then the host.
func (m *maildir) uniqueName() (string, error) {
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", err
	}
	now := time.Now()
	return fmt.Sprintf("%d.M%dP%dQ%dR%s.%s", now.Unix(), now.Nanosecond()/1000, os.Getpid(),
		deliveries.Add(1), hex.EncodeToString(rnd[:]), m.host), nil
}

func syncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

package smtpd

import (
	"context"
	"net/netip"
	"strconv"
	"strings"

	"github.com/sluice-mail/sluice/mta/queue"
	"github.com/sluice-mail/sluice/mta/routing"
	"github.com/sluice-mail/sluice/plugin"
)

// Delivered runs the delivered stage (RFC 4496 logging) for a message whose
// recipients all reached a final state. The queue calls it through
// queue.Options.Finished, after any DSN is queued and before the spool
// files are removed; filters see outcomes, size and metadata, never the
// body. It runs the current chain of the domain block of the message's
// first recipient.
func (f *Filters) Delivered(env *queue.Envelope) {
	if len(env.Recipients) == 0 {
		return
	}
	fc := f.acquire()
	defer fc.release()
	d, _ := routing.Lookup(fc.cfg, routing.Domain(env.Recipients[0].Addr))
	if d == nil {
		return
	}
	c := fc.chain(d.Name)
	if c.Empty() {
		return
	}
	ip, _ := netip.ParseAddr(env.ClientIP)
	t := &plugin.Txn{
		Session:    &plugin.Session{ClientIP: ip, Listener: env.Listener, Helo: env.Helo, AuthUser: env.AuthUser},
		QueueID:    env.ID,
		From:       env.From,
		MailParams: map[string]string{"SIZE": strconv.FormatInt(env.Size, 10)},
	}
	outcomes := make([]plugin.Outcome, 0, len(env.Recipients))
	for _, r := range env.Recipients {
		t.Recipients = append(t.Recipients, plugin.Recipient{Addr: r.Addr})
		code, enh, text := splitReply(r.LastReply)
		outcomes = append(outcomes, plugin.Outcome{Rcpt: r.Addr, Code: code, Enhanced: enh, Text: text,
			Delivered: r.State == queue.StateDelivered, Permanent: r.State == queue.StateFailed})
	}
	c.Delivered(context.Background(), t, outcomes)
}

// splitReply parses "250 2.0.0 text" as the queue records a last reply.
func splitReply(s string) (code int, enhanced, text string) {
	f := strings.SplitN(s, " ", 3)
	if len(f) > 0 {
		if n, err := strconv.Atoi(f[0]); err == nil && n >= 200 && n < 600 {
			code, f = n, f[1:]
		}
	}
	if code != 0 && len(f) > 0 && strings.Count(f[0], ".") == 2 && f[0][0] >= '2' && f[0][0] <= '5' {
		enhanced, f = f[0], f[1:]
	}
	return code, enhanced, strings.Join(f, " ")
}

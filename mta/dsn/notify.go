package dsn

import (
	"fmt"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/sluice-mail/sluice/mta/queue"
)

// Sender decides which notifications a queued message calls for (RFC 3461
// NOTIFY) and commits them to the queue, addressed to the envelope sender
// with the null reverse-path, so they are routed and retried like any other
// message. It implements queue.Notifier.
type Sender struct {
	Hostname string
	// MaxFull caps the original returned with RET=FULL (default DefaultMaxFull).
	MaxFull int64
	Logger  hclog.Logger
}

var _ queue.Notifier = (*Sender)(nil)

// wants reports whether a recipient's NOTIFY asks for kind (SUCCESS,
// FAILURE or DELAY). Without NOTIFY we report failures and delays
// (RFC 3461 section 4.1 leaves DELAY to the MTA).
func wants(notify []string, kind string) bool {
	if len(notify) == 0 {
		return kind == "FAILURE" || kind == "DELAY"
	}
	for _, n := range notify {
		if strings.EqualFold(n, "NEVER") {
			return false
		}
	}
	for _, n := range notify {
		if strings.EqualFold(n, kind) {
			return true
		}
	}
	return false
}

// Finished implements queue.Notifier: of the recipients not reported yet,
// a bounce for failed ones and a success report for delivered ones that
// asked for it (RFC 3461 section 5.2): "delivered" into a mailbox,
// "relayed" to an SMTP server without DSN, and none from us when the next
// hop offered DSN and was given the request, since reporting is then its
// job.
func (s *Sender) Finished(q *queue.Queue, env *queue.Envelope, msgPath string) error {
	var rs []Recipient
	for _, r := range env.Recipients {
		var a Action
		switch {
		case r.Reported:
			continue // in an earlier report
		case r.State == queue.StateFailed && wants(r.Notify, "FAILURE"):
			a = Failed
		case r.State == queue.StateDelivered && wants(r.Notify, "SUCCESS") && !r.DSNPassed:
			a = Delivered
			if r.Relayed {
				a = Relayed
			}
		default:
			continue
		}
		rs = append(rs, Recipient{Addr: r.Addr, ORcpt: r.ORcpt, Action: a, Reply: r.LastReply, LastAttempt: r.LastAttempt})
	}
	return s.send(q, env, msgPath, rs)
}

// Delayed implements queue.Notifier: a warning for the recipients still
// queued that did not opt out of it, each with the time its schedule gives
// up (Will-Retry-Until).
func (s *Sender) Delayed(q *queue.Queue, env *queue.Envelope, msgPath string) error {
	var rs []Recipient
	for _, r := range env.Recipients {
		if r.State.Final() || !wants(r.Notify, "DELAY") {
			continue
		}
		rs = append(rs, Recipient{Addr: r.Addr, ORcpt: r.ORcpt, Action: Delayed, Reply: r.LastReply, LastAttempt: r.LastAttempt,
			WillRetryUntil: env.Created.Add(q.Schedule(r).GiveUpAfter)})
	}
	return s.send(q, env, msgPath, rs)
}

func (s *Sender) send(q *queue.Queue, env *queue.Envelope, msgPath string, rs []Recipient) error {
	// Never answer the null sender: that is how bounce loops start
	// (RFC 5321 section 4.5.5, RFC 3461 section 6.2).
	if env.From == "" || len(rs) == 0 {
		return nil
	}
	f, err := queue.OpenData(msgPath, env.Size)
	if err != nil {
		return fmt.Errorf("dsn: %w", err)
	}
	defer f.Close()
	in, err := q.NewMessage()
	if err != nil {
		return err
	}
	res, err := Build(in, &Report{
		Hostname: s.Hostname, To: env.From, EnvID: env.DSNEnvID, Arrival: env.Created,
		ReceivedFrom: env.Helo, Recipients: rs, Return: env.DSNRet, MaxFull: s.MaxFull,
	}, f)
	if err != nil {
		in.Abort()
		return err
	}
	report := &queue.Envelope{
		From:       "",
		Recipients: []*queue.Recipient{{Addr: env.From}},
		UTF8:       res.UTF8 || env.UTF8 && res.EightBit,
		EightBit:   res.EightBit,
	}
	if err := q.Commit(in, report); err != nil {
		return err
	}
	if s.Logger != nil {
		s.Logger.Info("delivery status notification queued", "id", env.ID, "dsn_id", report.ID,
			"to", env.From, "action", string(rs[0].Action), "recipients", len(rs))
	}
	return nil
}

// Package routing decides, for each recipient, which domain block of the
// configuration applies and hence how its mail is delivered.
package routing

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/sluice-mail/sluice/mta/config"
	"github.com/sluice-mail/sluice/mta/deliver"
	"github.com/sluice-mail/sluice/mta/queue"
)

// Table is built once from the configuration; it is safe for concurrent use.
type Table struct {
	cfg        *config.Config
	transports map[string]deliver.Transport // by domain block name ("*" for the catch-all)
}

// ErrNoRoute is returned for a domain that is neither served nor covered by a catch-all.
var ErrNoRoute = errors.New("no route for this domain")

// New creates one transport per domain block.
func New(cfg *config.Config, opts deliver.Options) (*Table, error) {
	t := &Table{cfg: cfg, transports: map[string]deliver.Transport{}}
	for _, d := range cfg.Domains {
		tr, err := deliver.New(d.Deliver, opts)
		if err != nil {
			t.Close()
			return nil, fmt.Errorf("domain %q: %w", d.Name, err)
		}
		t.transports[d.Name] = tr
	}
	return t, nil
}

// Domain returns the part of addr after the last '@', lower-cased.
func Domain(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return strings.ToLower(strings.TrimSuffix(addr[i+1:], "."))
}

// CheckRecipient asks the transport of domain block d whether it could
// ever deliver to addr (deliver.RecipientChecker); nil when it can, or
// when the transport cannot tell before trying.
func (t *Table) CheckRecipient(d *config.Domain, addr string) error {
	if c, ok := t.transports[d.Name].(deliver.RecipientChecker); ok {
		return c.CheckRecipient(addr)
	}
	return nil
}

// Lookup returns the domain block for a recipient domain: the served domain
// itself (local is true), else the catch-all (local is false), else nil.
func (t *Table) Lookup(domain string) (d *config.Domain, local bool) {
	return Lookup(t.cfg, domain)
}

// Lookup is Table.Lookup in cfg, for those that hold a configuration but
// no table (the delivered stage picks its chain by it).
func Lookup(cfg *config.Config, domain string) (d *config.Domain, local bool) {
	if d, ok := cfg.Domain(domain); ok {
		return d, true
	}
	return cfg.CatchAll(), false
}

// Route implements queue.Router.
func (t *Table) Route(r *queue.Recipient) (string, deliver.Transport, error) {
	d, err := t.block(r)
	if err != nil {
		return "", nil, err
	}
	return deliver.DestinationKey(d.Deliver, Domain(r.Addr)), t.transports[d.Name], nil
}

// Schedule implements queue.Scheduler: the retry schedule of the domain
// block r is routed through (zero, the queue's, when there is none).
func (t *Table) Schedule(r *queue.Recipient) queue.Schedule {
	d, err := t.block(r)
	if err != nil {
		return queue.Schedule{}
	}
	min, max, giveUp := t.cfg.Schedule(d)
	return queue.Schedule{RetryMin: min, RetryMax: max, GiveUpAfter: giveUp}
}

// block returns the domain block whose delivery r uses: the one a filter
// rerouted it to, else its domain's (or the catch-all).
func (t *Table) block(r *queue.Recipient) (*config.Domain, error) {
	var d *config.Domain
	if r.Route != "" {
		if r.Route == "*" {
			d = t.cfg.CatchAll()
		} else {
			d, _ = t.cfg.Domain(r.Route)
		}
		if d == nil {
			return nil, fmt.Errorf("reroute target %q is not a configured domain", r.Route)
		}
	} else {
		d, _ = t.Lookup(Domain(r.Addr))
	}
	if d == nil {
		return nil, ErrNoRoute
	}
	return d, nil
}

// Close closes every transport's cached connections.
func (t *Table) Close() error {
	var errs []error
	for _, tr := range t.transports {
		errs = append(errs, tr.Close())
	}
	return errors.Join(errs...)
}

// Switch is the queue's Router across configuration reloads: it routes
// with the current Table. Messages already scheduled keep the transport
// they were given; new and retried scheduling uses the new table.
type Switch struct {
	cur atomic.Pointer[Table]
}

// NewSwitch starts with t.
func NewSwitch(t *Table) *Switch {
	s := &Switch{}
	s.cur.Store(t)
	return s
}

// Set makes t current and returns the previous table.
func (s *Switch) Set(t *Table) *Table { return s.cur.Swap(t) }

// Current returns the table in use.
func (s *Switch) Current() *Table { return s.cur.Load() }

// Route implements queue.Router.
func (s *Switch) Route(r *queue.Recipient) (string, deliver.Transport, error) {
	return s.cur.Load().Route(r)
}

// Schedule implements queue.Scheduler with the current table.
func (s *Switch) Schedule(r *queue.Recipient) queue.Schedule {
	return s.cur.Load().Schedule(r)
}

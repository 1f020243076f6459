package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluice-mail/sluice/mta/control"
	"github.com/sluice-mail/sluice/mta/queue"
)

const queueUsage = `usage: sluice queue [-config FILE] [-json] COMMAND
  list               every queued message: age, sender, recipients and their state
  show ID            one message's envelope and header
  flush [ID]         try ID (or every message) now
  hold ID            stop delivery attempts for ID until released
  release ID         resume delivery of a held message
  delete [-bounce] ID  remove ID; with -bounce its pending recipients fail and the sender is told
Talks to the running server through <data_dir>/control.sock, or works on the
spool directly when the server is stopped.
`

// controlSocket is where serve listens for queue commands.
func controlSocket(dataDir string) string { return filepath.Join(dataDir, "control.sock") }

func queueCommand(args []string, stdout, stderr io.Writer) int {
	var bounce bool
	a, ok := parseAdminArgs(args, queueUsage,
		map[string][2]int{"list": {0, 0}, "show": {1, 1}, "flush": {0, 1}, "hold": {1, 1}, "release": {1, 1}, "delete": {1, 1}},
		stderr, func(fs *flag.FlagSet) { fs.BoolVar(&bounce, "bounce", false, "delete: bounce the pending recipients") })
	if !ok {
		return 2
	}
	op, id := a.op, a.id
	if bounce && op != "delete" {
		fmt.Fprintln(stderr, "sluice queue: -bounce is for delete")
		return 2
	}
	cfg, ok := loadConfig(a.config, stderr)
	if !ok {
		return 1
	}

	admin, offline, closeAdmin, err := openAdmin(cfg.DataDir)
	if err != nil {
		fmt.Fprintf(stderr, "sluice queue: %v\n", err)
		return 1
	}
	defer closeAdmin()

	out := &queueOutput{w: stdout, json: a.json, offline: offline}
	switch op {
	case "list":
		var envs []*queue.Envelope
		if envs, err = admin.List(); err == nil {
			out.list(envs, time.Now())
		}
	case "show":
		var d *queue.Detail
		if d, err = admin.Show(id); err == nil {
			out.show(d, time.Now())
		}
	case "flush":
		var n int
		if n, err = admin.Flush(id); err == nil {
			out.done(n, fmt.Sprintf("%d message(s) due now", n))
		}
	case "hold":
		if err = admin.Hold(id); err == nil {
			out.done(1, id+": held")
		}
	case "release":
		if err = admin.Release(id); err == nil {
			out.done(1, id+": released")
		}
	case "delete":
		if err = admin.Delete(id, bounce); err == nil {
			switch {
			case bounce && offline:
				out.done(1, id+": pending recipients failed; the bounce is sent and the message removed when the server starts")
			case bounce:
				out.done(1, id+": pending recipients failed, bounce queued")
			default:
				out.done(1, id+": deleted")
			}
		}
	}
	if err != nil {
		if errors.Is(err, queue.ErrLocked) {
			err = fmt.Errorf("%w (no control socket answered at %s)", err, controlSocket(cfg.DataDir))
		}
		fmt.Fprintf(stderr, "sluice queue %s: %v\n", op, err)
		return 1
	}
	return 0
}

// queueDir returns <data_dir>/queue, or an error that says so when it does
// not exist: then no server has run with this data_dir (or it is the wrong
// one), and an empty listing would mislead.
func queueDir(dataDir string) (string, error) {
	dir := filepath.Join(dataDir, "queue")
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return dir, fmt.Errorf("no queue at %s (has the server run with this data_dir?)", dir)
	}
	return dir, nil
}

// openAdmin returns the running server's control socket if one answers,
// else the spool directory itself.
func openAdmin(dataDir string) (admin queue.Admin, offline bool, closeFn func(), err error) {
	sock := controlSocket(dataDir)
	if c, err := net.DialTimeout("unix", sock, 2*time.Second); err == nil {
		c.Close()
		return &control.Client{Path: sock}, false, func() {}, nil
	}
	dir, err := queueDir(dataDir)
	if err != nil {
		return nil, false, nil, err
	}
	s, err := queue.OpenSpool(dir)
	if err != nil {
		return nil, false, nil, err
	}
	return s, true, func() { s.Close() }, nil
}

type queueOutput struct {
	w       io.Writer
	json    bool
	offline bool
	empty   string // what list prints for no message; "The queue is empty." if ""
}

func (o *queueOutput) encode(v any) {
	e := json.NewEncoder(o.w)
	e.SetIndent("", "  ")
	e.Encode(v)
}

func (o *queueOutput) done(n int, text string) {
	if o.json {
		o.encode(map[string]any{"ok": true, "count": n})
		return
	}
	fmt.Fprintln(o.w, text)
}

func (o *queueOutput) list(envs []*queue.Envelope, now time.Time) {
	if o.json {
		if envs == nil {
			envs = []*queue.Envelope{}
		}
		o.encode(envs)
		return
	}
	if len(envs) == 0 {
		if o.empty == "" {
			o.empty = "The queue is empty."
		}
		fmt.Fprintln(o.w, o.empty)
		return
	}
	fmt.Fprintf(o.w, "%-26s %7s %9s  %s\n", "ID", "AGE", "SIZE", "SENDER")
	for _, e := range envs {
		held := ""
		if e.Held {
			held = "  HELD"
		}
		fmt.Fprintf(o.w, "%-26s %7s %9d  <%s>%s\n", e.ID, age(now.Sub(e.Created)), e.Size, printable(e.From), held)
		for _, r := range e.Recipients {
			fmt.Fprintf(o.w, "    %-9s  <%s>  %s\n", r.State, printable(r.Addr), recipientNote(r, now))
		}
	}
	fmt.Fprintf(o.w, "%d message(s)\n", len(envs))
}

func recipientNote(r *queue.Recipient, now time.Time) string {
	var parts []string
	if r.Attempts > 0 {
		parts = append(parts, fmt.Sprintf("%d attempt(s)", r.Attempts))
	}
	if !r.State.Final() {
		if r.NextAttempt.After(now) {
			parts = append(parts, "next in "+age(r.NextAttempt.Sub(now)))
		} else {
			parts = append(parts, "due")
		}
	}
	note := strings.Join(parts, ", ")
	if r.LastReply != "" {
		note += ": " + printable(r.LastReply)
	}
	return note
}

func (o *queueOutput) show(d *queue.Detail, now time.Time) {
	if o.json {
		o.encode(d)
		return
	}
	e := d.Envelope
	fmt.Fprintf(o.w, "ID:        %s\n", e.ID)
	fmt.Fprintf(o.w, "Arrived:   %s (%s ago)\n", e.Created.Format(time.RFC3339), age(now.Sub(e.Created)))
	fmt.Fprintf(o.w, "From:      <%s>\n", printable(e.From))
	fmt.Fprintf(o.w, "Size:      %d\n", e.Size)
	if e.Held {
		fmt.Fprintln(o.w, "Held:      yes")
	}
	if e.ClientIP != "" || e.Helo != "" {
		fmt.Fprintf(o.w, "Client:    %s (helo %s) listener %s\n", e.ClientIP, printable(e.Helo), e.Listener)
	}
	if e.AuthUser != "" {
		fmt.Fprintf(o.w, "Auth:      %s\n", printable(e.AuthUser))
	}
	if e.DSNRet != "" || e.DSNEnvID != "" {
		fmt.Fprintf(o.w, "DSN:       ret=%s envid=%s\n", e.DSNRet, printable(e.DSNEnvID))
	}
	for _, r := range e.Recipients {
		fmt.Fprintf(o.w, "To:        <%s> %s %s\n", printable(r.Addr), r.State, recipientNote(r, now))
	}
	fmt.Fprintln(o.w)
	io.WriteString(o.w, strings.ReplaceAll(d.Header, "\r\n", "\n"))
}

// age prints a duration the way an operator reads it: 3d4h, 2h5m, 40s.
func age(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%dd%dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
	case d >= time.Hour:
		return fmt.Sprintf("%dh%dm", d/time.Hour, d%time.Hour/time.Minute)
	case d >= time.Minute:
		return fmt.Sprintf("%dm%ds", d/time.Minute, d%time.Minute/time.Second)
	default:
		return fmt.Sprintf("%ds", d/time.Second)
	}
}

// printable keeps a terminal safe from control characters in addresses and
// replies that came from the network.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// adminArgs are the parsed arguments of the queue and quarantine commands.
type adminArgs struct {
	config string
	json   bool
	op, id string
}

// parseAdminArgs parses "[-config FILE] [-json] OP [ID]", with flags allowed
// before or after the operation and its ID. arity gives, per operation, the
// least and most IDs it takes; extra registers command-specific flags.
func parseAdminArgs(args []string, usage string, arity map[string][2]int, stderr io.Writer, extra func(*flag.FlagSet)) (adminArgs, bool) {
	var a adminArgs
	fs := newFlagSet("sluice")
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	fs.StringVar(&a.config, "config", "", "configuration file (default: the embedded configuration)")
	fs.BoolVar(&a.json, "json", false, "print JSON")
	if extra != nil {
		extra(fs)
	}
	var pos []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			return a, false
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(pos) == 0 {
		fs.Usage()
		return a, false
	}
	a.op = pos[0]
	ids := pos[1:]
	n, known := arity[a.op]
	if !known || len(ids) < n[0] || len(ids) > n[1] {
		fs.Usage()
		return a, false
	}
	if len(ids) == 1 {
		a.id = ids[0]
	}
	return a, true
}

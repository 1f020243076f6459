package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mail/sluice/mta/config"
	"github.com/sluice-mail/sluice/mta/sendmail"
)

const sendmailUsage = `usage: sluice sendmail [OPTION...] [RECIPIENT...] < MESSAGE
       sendmail [OPTION...] [RECIPIENT...] < MESSAGE   (the binary installed or linked as sendmail)
Reads a message from standard input and hands it to the local sluice relay
for RECIPIENTs (and, with -t, those of its To, Cc and Bcc fields), as
sendmail(1) does for cron, PHP and scripts. The message's lines may end in
LF; Bcc fields are removed; Date, From and Message-ID are added when missing.
A user name without a domain gets "@" and the origin (the sendmail block's
origin, else the relay's hostname). The relay is reached through the listener
the configuration names in its sendmail block, else a unix-socket or loopback
smtp or lmtp listener it trusts (docs/config.md). Options are parsed as
sendmail's: -ti is -t -i, -fSENDER is -f SENDER. Exit status as sysexits.h:
0 sent, 64 bad usage or no recipients, 65 message or sender refused, 67
recipient refused, 69 refused otherwise, 75 the relay did not answer or
refused for now (try again later), 77 refused by policy, 78 no usable
configuration.
Options:
`

// sendmailDefaultConfig is the configuration sendmail reads when neither
// -config nor SLUICE_CONFIG names one and it exists (the package's); else
// the embedded default, as serve uses.
const sendmailDefaultConfig = "/etc/sluice/sluice.hcl"

// sendmailArgs are sendmail's parsed arguments.
type sendmailArgs struct {
	config     string
	extract    bool    // -t
	sender     *string // -f or -r; nil: the invoking user
	fullName   string  // -F
	ignoreDots bool    // -i, -oi
	verbose    bool    // -v
	ret        smtp.DSNReturn
	envID      string
	notify     []smtp.DSNNotify
	recipients []string
	help       bool
}

// funcValue is a flag whose value goes through set; bool makes it take none.
type funcValue struct {
	set  func(string) error
	bool bool
}

func (f funcValue) String() string     { return "" }
func (f funcValue) Set(s string) error { return f.set(s) }
func (f funcValue) IsBoolFlag() bool   { return f.bool }

// sendmailFlags is sendmail's flag set: the options sendmail(1) and
// Postfix's sendmail take that make sense here. parseSendmailArgs reads
// the command line with it getopt-style; its usage lists them.
func sendmailFlags(a *sendmailArgs, stderr io.Writer) *flag.FlagSet {
	fs := newFlagSet("sendmail")
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, sendmailUsage)
		fs.PrintDefaults()
	}
	ignored := func(string) error { return nil }
	fs.StringVar(&a.config, "config", "", "configuration `file` (default: $SLUICE_CONFIG, else "+sendmailDefaultConfig+" if it exists, else the embedded default)")
	fs.BoolVar(&a.extract, "t", false, "also send to the addresses of the To, Cc and Bcc fields (Resent-To, -Cc, -Bcc when present)")
	setSender := func(s string) error { a.sender = &s; return nil }
	fs.Var(funcValue{set: setSender}, "f", "envelope sender `address` (default: your login name @ the origin; \"\" or \"<>\" for the null sender); also the From field added when missing")
	fs.Var(funcValue{set: setSender}, "r", "envelope sender `address`, the same as -f (obsolete)")
	fs.StringVar(&a.fullName, "F", "", "full `name` for the From field added when missing (default: from the password file)")
	fs.BoolVar(&a.ignoreDots, "i", false, "a line holding a single dot does not end the message")
	fs.Var(funcValue{set: func(s string) error {
		if s == "i" {
			a.ignoreDots = true
		}
		return nil
	}}, "o", "sendmail `option`: -oi is -i; others (-oem, -odi, -oQ...) are accepted and ignored")
	fs.Var(funcValue{set: func(s string) error {
		if s != "m" {
			return fmt.Errorf("-b%s is not supported: only -bm, read a message and send it (-bs, -bp and the other modes are not)", s)
		}
		return nil
	}}, "b", "`mode`: only m, read the message and send it (the default)")
	fs.BoolVar(&a.verbose, "v", false, "print the SMTP dialog with the relay on standard error")
	fs.Var(funcValue{set: func(s string) error {
		for _, n := range strings.Split(strings.ToUpper(s), ",") {
			switch v := smtp.DSNNotify(strings.TrimSpace(n)); v {
			case smtp.DSNNotifyNever, smtp.DSNNotifySuccess, smtp.DSNNotifyFailure, smtp.DSNNotifyDelayed:
				a.notify = append(a.notify, v)
			default:
				return fmt.Errorf("-N %q: want never, or success, failure and delay separated by commas", s)
			}
		}
		return nil
	}}, "N", "delivery status `notify`: never, or success,failure,delay (RFC 3461 NOTIFY)")
	fs.Var(funcValue{set: func(s string) error {
		switch v := smtp.DSNReturn(strings.ToUpper(s)); v {
		case smtp.DSNReturnFull, smtp.DSNReturnHeaders:
			a.ret = v
			return nil
		}
		return fmt.Errorf("-R %q: want full or hdrs", s)
	}}, "R", "`ret`urn in a bounce: full (the message) or hdrs (its header) (RFC 3461 RET)")
	fs.StringVar(&a.envID, "V", "", "envelope `id` for delivery status notifications (RFC 3461 ENVID)")
	fs.Var(funcValue{set: ignored}, "B", "body `type` (7BIT, 8BITMIME): ignored, the relay is told 8BITMIME")
	fs.Var(funcValue{set: ignored}, "h", "hop `count`: ignored")
	fs.Var(funcValue{set: ignored}, "L", "syslog `label`: ignored")
	for _, c := range []string{"m", "n", "U", "G"} {
		fs.Var(funcValue{set: ignored, bool: true}, c, "ignored (sendmail compatibility)")
	}
	return fs
}

// parseSendmailArgs reads sendmail's command line as getopt does: options
// may be bundled (-ti) and take their value attached (-fme) or as the next
// argument; the first argument that is not an option, or "--", ends them,
// and the rest are recipients. -config FILE (also --config, =FILE) and
// -help are the long options.
func parseSendmailArgs(args []string, stderr io.Writer) (*sendmailArgs, error) {
	a := &sendmailArgs{}
	fs := sendmailFlags(a, stderr)
	i := 0
	for ; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			i++
			break
		}
		if len(arg) < 2 || arg[0] != '-' {
			break
		}
		if name, val, hasVal := strings.Cut(strings.TrimLeft(arg, "-"), "="); name == "config" || name == "help" {
			switch {
			case name == "help":
				a.help = true
			case hasVal:
				a.config = val
			case i+1 < len(args):
				i++
				a.config = args[i]
			default:
				return nil, errors.New("-config needs a file")
			}
			continue
		}
		for j := 1; j < len(arg); j++ {
			name := arg[j : j+1]
			f := fs.Lookup(name)
			if f == nil || len(f.Name) != 1 {
				return nil, fmt.Errorf("unknown option -%s", name)
			}
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
				f.Value.Set("true")
				continue
			}
			val := arg[j+1:]
			if val == "" {
				if i+1 >= len(args) {
					return nil, fmt.Errorf("option -%s needs a value", name)
				}
				i++
				val = args[i]
			}
			if err := f.Value.Set(val); err != nil {
				return nil, err
			}
			break
		}
	}
	a.recipients = args[i:]
	return a, nil
}

// sendmailCommand is `sluice sendmail`, and the binary run as sendmail.
func sendmailCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a, err := parseSendmailArgs(args, stderr)
	if err == nil && a.help {
		sendmailFlags(a, stdout).Usage()
		return sendmail.ExOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "sendmail: %v\n%s", err, sendmailUsage[:strings.IndexByte(sendmailUsage, '\n')+1])
		fmt.Fprintln(stderr, `"sluice sendmail -help" lists the options.`)
		return sendmail.ExUsage
	}
	if err := runSendmail(a, stdin, stderr); err != nil {
		fmt.Fprintf(stderr, "sendmail: %v\n", err)
		var se *sendmail.Error
		if errors.As(err, &se) {
			return se.Code
		}
		return sendmail.ExSoftware
	}
	return sendmail.ExOK
}

func runSendmail(a *sendmailArgs, stdin io.Reader, stderr io.Writer) error {
	path := a.config
	if path == "" {
		path = os.Getenv("SLUICE_CONFIG")
	}
	if _, err := os.Stat(sendmailDefaultConfig); path == "" && err == nil {
		path = sendmailDefaultConfig
	}
	if f, err := os.Open(path); path != "" && errors.Is(err, fs.ErrPermission) {
		// The package's file is 0644, its secrets in files of their own.
		return &sendmail.Error{Code: sendmail.ExConfig, Err: fmt.Errorf("%w: sendmail reads the configuration to find the relay; "+
			"make it readable to the users who send (its secrets in files of their own: auth_password_file, users_file), "+
			"or set SLUICE_CONFIG or -config to a readable copy", err)}
	} else if err == nil {
		f.Close()
	}
	cfg, ok := loadPublicConfig(path, stderr)
	if !ok {
		return &sendmail.Error{Code: sendmail.ExConfig, Err: fmt.Errorf("cannot use the configuration %s", orEmbedded(path))}
	}
	l, network, address, err := cfg.LocalSubmission()
	if err != nil {
		return &sendmail.Error{Code: sendmail.ExConfig, Err: fmt.Errorf("%s: %w", orEmbedded(path), err)}
	}
	origin := cfg.SendmailOrigin()

	u, err := user.Current()
	if err != nil {
		return &sendmail.Error{Code: sendmail.ExOSErr, Err: fmt.Errorf("who is running me: %w", err)}
	}
	from := u.Username + "@" + origin
	if a.sender != nil {
		if from, err = envelopeSender(*a.sender, origin); err != nil {
			return &sendmail.Error{Code: sendmail.ExUsage, Err: err}
		}
	}
	var rcpts []string
	for _, arg := range a.recipients {
		addrs, err := sendmail.ParseAddressList(arg, origin)
		if err != nil {
			return &sendmail.Error{Code: sendmail.ExUsage, Err: fmt.Errorf("recipient %v", err)}
		}
		rcpts = append(rcpts, addrs...)
	}
	if len(rcpts) == 0 && !a.extract {
		return &sendmail.Error{Code: sendmail.ExUsage, Err: errors.New("no recipients: name them as arguments or use -t")}
	}

	raw, err := sendmail.ReadMessage(stdin, sendmail.ReadOptions{IgnoreDots: a.ignoreDots, MaxBytes: cfg.Limits.MaxMessageBytes})
	switch {
	case errors.Is(err, sendmail.ErrTooLarge):
		return &sendmail.Error{Code: sendmail.ExDataErr, Err: err}
	case err != nil:
		return &sendmail.Error{Code: sendmail.ExIOErr, Err: fmt.Errorf("reading the message: %w", err)}
	}
	msg, err := sendmail.Parse(raw)
	if err != nil {
		return &sendmail.Error{Code: sendmail.ExDataErr, Err: err}
	}
	if a.extract {
		more, err := msg.HeaderRecipients(origin)
		if err != nil {
			return &sendmail.Error{Code: sendmail.ExDataErr, Err: err}
		}
		rcpts = append(rcpts, more...)
		if len(rcpts) == 0 {
			return &sendmail.Error{Code: sendmail.ExUsage, Err: errors.New("no recipients: the message has no To, Cc or Bcc address and none is given as argument")}
		}
	}
	msg.RemoveBcc()
	author := from
	if author == "" {
		author = u.Username + "@" + origin
	}
	fullName := a.fullName
	if fullName == "" {
		// The GECOS field: the name before any office and phone.
		fullName, _, _ = strings.Cut(u.Name, ",")
	}
	msg.AddMissing(sendmail.Completion{Now: time.Now(), Hostname: cfg.Hostname, From: author, FullName: fullName})

	env := sendmail.Envelope{From: from, To: dedupe(rcpts)}
	env.Mail.Return, env.Mail.EnvelopeID = a.ret, a.envID
	env.Rcpt.Notify = a.notify
	env.Mail.UTF8 = !isASCII(from)
	for _, r := range env.To {
		env.Mail.UTF8 = env.Mail.UTF8 || !isASCII(r)
	}
	relay := sendmail.Relay{Network: network, Address: address, LMTP: l.Kind == config.KindLMTP, Hello: cfg.Hostname}
	if a.verbose {
		relay.Debug = stderr
		fmt.Fprintf(stderr, "sendmail: submitting through listener %q at %s %s\n", l.Name, network, address)
	}
	return sendmail.Submit(relay, env, msg.Bytes())
}

// loadPublicConfig is loadConfig without the secrets, which only the
// service may read (config.LoadPublic): sendmail runs as any user.
func loadPublicConfig(path string, stderr io.Writer) (*config.Config, bool) {
	if path == "" {
		return config.Default(), true
	}
	cfg, diags := config.LoadPublic(path)
	if len(diags) > 0 {
		config.WriteDiagnostics(stderr, diags, nil)
	}
	return cfg, cfg != nil && !diags.HasErrors()
}

// envelopeSender qualifies -f's address; "" and "<>" are the null sender.
func envelopeSender(s, origin string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "<>" {
		return "", nil
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "<"), ">")
	addr, err := sendmail.Qualify(s, origin)
	if err != nil {
		return "", fmt.Errorf("sender %v", err)
	}
	return addr, nil
}

// dedupe drops repeated recipients, the domain compared without case.
func dedupe(rcpts []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range rcpts {
		key := r
		if at := strings.LastIndexByte(r, '@'); at >= 0 {
			key = r[:at] + strings.ToLower(r[at:])
		}
		if !seen[key] {
			seen[key] = true
			out = append(out, r)
		}
	}
	return out
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func orEmbedded(path string) string {
	if path == "" {
		return config.DefaultSource
	}
	return path
}

// invokedAsSendmail reports whether the binary was run under the name
// sendmail (/usr/sbin/sendmail as a symlink or an alternative), and is
// then `sluice sendmail`.
func invokedAsSendmail(argv0 string) bool {
	return filepath.Base(argv0) == "sendmail"
}

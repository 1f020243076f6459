package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Manual pages, generated from the commands' own help: `sluice man DIR`
// writes sluice(8) and one sluice-COMMAND(8) per subcommand, whose options
// are read from the flag set the command itself builds (newFlagSet), whose
// synopsis and description are its usage text. The package build
// (packaging/build-deb.sh) runs it; nothing is written by hand twice.

// flagSetSeen, when set, is handed every flag set a command makes.
var flagSetSeen func(*flag.FlagSet)

// newFlagSet makes a subcommand's flag set; every command makes its flags
// here, so that `sluice man` can read them.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	if flagSetSeen != nil {
		flagSetSeen(fs)
	}
	return fs
}

// manPage is one subcommand's page: args reach its flag parsing (with -h
// appended, the command parses and stops), help is its own usage text
// when it has one beyond the line in the main usage.
type manPage struct {
	command string // as typed after "sluice"
	args    []string
	help    string
}

var manPages = []manPage{
	{command: "serve", args: []string{"serve"}},
	{command: "check-config", args: []string{"check-config"}},
	{command: "hash-password", args: []string{"hash-password"}},
	{command: "plugin test", args: []string{"plugin", "test"}, help: pluginUsage},
	{command: "plugin check", args: []string{"plugin", "check"}, help: pluginUsage},
	{command: "spam train", args: []string{"spam", "train"}, help: spamUsage},
	{command: "queue", args: []string{"queue"}, help: queueUsage},
	{command: "quarantine", args: []string{"quarantine"}, help: quarantineUsage},
	{command: "dkim keygen", args: []string{"dkim", "keygen"}, help: dkimUsage},
	{command: "sendmail", args: []string{"sendmail"}, help: sendmailUsage},
	{command: "man", args: []string{"man"}},
}

func manCommand(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("man")
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, "usage: sluice man DIR   (writes the manual pages, roff, into DIR)") }
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	dir := fs.Arg(0)
	if err := writeManPages(dir); err != nil {
		fmt.Fprintln(stderr, "sluice man:", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %d pages to %s\n", len(manPages)+1, dir)
	return 0
}

func writeManPages(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	entries := usageEntries()
	var main strings.Builder
	manMain(&main, entries)
	if err := os.WriteFile(filepath.Join(dir, "sluice.8"), []byte(main.String()), 0o644); err != nil {
		return err
	}
	for _, p := range manPages {
		e, ok := entries[p.command]
		if !ok {
			return fmt.Errorf("%q is not in the usage text", p.command)
		}
		var b strings.Builder
		manSubcommand(&b, p, e, commandFlags(p))
		if err := os.WriteFile(filepath.Join(dir, manName(p.command)+".8"), []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func manName(command string) string { return "sluice-" + strings.ReplaceAll(command, " ", "-") }

// commandFlags runs the command with -h, which every command answers by
// parsing its flags and stopping, and returns the flags it defined.
func commandFlags(p manPage) []*flag.Flag {
	var sets []*flag.FlagSet
	flagSetSeen = func(fs *flag.FlagSet) { sets = append(sets, fs) }
	defer func() { flagSetSeen = nil }()
	run(append(append([]string{}, p.args...), "-h"), strings.NewReader(""), io.Discard, io.Discard)
	var out []*flag.Flag
	for _, fs := range sets {
		fs.VisitAll(func(f *flag.Flag) { out = append(out, f) })
	}
	return out
}

// usageEntry is one command's line in the main usage text.
type usageEntry struct{ synopsis, about string }

var (
	forHelp = regexp.MustCompile(`\s*\("sluice [a-z -]+" for help\)`)
	word    = regexp.MustCompile(`^[a-z]+$`)
)

// usageEntries reads the main usage text: "  sluice CMD ARGS   about",
// with about maybe on the next, indented line. The key is CMD as the
// manPages name it ("queue" for "queue list|show|...").
func usageEntries() map[string]usageEntry {
	out := map[string]usageEntry{}
	var last string
	for _, line := range strings.Split(usage, "\n") {
		if rest, ok := strings.CutPrefix(line, "  sluice "); ok {
			syn, about, _ := strings.Cut(rest, "  ")
			fields := strings.Fields(syn)
			cmd := fields[0]
			if len(fields) > 1 && word.MatchString(fields[1]) {
				cmd += " " + fields[1]
			}
			last = cmd
			out[cmd] = usageEntry{"sluice " + strings.TrimSpace(syn), forHelp.ReplaceAllString(strings.TrimSpace(about), "")}
		} else if strings.HasPrefix(line, "    ") && last != "" {
			e := out[last]
			e.about = strings.TrimSpace(e.about + " " + forHelp.ReplaceAllString(strings.TrimSpace(line), ""))
			out[last] = e
		}
	}
	return out
}

func manMain(w io.Writer, entries map[string]usageEntry) {
	fmt.Fprintf(w, ".TH SLUICE 8 \"\" sluice \"System Manager's Manual\"\n")
	fmt.Fprintf(w, ".SH NAME\nsluice \\- a mail relay with sandboxed WebAssembly filters\n")
	fmt.Fprintf(w, ".SH SYNOPSIS\n.B sluice\n.I command\n.RI [ options ]\n")
	fmt.Fprintf(w, ".SH DESCRIPTION\n%s\n", roffText("sluice accepts mail over SMTP, submission, SMTPS and LMTP, keeps it in a durable on-disk queue "+
		"and delivers it to Maildirs, an LMTP server, a fixed SMTP relay or the recipient domain's MX hosts. "+
		"Its filters are WebAssembly plugins run in a sandbox; the built-in ones are named in a filter block with builtin = \"NAME\"."))
	fmt.Fprintf(w, ".SH COMMANDS\n")
	for _, p := range manPages {
		e := entries[p.command]
		fmt.Fprintf(w, ".TP\n.B %s\n%s; see\n.BR %s (8).\n", roffText(e.synopsis), roffText(e.about), roffText(manName(p.command)))
	}
	fmt.Fprintf(w, ".TP\n.B sluice version\nprint the version\n")
	fmt.Fprintf(w, ".SH SIGNALS\n.TP\n.B SIGHUP\n%s\n.TP\n.B SIGTERM\\fR, \\fPSIGINT\n%s\n",
		roffText("serve reads its configuration again; a file with errors is refused and logged and the running configuration stays."),
		roffText("serve finishes the dialogs in progress (up to limits.shutdown_grace) and stops; queued mail stays for the next start."))
	fmt.Fprintf(w, ".SH FILES\n.TP\n.I /etc/sluice/sluice.hcl\n%s\n.TP\n.I /var/lib/sluice\n%s\n",
		roffText("the configuration, as packaged (docs/config.md in /usr/share/doc/sluice is its reference)."),
		roffText("data_dir: the queue, quarantine, compiled filters (wasm-cache), the filters' key-value stores and control.sock."))
	fmt.Fprintf(w, ".SH SEE ALSO\n")
	for i, p := range manPages {
		sep := ","
		if i == len(manPages)-1 {
			sep = ""
		}
		fmt.Fprintf(w, ".BR %s (8)%s\n", roffText(manName(p.command)), sep)
	}
}

func manSubcommand(w io.Writer, p manPage, e usageEntry, flags []*flag.Flag) {
	name := manName(p.command)
	fmt.Fprintf(w, ".TH %s 8 \"\" sluice \"System Manager's Manual\"\n", strings.ToUpper(name))
	fmt.Fprintf(w, ".SH NAME\n%s \\- %s\n", roffText(name), roffText(e.about))
	// The synopsis: the command's own usage lines when it has them.
	var synopsis []string
	var desc []string
	for _, line := range strings.Split(strings.TrimRight(p.help, "\n"), "\n") {
		switch t := strings.TrimSpace(line); {
		case p.help == "":
		case strings.HasPrefix(t, "usage: ") || (strings.HasPrefix(t, "sluice ") || strings.HasPrefix(t, p.command+" ")) && len(desc) == 0:
			// Only this command's lines of a usage shared by several; a
			// command also run under its own name (sendmail) has that line.
			t = strings.TrimPrefix(t, "usage: ")
			if strings.HasPrefix(t, "sluice "+p.command) || strings.HasPrefix(t, p.command+" ") {
				synopsis = append(synopsis, t)
			}
		default:
			desc = append(desc, line)
		}
	}
	if len(synopsis) == 0 {
		synopsis = []string{e.synopsis}
	}
	fmt.Fprintf(w, ".SH SYNOPSIS\n")
	for i, s := range synopsis {
		if i > 0 {
			fmt.Fprintf(w, ".br\n")
		}
		fmt.Fprintf(w, ".B %s\n", roffText(s))
	}
	fmt.Fprintf(w, ".SH DESCRIPTION\n%s.\n", roffText(capitalize(e.about)))
	// The flags' own heading ends a usage text; OPTIONS replaces it.
	if n := len(desc); n > 0 && strings.TrimSpace(desc[n-1]) == "Options:" {
		desc = desc[:n-1]
	}
	if len(desc) > 0 {
		// The command's own help, laid out as it prints it.
		fmt.Fprintf(w, ".PP\n.nf\n")
		for _, l := range desc {
			fmt.Fprintf(w, "%s\n", roffText(l))
		}
		fmt.Fprintf(w, ".fi\n")
	}
	if len(flags) > 0 {
		fmt.Fprintf(w, ".SH OPTIONS\n")
		for _, f := range flags {
			arg, text := flag.UnquoteUsage(f)
			if arg != "" {
				fmt.Fprintf(w, ".TP\n.BI \"\\-%s \" %s\n", roffText(f.Name), roffText(arg))
			} else {
				fmt.Fprintf(w, ".TP\n.B \\-%s\n", roffText(f.Name))
			}
			if f.DefValue != "" && f.DefValue != "false" {
				text += " (default " + f.DefValue + ")"
			}
			fmt.Fprintf(w, "%s\n", roffText(text))
		}
	}
	fmt.Fprintf(w, ".SH SEE ALSO\n.BR sluice (8)\n")
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// roffText escapes s for roff text: backslashes, hyphens (which roff would
// turn into non-ASCII dashes) and a line that starts with a control
// character ('.' or '\”).
func roffText(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

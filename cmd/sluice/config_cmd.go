package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/sluice-mail/sluice/mta/config"
)

// loadConfig loads FILE or, for "", the embedded default, printing
// diagnostics (file:line:column) to stderr.
func loadConfig(path string, stderr io.Writer) (*config.Config, bool) {
	if path == "" {
		return config.Default(), true
	}
	cfg, diags := config.Load(path)
	if len(diags) > 0 {
		config.WriteDiagnostics(stderr, diags, nil)
	}
	if diags.HasErrors() || cfg == nil {
		return nil, false
	}
	return cfg, true
}

func checkConfigCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(stderr, "usage: sluice check-config FILE")
		return 2
	}
	cfg, diags := config.Load(args[0])
	if len(diags) > 0 {
		config.WriteDiagnostics(stderr, diags, nil)
	}
	if diags.HasErrors() || cfg == nil {
		n := len(diags.Errs())
		fmt.Fprintf(stderr, "%s: %d error%s\n", args[0], n, plural(n))
		return 1
	}
	fmt.Fprintf(stdout, "%s: OK\n", args[0])
	cfg.WriteSummary(stdout)
	return 0
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// hashPasswordCommand reads one line (the password) and prints its bcrypt hash.
func hashPasswordCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hash-password", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cost := fs.Int("cost", bcrypt.DefaultCost, "bcrypt cost")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: echo -n PASSWORD | sluice hash-password [-cost N]")
		return 2
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && err != io.EOF {
		fmt.Fprintln(stderr, "sluice hash-password:", err)
		return 1
	}
	pass := strings.TrimRight(line, "\r\n")
	if pass == "" {
		fmt.Fprintln(stderr, "sluice hash-password: empty password on stdin")
		return 1
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pass), *cost)
	if err != nil {
		fmt.Fprintln(stderr, "sluice hash-password:", err)
		return 1
	}
	fmt.Fprintln(stdout, string(h))
	return 0
}

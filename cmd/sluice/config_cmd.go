package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/crypto/bcrypt"

	"github.com/sluice-mail/sluice/mta/config"
	"github.com/sluice-mail/sluice/mta/relay"
	"github.com/sluice-mail/sluice/plugin"
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
	fs := newFlagSet("check-config")
	fs.SetOutput(stderr)
	loadPlugins := fs.Bool("plugins", true, "also load every filter's plugin with its config, as serve does")
	// -config FILE as well, as serve and the other commands take it.
	file := fs.String("config", "", "the configuration file, as FILE")
	if err := fs.Parse(args); err == nil && *file == "" && fs.NArg() == 1 {
		*file = fs.Arg(0)
	} else if err != nil || *file == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: sluice check-config [-plugins=false] FILE (or -config FILE)")
		return 2
	}
	cfg, diags := config.Load(*file)
	if len(diags) > 0 {
		config.WriteDiagnostics(stderr, diags, nil)
	}
	if diags.HasErrors() || cfg == nil {
		n := len(diags.Errs())
		fmt.Fprintf(stderr, "%s: %d error%s\n", *file, n, plural(n))
		return 1
	}
	if *loadPlugins {
		if n := checkFilters(cfg.Filters, stderr); n > 0 {
			fmt.Fprintf(stderr, "%s: %d filter%s failed to load\n", *file, n, plural(n))
			return 1
		}
	}
	fmt.Fprintf(stdout, "%s: OK\n", *file)
	cfg.WriteSummary(stdout)
	return 0
}

// checkFilters loads each filter as serve would (compile, check the ABI,
// instantiate, run its initialisation with its config), one at a time so
// that every failure is reported, with the plugin's own log lines. Its
// key-value store is a temporary directory; nothing is called beyond
// initialisation. It returns the number of filters that failed.
func checkFilters(filters []config.Filter, stderr io.Writer) int {
	failed := 0
	for _, f := range relay.FilterSpecs(filters) {
		dir, err := os.MkdirTemp("", "sluice-check-config-")
		if err != nil {
			fmt.Fprintln(stderr, err)
			return failed + 1
		}
		log := hclog.New(&hclog.LoggerOptions{Name: "filter", Output: stderr, Level: hclog.Info})
		h, err := plugin.NewHost(context.Background(), []plugin.FilterSpec{f},
			plugin.HostOptions{DataDir: dir, CacheDir: plugin.UserCacheDir(), Logger: log, MaxInstances: 1})
		if err != nil {
			fmt.Fprintln(stderr, err)
			failed++
		} else {
			h.Close(context.Background())
		}
		os.RemoveAll(dir)
	}
	return failed
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// hashPasswordCommand reads one line (the password) and prints its bcrypt hash.
func hashPasswordCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("hash-password")
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

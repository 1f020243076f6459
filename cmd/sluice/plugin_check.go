package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/sluice-mail/sluice/plugin"
)

// pluginCheckCommand runs the ABI conformance kit on one plugin: module
// shape, ABI version, stages, then the standard events with every verdict
// and change validated. It exits 0 when the plugin conforms, 1 with the
// list of problems otherwise, 2 on bad usage.
//
//	sluice plugin check FILE.wasm [-config JSON|@FILE] [-json] [-v]
func pluginCheckCommand(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("sluice plugin check")
	fs.SetOutput(stderr)
	conf := fs.String("config", "", "filter config as JSON, or @FILE")
	timeout := fs.Duration("timeout", plugin.DefaultTimeout, "per-event timeout")
	memory := fs.Int64("memory", plugin.DefaultMemoryBytes, "memory limit in bytes")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	verbose := fs.Bool("v", false, "show the plugin's own log lines")
	file, ok := pluginFileArg(fs, args, "usage: sluice plugin check FILE.wasm [-config JSON|@FILE] [-json] [-v]", stderr)
	if !ok {
		return 2
	}
	cfgJSON, ok := pluginConfigFlag("sluice plugin check", *conf, stderr)
	if !ok {
		return 2
	}
	log := hclog.NewNullLogger()
	if *verbose {
		log = hclog.New(&hclog.LoggerOptions{Name: "plugin", Output: stderr})
	}
	rep := plugin.Check(context.Background(), file, plugin.CheckOptions{
		ConfigJSON: cfgJSON, Timeout: *timeout, MemoryBytes: *memory, Logger: log})
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		printCheckReport(stdout, rep)
		if !rep.OK() && !*verbose {
			// A trap's own message (a Go panic's, say) is in the plugin's output.
			fmt.Fprintln(stdout, "(-v shows the plugin's own log lines and output, where a panic's message is)")
		}
	}
	if !rep.OK() {
		return 1
	}
	return 0
}

func printCheckReport(w io.Writer, rep *plugin.CheckReport) {
	fmt.Fprintf(w, "%s\n", rep.File)
	if rep.ABIVersion != 0 {
		fmt.Fprintf(w, "  ABI version: %d\n  stages: %s\n", rep.ABIVersion, strings.Join(rep.Stages, ", "))
	}
	if len(rep.Imports) > 0 {
		fmt.Fprintf(w, "  imports: %s\n", strings.Join(rep.Imports, ", "))
	}
	if len(rep.Events) > 0 {
		fmt.Fprintf(w, "  events run: %d\n", len(rep.Events))
	}
	if rep.OK() {
		fmt.Fprintln(w, "OK: the plugin conforms to ABI v1")
		return
	}
	fmt.Fprintf(w, "FAILED: %d problem(s)\n", len(rep.Problems))
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "  - %s\n", p)
	}
}

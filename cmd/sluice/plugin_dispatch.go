package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

const pluginUsage = `usage: sluice plugin test FILE.wasm -stage STAGE -msg FILE.eml [-from ADDR] [-rcpt ADDR]... [-config JSON|@FILE]
       sluice plugin check FILE.wasm [-config JSON|@FILE] [-json]

` + pluginTestExit + `
Exit status of plugin check: 0 the plugin conforms to ABI v1; 1 it does not (the problems are listed); 2 bad usage.`

// pluginCommand dispatches "sluice plugin ...".
func pluginCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "test":
			return pluginTestCommand(args[1:], stdout, stderr)
		case "check":
			return pluginCheckCommand(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintln(stderr, pluginUsage)
	return 2
}

// pluginFileArg parses args with fs, taking the plugin file either before
// the flags or as the one argument after them.
func pluginFileArg(fs *flag.FlagSet, args []string, usage string, stderr io.Writer) (string, bool) {
	var file string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		file, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return "", false
	}
	if file == "" && fs.NArg() == 1 {
		file = fs.Arg(0)
	} else if fs.NArg() > 0 || file == "" {
		fmt.Fprintln(stderr, usage)
		return "", false
	}
	return file, true
}

// pluginConfigFlag reads a -config value: JSON, or @FILE holding JSON.
func pluginConfigFlag(cmd, value string, stderr io.Writer) ([]byte, bool) {
	cfgJSON := []byte(value)
	if strings.HasPrefix(value, "@") {
		b, err := os.ReadFile(value[1:])
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
			return nil, false
		}
		cfgJSON = b
	}
	if len(bytes.TrimSpace(cfgJSON)) > 0 && !json.Valid(cfgJSON) {
		fmt.Fprintf(stderr, "%s: -config is not valid JSON\n", cmd)
		return nil, false
	}
	return cfgJSON, true
}

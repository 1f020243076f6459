package main

import (
	"fmt"
	"io"
)

const pluginUsage = `usage: sluice plugin test FILE.wasm -stage STAGE -msg FILE.eml [-from ADDR] [-rcpt ADDR]... [-config JSON|@FILE]
       sluice plugin check FILE.wasm [-config JSON|@FILE] [-json]`

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

package main

import (
	"fmt"
	"io"
)

// pluginCommand dispatches "sluice plugin ...".
func pluginCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "test" {
		return pluginTestCommand(args[1:], stdout, stderr)
	}
	fmt.Fprintln(stderr, "usage: sluice plugin test FILE.wasm -stage STAGE -msg FILE.eml [-from ADDR] [-rcpt ADDR]... [-config JSON|@FILE]")
	return 2
}

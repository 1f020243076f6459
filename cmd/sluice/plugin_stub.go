package main

import (
	"fmt"
	"io"
)

// pluginCommand dispatches "sluice plugin ...".
func pluginCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "test" {
		fmt.Fprintln(stderr, "sluice plugin test: plugin support is not built into this binary yet")
		return 1
	}
	fmt.Fprintln(stderr, "usage: sluice plugin test FILE.wasm -stage STAGE -msg FILE.eml [-from ADDR] [-rcpt ADDR]... [-config JSON|@FILE]")
	return 2
}

// Command sluice is a mail relay whose filters are sandboxed WebAssembly
// plugins. Run "sluice help" for the subcommands.
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `sluice: a mail relay with sandboxed WebAssembly filters

Usage:
  sluice serve [-config FILE]        run the relay (embedded default configuration without -config)
  sluice check-config [-plugins=false] FILE
                                     validate a configuration file and load its plugins
  sluice hash-password               read a password from stdin, print its bcrypt hash for a user block
  sluice plugin test FILE.wasm ...   run a filter plugin offline on a message
  sluice plugin check FILE.wasm      check a plugin against the ABI (shape, version, standard events)
  sluice spam train -spam PATH -ham PATH ...   train the spam filter's classifier ("sluice spam" for help)
  sluice queue list|show|flush|hold|release|delete ...   inspect and manage the queue ("sluice queue" for help)
  sluice quarantine list|show|release|delete ...        messages a filter quarantined ("sluice quarantine" for help)
  sluice dkim keygen -domain D -selector S   write a DKIM key file, print its DNS TXT record and signing_keys line
  sluice sendmail [-t] [-i] [-f SENDER] [RECIPIENT...]   hand a message on stdin to the local relay, as sendmail(1)
                                     does, also when run as sendmail by a link of that name ("sluice sendmail -help" for help)
  sluice version                     print the version and the VCS revision it was built from
  sluice man DIR                     write the manual pages (roff) into DIR
`

func main() {
	args := os.Args[1:]
	if invokedAsSendmail(os.Args[0]) {
		args = append([]string{"sendmail"}, args...)
	}
	os.Exit(run(args, os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serveCommand(args[1:], stderr)
	case "check-config":
		return checkConfigCommand(args[1:], stdout, stderr)
	case "hash-password":
		return hashPasswordCommand(args[1:], stdin, stdout, stderr)
	case "queue":
		return queueCommand(args[1:], stdout, stderr)
	case "quarantine":
		return quarantineCommand(args[1:], stdout, stderr)
	case "spam":
		return spamCommand(args[1:], stdout, stderr)
	case "plugin":
		return pluginCommand(args[1:], stdout, stderr)
	case "dkim":
		return dkimCommand(args[1:], stdout, stderr)
	case "sendmail":
		return sendmailCommand(args[1:], stdin, stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "sluice %s\n", versionString())
		return 0
	case "man":
		return manCommand(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "sluice: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

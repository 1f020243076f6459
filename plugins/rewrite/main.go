// Command rewrite is sluice's built-in address rewriting filter (data
// stage): per-table rewriting of envelope recipients, the envelope sender
// and the addresses of From/To/Cc (exact, domain-wide and regexp rules),
// sender masquerading, sub-address (plus) handling, and rerouting of
// recipients to another domain block without changing their address.
//
// A configuration that does not parse, or whose rules rewrite in a cycle
// (checked on sample addresses, see checkLoops), is refused when the
// relay starts: the
// plugin's initialisation reads its config, logs the error and fails, so
// sluice names the filter and does not start. See README.md beside this file.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o rewrite.wasm ./plugins/rewrite
package main

import (
	"github.com/sluice-mail/sluice/plugins/internal/pluginconf"
	"github.com/sluice-mail/sluice/sdk"
)

func main() {}

// rewriter is the compiled config; the config cannot change while an
// instance lives, so it is read once, in init.
var rewriter *Rewriter

func init() {
	sdk.Handle(sdk.Handlers{Data: data})
	rewriter = pluginconf.AtInit("rewrite", Parse)
}

func data(e *sdk.DataEvent) sdk.Result {
	if rewriter == nil {
		return sdk.Tempfail(451, "4.3.5", "Filter configuration error")
	}
	p, err := rewriter.MakePlan(e.Txn, e.Header)
	if err != nil {
		sdk.Log(sdk.LevelError, "rewrite: "+err.Error())
		return sdk.Tempfail(451, "4.3.5", "Address rewriting failed, try again later")
	}
	for _, n := range p.Notes {
		sdk.Log(sdk.LevelInfo, "rewrite: "+n)
	}
	if p.Empty() {
		return sdk.Continue()
	}
	return sdk.Continue().With(p.Changes())
}

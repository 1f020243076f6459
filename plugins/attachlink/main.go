// Command attachlink is sluice's built-in filter that turns attachments
// into download links (data stage). Attachments above a size, or of listed
// types or extensions, are stored through the host's blob_put capability
// (grant "blob", a links block in the relay's config) and replaced by a
// short text part (and an HTML alternative when the message has HTML)
// with the file name, size, SHA-256, expiry and link.
// See README.md beside this file.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o attachlink.wasm ./plugins/attachlink
package main

import (
	"github.com/sluice-mail/sluice/plugins/internal/pluginconf"
	"github.com/sluice-mail/sluice/sdk"
)

func main() {}

// conf is read once, in init: a bad config refuses to load.
var conf *settings

func init() {
	sdk.Handle(sdk.Handlers{Data: data})
	conf = pluginconf.AtInit("attachlink", parseConfig)
}

func data(e *sdk.DataEvent) sdk.Result {
	if conf == nil {
		return sdk.Tempfail(451, "4.3.5", "Filter configuration error")
	}
	ch, notes, err := convert(e, conf, e.StorePart)
	for _, n := range notes {
		sdk.Log(sdk.LevelInfo, "attachlink: "+n)
	}
	if err != nil {
		// The message passes whole rather than being lost or delayed.
		sdk.Log(sdk.LevelWarn, "attachlink: message left whole: "+err.Error())
		return sdk.Continue()
	}
	if ch == nil {
		return sdk.Continue()
	}
	return sdk.Continue().With(ch)
}

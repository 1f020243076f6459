// Command plugin-tagger is an example sluice filter: it rejects configured
// senders at MAIL FROM and tags mail from senders outside the configured
// domains with the header "X-Sluice-Outside: yes".
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o tagger.wasm .
package main

import (
	"strings"

	"github.com/sluice-mail/sluice/sdk"
)

// config is the filter's `config = { ... }` block.
type config struct {
	// Domains are "inside": mail from them is not tagged.
	Domains []string `json:"domains"`
	// Reject lists envelope senders refused at MAIL FROM (case-insensitive).
	Reject []string `json:"reject"`
}

func main() {}

func init() {
	sdk.Handle(sdk.Handlers{Mail: mail, Data: data})
}

func load() config {
	var c config
	if err := sdk.ConfigJSON(&c); err != nil {
		sdk.Log(sdk.LevelError, "bad config: "+err.Error())
	}
	return c
}

func mail(e *sdk.MailEvent) sdk.Result {
	for _, r := range load().Reject {
		if strings.EqualFold(r, e.Txn.From) {
			return sdk.Reject(550, "5.7.1", "Sender refused by policy")
		}
	}
	return sdk.Continue()
}

func data(e *sdk.DataEvent) sdk.Result {
	if e.Txn.From == "" { // bounces have no sender domain to judge
		return sdk.Continue()
	}
	domain := sdk.AddressDomain(e.Txn.From)
	for _, d := range load().Domains {
		if strings.EqualFold(d, domain) {
			// Inside mail: strip a forged tag rather than trust it.
			return sdk.Continue().With(new(sdk.Changes).RemoveHeader("X-Sluice-Outside"))
		}
	}
	return sdk.Continue().With(new(sdk.Changes).SetHeader("X-Sluice-Outside", "yes"))
}

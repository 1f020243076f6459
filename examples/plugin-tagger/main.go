// Command plugin-tagger is an example sluice filter: it rejects configured
// senders at MAIL FROM and tags mail from senders outside the configured
// domains with the header "X-Sluice-Outside: yes".
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o tagger.wasm .
package main

import (
	"errors"
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

// cfg is read once, when the instance starts: the config never changes
// during an instance's life, and decoding JSON in the guest is slow.
var cfg config

func main() {}

func init() {
	// A config the plugin cannot read refuses the filter: sluice does not
	// start (or keeps the running filters on a reload) and logs this panic
	// under the filter's name. Outside sluice (a plain go test of this
	// package) there is no config.
	if err := sdk.ConfigJSON(&cfg); err != nil && !errors.Is(err, sdk.ErrNotInSandbox) {
		panic("tagger: bad config: " + err.Error())
	}
	sdk.Handle(sdk.Handlers{Mail: mail, Data: data})
}

func mail(e *sdk.MailEvent) sdk.Result {
	for _, r := range cfg.Reject {
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
	for _, d := range cfg.Domains {
		if strings.EqualFold(d, domain) {
			// Inside mail: strip a forged tag rather than trust it.
			return sdk.Continue().With(new(sdk.Changes).RemoveHeader("X-Sluice-Outside"))
		}
	}
	return sdk.Continue().With(new(sdk.Changes).SetHeader("X-Sluice-Outside", "yes"))
}

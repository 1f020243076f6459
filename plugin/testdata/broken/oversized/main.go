// Command oversized answers the data stage with a header value above the
// ABI's 16 KiB limit, but only for messages with a large body, so that
// `sluice plugin check` must run its large-body event to find it.
package main

import (
	"strings"

	"github.com/sluice-mail/sluice/sdk"
)

func main() {}

func init() {
	sdk.Handle(sdk.Handlers{
		Data: func(e *sdk.DataEvent) sdk.Result {
			if e.BodySize < 1<<20 {
				return sdk.Continue().With(new(sdk.Changes).AddHeader("X-Size", "small"))
			}
			return sdk.Continue().With(new(sdk.Changes).AddHeader("X-Size", strings.Repeat("big ", 5000)))
		},
	})
}

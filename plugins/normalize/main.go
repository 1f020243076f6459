// Command normalize is sluice's built-in format normalisation filter
// (data stage), configured per destination: one filter block per policy,
// attached to the domains it is for. It can re-encode 8-bit parts as
// quoted-printable or base64 for a next hop without 8BITMIME, fold
// over-long header lines, add a missing Date or Message-ID, decode RFC
// 2047 encoded-words into UTF-8 for SMTPUTF8 mail, and strip active and
// remote content from HTML parts. A message with a DKIM-Signature is not
// changed where the change would break the signature, unless the config
// says dkim = "normalize". See README.md beside this file.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o normalize.wasm ./plugins/normalize
package main

import (
	"crypto/rand"
	"io"
	"time"

	"github.com/sluice-mail/sluice/plugins/internal/pluginconf"
	"github.com/sluice-mail/sluice/sdk"
)

func main() {}

// conf is read once, in init: a bad config refuses to load.
var conf *settings

func init() {
	sdk.Handle(sdk.Handlers{Data: data})
	conf = pluginconf.AtInit("normalize", parseConfig)
}

func data(e *sdk.DataEvent) sdk.Result {
	if conf == nil {
		return sdk.Tempfail(451, "4.3.5", "Filter configuration error")
	}
	m := message{Txn: e.Txn, Header: e.Header, BodySize: e.BodySize, Parts: e.Parts,
		Body: func() io.Reader { return e.Body() }, BodyAt: e.Body()}
	ch, notes, err := conf.plan(m, env{Now: time.Now(), Random: rand.Reader})
	for _, n := range notes {
		sdk.Log(sdk.LevelInfo, "normalize: "+n)
	}
	if err != nil {
		// Passing the message unconverted to a next hop that needs the
		// conversion would be worse than a retry.
		sdk.Log(sdk.LevelError, "normalize: "+err.Error())
		return sdk.Tempfail(451, "4.3.0", "Message normalisation failed, try again later")
	}
	if ch == nil {
		return sdk.Continue()
	}
	return sdk.Continue().With(ch.changes())
}

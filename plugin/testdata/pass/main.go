// Command pass is a minimal pass-through plugin for benchmarks: every stage continues.
package main

import "github.com/sluice-mail/sluice/sdk"

func main() {}

func init() {
	sdk.Handle(sdk.Handlers{
		Mail: func(*sdk.MailEvent) sdk.Result { return sdk.Continue() },
		Data: func(*sdk.DataEvent) sdk.Result { return sdk.Continue() },
	})
}

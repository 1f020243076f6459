// Command verdict answers with malformed verdicts: a reject with a 2xx
// code at mail, an unknown action at rcpt, reply text with CR LF at data.
// `sluice plugin check` must report each.
package main

import "github.com/sluice-mail/sluice/sdk"

func main() {}

func init() {
	sdk.Handle(sdk.Handlers{
		Mail: func(*sdk.MailEvent) sdk.Result { return sdk.Result{Action: "reject", Code: 250, Enhanced: "2.0.0"} },
		Rcpt: func(*sdk.RcptEvent) sdk.Result { return sdk.Result{Action: "maybe"} },
		Data: func(*sdk.DataEvent) sdk.Result {
			return sdk.Result{Action: "reject", Text: "line one\r\n250 smuggled"}
		},
	})
}

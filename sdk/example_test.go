package sdk_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sluice-mail/sluice/sdk"
)

// checkSender and tagSubject are a plugin's handlers. Built for wasip1 the
// SDK calls them for each event; off the sandbox they are plain functions
// that a unit test calls with events built by hand.
func checkSender(e *sdk.MailEvent) sdk.Result {
	if sdk.AddressDomain(e.Txn.From) == "bad.example" {
		return sdk.Reject(550, "5.7.1", "Sender refused")
	}
	return sdk.Continue()
}

func tagSubject(e *sdk.DataEvent) sdk.Result {
	subject := e.Header.Get("Subject")
	if !strings.Contains(strings.ToLower(subject), "prize") {
		return sdk.Continue()
	}
	return sdk.Continue().With(new(sdk.Changes).
		SetHeader("Subject", "[SPAM] "+subject).
		AddHeader("X-Spam-Flag", "YES"))
}

// A plugin registers its handlers from init and has an empty main; the
// host calls only the stages that have a handler. The same handlers run
// natively in a plain `go test`.
func Example() {
	// In the plugin: func init() { sdk.Handle(...) } and func main() {}.
	sdk.Handle(sdk.Handlers{Mail: checkSender, Data: tagSubject})

	r := checkSender(&sdk.MailEvent{Txn: sdk.Txn{From: "spam@Bad.Example"}})
	fmt.Println(r.Action, r.Code, r.Enhanced, r.Text)
	r = checkSender(&sdk.MailEvent{Txn: sdk.Txn{From: "alice@example.com"}})
	fmt.Println(r.Action)
	// Output:
	// reject 550 5.7.1 Sender refused
	// continue
}

// Changes ride on a data-stage result; the host validates and applies
// them, and the filters after this one see the changed message.
func ExampleResult_With() {
	prize := &sdk.DataEvent{Header: sdk.Header{{Name: "Subject", Value: "You won a\r\n prize"}}}
	r := tagSubject(prize)
	fmt.Println(r.Action, r.Changes != nil)

	plain := &sdk.DataEvent{Header: sdk.Header{{Name: "Subject", Value: "Minutes"}}}
	r = tagSubject(plain)
	fmt.Println(r.Action, r.Changes != nil)
	// Output:
	// continue true
	// continue false
}

// A refusal carries the reply the client sees: 5xx and 5.x.x for Reject,
// 4xx and 4.x.x for Tempfail, printable ASCII text.
func ExampleReject() {
	for _, r := range []sdk.Result{
		sdk.Reject(554, "5.7.0", "Virus found"),
		sdk.Tempfail(451, "4.7.1", "Greylisted, please try again later"),
		sdk.Quarantine("score 9.1"),
		sdk.Accept(),
	} {
		fmt.Printf("%s %d %q %q\n", r.Action, r.Code, r.Enhanced, r.Text)
	}
	// Output:
	// reject 554 "5.7.0" "Virus found"
	// tempfail 451 "4.7.1" "Greylisted, please try again later"
	// quarantine 0 "" "score 9.1"
	// accept 0 "" ""
}

// Header lookups ignore case and unfold values; Values returns every
// field of a name, in order.
func ExampleHeader_Get() {
	h := sdk.Header{
		{Name: "Received", Value: "from a.example"},
		{Name: "Received", Value: "from b.example"},
		{Name: "Subject", Value: "Quarterly\r\n report"},
	}
	fmt.Println(h.Get("subject"))
	fmt.Println(h.Values("Received"))
	fmt.Println(h.Has("Date"))
	// Output:
	// Quarterly report
	// [from a.example from b.example]
	// false
}

func ExampleAddressDomain() {
	fmt.Println(sdk.AddressDomain("Bob@Mail.Example.COM"))
	fmt.Printf("%q\n", sdk.AddressDomain("postmaster"))
	// Output:
	// mail.example.com
	// ""
}

// Host calls need the sandbox: in a plain `go test` they return
// ErrNotInSandbox, so a plugin's tests give its config parser the JSON
// directly. Inside sluice, ConfigJSON decodes the filter's config block;
// call it once, from init.
func ExampleConfigJSON() {
	var cfg struct {
		Domains []string `json:"domains"`
	}
	err := sdk.ConfigJSON(&cfg)
	fmt.Println(errors.Is(err, sdk.ErrNotInSandbox))
	// Output:
	// true
}

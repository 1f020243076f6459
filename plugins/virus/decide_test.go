package main

import (
	"errors"
	"testing"

	"github.com/sluice-mail/sluice/plugins/virus/engine"
	"github.com/sluice-mail/sluice/sdk"
)

// TestRejectNamesTheVirus: when a virus and a policy finding both ask for
// reject, the reply names the virus (the issue asks for 554 5.7.0 with the
// signature name), whatever order the findings came in.
func TestRejectNamesTheVirus(t *testing.T) {
	c, err := parseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	policy := engine.Finding{Kind: engine.KindPolicy, Name: "Sluice.Policy.DangerousExtension", Category: engine.CatExtension, Part: "2"}
	virus := engine.Finding{Kind: engine.KindVirus, Name: "Eicar-Test-Signature", Part: "3"}
	limit := engine.Finding{Kind: engine.KindLimit, Name: "Heuristics.Limits.Exceeded.MaxTotal", Part: "4"}
	parts := []sdk.Part{{Path: "1"}, {Path: "2"}, {Path: "3"}, {Path: "4"}}
	for _, tt := range []struct {
		name     string
		findings []engine.Finding
		clamd    clamdResult
		want     string
	}{
		{"policy then virus", []engine.Finding{policy, virus}, clamdResult{}, "Virus found: Eicar-Test-Signature"},
		{"virus then policy", []engine.Finding{virus, policy}, clamdResult{}, "Virus found: Eicar-Test-Signature"},
		{"limit then virus", []engine.Finding{limit, virus}, clamdResult{}, "Virus found: Eicar-Test-Signature"},
		{"policy, clamd's virus", []engine.Finding{policy}, clamdResult{Ran: true, Virus: "Win.Test.Fake-1"}, "Virus found: Win.Test.Fake-1"},
		{"policy alone", []engine.Finding{policy}, clamdResult{}, "Attachment refused by policy: Sluice.Policy.DangerousExtension"},
		{"policy, clamd failing", []engine.Finding{policy}, clamdResult{Ran: true, Err: errors.New("down")}, "Attachment refused by policy: Sluice.Policy.DangerousExtension"},
	} {
		r := verdict(c, &engine.Report{Findings: tt.findings}, tt.clamd, parts)
		if r.Action != "reject" || r.Code != 554 || r.Enhanced != "5.7.0" || r.Text != tt.want {
			t.Errorf("%s: %s %d %s %q, want reject 554 5.7.0 %q", tt.name, r.Action, r.Code, r.Enhanced, r.Text, tt.want)
		}
	}
}

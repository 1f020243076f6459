package plugin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"

	"github.com/sluice-mail/sluice/sdk/abi"
)

var actionByName = map[string]Action{
	abi.ActionContinue: Continue, abi.ActionAccept: Accept, abi.ActionReject: Reject,
	abi.ActionTempfail: Tempfail, abi.ActionDiscard: Discard, abi.ActionQuarantine: Quarantine,
}

// enhancedCode is RFC 3463: class.subject.detail.
var enhancedCode = regexp.MustCompile(`^([245])\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})$`)

// Replies used when a plugin refuses without saying how, or fails.
var (
	defaultReject   = Verdict{Action: Reject, Code: 550, Enhanced: "5.7.1", Text: "Rejected by policy"}
	defaultTempfail = Verdict{Action: Tempfail, Code: 451, Enhanced: "4.7.1", Text: "Try again later"}
	failTempfail    = Verdict{Action: Tempfail, Code: 451, Enhanced: "4.3.0", Text: "Temporary local problem, try again later"}
	failReject      = Verdict{Action: Reject, Code: 550, Enhanced: "5.7.1", Text: "Rejected by policy"}
)

// continueResult is a plain continue verdict without changes.
const continueResult = `{"action":"continue"}`

// decodeResult parses and validates a result document for a stage. It
// returns the verdict and, at the data stage, the validated changes.

func decodeResult(stage string, raw []byte, txn *Txn, parts []part) (Verdict, *Changes, error) {
	// The common answer, as the Go SDK writes it, skips the JSON decoder.
	if string(raw) == continueResult {
		return Verdict{Action: Continue}, nil, nil
	}
	var r abi.Result
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Verdict{}, nil, fmt.Errorf("malformed result: %v", err)
	}
	if dec.More() {
		return Verdict{}, nil, fmt.Errorf("malformed result: trailing data")
	}
	a, ok := actionByName[r.Action]
	if !ok {
		return Verdict{}, nil, fmt.Errorf("unknown action %q", r.Action)
	}
	if (a == Discard || a == Quarantine) && stage != abi.StageData {
		return Verdict{}, nil, fmt.Errorf("action %s is only valid at the data stage", r.Action)
	}
	if err := validText(r.Text); err != nil {
		return Verdict{}, nil, err
	}
	v := Verdict{Action: a, Code: r.Code, Enhanced: r.Enhanced, Text: r.Text}
	switch a {
	case Reject, Tempfail:
		def, class := defaultReject, 5
		if a == Tempfail {
			def, class = defaultTempfail, 4
		}
		if v.Code == 0 {
			if v.Enhanced != "" {
				return Verdict{}, nil, fmt.Errorf("enhanced code %q without a reply code", v.Enhanced)
			}
			v.Code, v.Enhanced = def.Code, def.Enhanced
		}
		if v.Code/100 != class {
			return Verdict{}, nil, fmt.Errorf("%s with reply code %d (want %dxx)", r.Action, v.Code, class)
		}
		if v.Enhanced != "" {
			m := enhancedCode.FindStringSubmatch(v.Enhanced)
			if m == nil || m[1] != strconv.Itoa(class) {
				return Verdict{}, nil, fmt.Errorf("enhanced code %q does not match reply code %d", v.Enhanced, v.Code)
			}
		}
		if v.Text == "" {
			v.Text = def.Text
		}
	default:
		if v.Code != 0 || v.Enhanced != "" {
			return Verdict{}, nil, fmt.Errorf("action %s takes no reply code", r.Action)
		}
	}
	if r.Changes == nil {
		return v, nil, nil
	}
	if stage != abi.StageData {
		return Verdict{}, nil, fmt.Errorf("changes are only valid at the data stage")
	}
	ch, err := convertChanges(r.Changes, txn, parts)
	if err != nil {
		return Verdict{}, nil, fmt.Errorf("invalid changes: %w", err)
	}
	return v, ch, nil
}

// validText accepts SMTP reply text: printable US-ASCII and spaces only
// (so no CR or LF), at most abi.MaxTextBytes.
func validText(t string) error {
	if len(t) > abi.MaxTextBytes {
		return fmt.Errorf("reply text of %d bytes exceeds %d", len(t), abi.MaxTextBytes)
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; c < 0x20 || c > 0x7e {
			return fmt.Errorf("reply text contains byte %#x (only printable ASCII is allowed)", c)
		}
	}
	return nil
}

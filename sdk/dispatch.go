package sdk

import (
	"strconv"

	"github.com/sluice-mail/sluice/sdk/abi"
)

// dispatch decodes one packed event, runs the registered handler and
// appends its encoded result to out. A malformed event, an unknown stage or
// a missing handler (host bugs, or a hostile host) gives an error result
// instead: see errorResult. A handler that panics still traps.
func dispatch(in, out []byte) []byte {
	var ev abi.Event
	if len(in) > 0 && in[0] == '{' { // a packed event starts with the ABI version
		return errorResult(out, "the event is JSON, but this module asks for packed events (sluice_event_encoding = 1, ABI.md 3.4)")
	}
	if err := decodePacked(in, &ev, &eventSpares); err != nil {
		return errorResult(out, err.Error())
	}
	var txn Txn
	if ev.Txn != nil {
		txn = *ev.Txn
	}
	var r Result
	switch ev.Stage {
	case abi.StageConnect:
		if handlers.Connect == nil {
			return noHandler(out, ev.Stage)
		}
		r = handlers.Connect(&ConnectEvent{Session: ev.Session})
	case abi.StageHelo:
		if handlers.Helo == nil {
			return noHandler(out, ev.Stage)
		}
		r = handlers.Helo(&HeloEvent{Session: ev.Session})
	case abi.StageAuth:
		if handlers.Auth == nil {
			return noHandler(out, ev.Stage)
		}
		e := &AuthEvent{Session: ev.Session}
		if ev.Auth != nil {
			e.Mechanism, e.User, e.OK = ev.Auth.Mechanism, ev.Auth.User, ev.Auth.OK
		}
		r = handlers.Auth(e)
	case abi.StageMail:
		if handlers.Mail == nil {
			return noHandler(out, ev.Stage)
		}
		r = handlers.Mail(&MailEvent{Session: ev.Session, Txn: txn})
	case abi.StageRcpt:
		if handlers.Rcpt == nil {
			return noHandler(out, ev.Stage)
		}
		e := &RcptEvent{Session: ev.Session, Txn: txn}
		if ev.Rcpt != nil {
			e.Rcpt = *ev.Rcpt
		}
		r = handlers.Rcpt(e)
	case abi.StageData:
		if handlers.Data == nil {
			return noHandler(out, ev.Stage)
		}
		e := &DataEvent{Session: ev.Session, Txn: txn}
		if m := ev.Message; m != nil {
			e.Size, e.Header, e.BodySize, e.Parts = m.Size, Header(m.Header), m.BodySize, m.Parts
		}
		r = handlers.Data(e)
	case abi.StageDelivered:
		if handlers.Delivered == nil {
			return noHandler(out, ev.Stage)
		}
		handlers.Delivered(&DeliveredEvent{Session: ev.Session, Txn: txn, Outcomes: ev.Outcomes})
		r = Continue()
	default:
		stage := ev.Stage
		if len(stage) > 64 {
			stage = stage[:64] + "..."
		}
		return errorResult(out, "unknown stage "+strconv.Quote(stage))
	}
	w := r.wire()
	return appendResult(out, &w)
}

// eventSpares serve every event: dispatch copies what it hands to handlers.
var eventSpares spares

func noHandler(out []byte, stage string) []byte {
	return errorResult(out, "no handler for stage "+stage)
}

// errorResult logs msg and answers with a result whose action is
// "sdk error: " + msg. The host knows no such action: it logs
// `unknown action "sdk error: ..."`, applies the filter's on_error and
// replaces the instance, as after a trap, but the guest never crashed.
func errorResult(out []byte, msg string) []byte {
	hostLog(abi.LogError, "sdk: "+msg)
	return appendResult(out, &abi.Result{Action: errorAction + msg})
}

// errorAction starts the action of an error result.
const errorAction = "sdk error: "

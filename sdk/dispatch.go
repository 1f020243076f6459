package sdk

import (
	"encoding/json"
	"fmt"

	"github.com/sluice-mail/sluice/sdk/abi"
)

// dispatch decodes one event document, runs the registered handler and
// encodes its result. A malformed event or a missing handler is a host bug;
// it panics, which the host sees as a trap and handles with on_error.
func dispatch(in []byte) []byte {
	var ev abi.Event
	if err := json.Unmarshal(in, &ev); err != nil {
		panic(fmt.Sprintf("sdk: cannot decode event: %v", err))
	}
	var txn Txn
	if ev.Txn != nil {
		txn = *ev.Txn
	}
	r := Continue()
	switch ev.Stage {
	case abi.StageConnect:
		r = call(handlers.Connect, &ConnectEvent{Session: ev.Session}, ev.Stage)
	case abi.StageHelo:
		r = call(handlers.Helo, &HeloEvent{Session: ev.Session}, ev.Stage)
	case abi.StageAuth:
		e := &AuthEvent{Session: ev.Session}
		if ev.Auth != nil {
			e.Mechanism, e.User, e.OK = ev.Auth.Mechanism, ev.Auth.User, ev.Auth.OK
		}
		r = call(handlers.Auth, e, ev.Stage)
	case abi.StageMail:
		r = call(handlers.Mail, &MailEvent{Session: ev.Session, Txn: txn}, ev.Stage)
	case abi.StageRcpt:
		e := &RcptEvent{Session: ev.Session, Txn: txn}
		if ev.Rcpt != nil {
			e.Rcpt = *ev.Rcpt
		}
		r = call(handlers.Rcpt, e, ev.Stage)
	case abi.StageData:
		e := &DataEvent{Session: ev.Session, Txn: txn}
		if m := ev.Message; m != nil {
			e.Size, e.Header, e.BodySize, e.Parts = m.Size, Header(m.Header), m.BodySize, m.Parts
		}
		r = call(handlers.Data, e, ev.Stage)
	case abi.StageDelivered:
		if handlers.Delivered == nil {
			panic("sdk: no handler for stage delivered")
		}
		handlers.Delivered(&DeliveredEvent{Session: ev.Session, Txn: txn, Outcomes: ev.Outcomes})
	default:
		panic(fmt.Sprintf("sdk: unknown stage %q", ev.Stage))
	}
	out, err := json.Marshal(r.wire())
	if err != nil {
		panic(fmt.Sprintf("sdk: cannot encode result: %v", err))
	}
	return out
}

func call[E any](h func(*E) Result, e *E, stage string) Result {
	if h == nil {
		panic("sdk: no handler for stage " + stage)
	}
	return h(e)
}

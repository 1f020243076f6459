package sdk

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/sluice-mail/sluice/sdk/abi"
)

// dump spells out an event, pointers and nil-ness included.
func dump(ev abi.Event) string {
	b, _ := json.Marshal(struct {
		E                         abi.Event
		Auth, Txn, Rcpt, Msg      bool
		NilOutcomes, NilRcpts     bool
		NilHeader, NilParts, NilM bool
	}{E: ev, Auth: ev.Auth != nil, Txn: ev.Txn != nil, Rcpt: ev.Rcpt != nil, Msg: ev.Message != nil,
		NilOutcomes: ev.Outcomes == nil,
		NilRcpts:    ev.Txn != nil && ev.Txn.Recipients == nil, NilM: ev.Txn != nil && ev.Txn.MailParams == nil,
		NilHeader: ev.Message != nil && ev.Message.Header == nil, NilParts: ev.Message != nil && ev.Message.Parts == nil})
	return string(b)
}

// fullEvents are well-formed events of every stage, every field set, as the host writes them.
func fullEvents(t testing.TB) [][]byte {
	s := abi.Session{ID: "s1", ClientIP: "192.0.2.7", ClientPort: 4321, Listener: "mx", ListenerKind: "smtp",
		TLS: true, TLSVersion: "TLS1.3", TLSCipher: "TLS_AES_128_GCM_SHA256", Helo: "client.example",
		HeloExtended: true, AuthUser: "alice", Trusted: true}
	txn := &abi.Txn{QueueID: "q1", From: "bob@example.org", MailParams: map[string]string{"BODY": "8BITMIME", "SIZE": "1234"},
		Recipients: []abi.Recipient{{Addr: "alice@example.com", Params: map[string]string{"NOTIFY": "NEVER"}}, {Addr: "carol@example.com"}}}
	msg := &abi.Message{Size: 12345, BodySize: 11000,
		Header: []abi.HeaderField{{Name: "Subject", Value: "héllo <b>&</b> \u2028 folded\r\n\tline"}, {Name: "From", Value: "Bob <bob@example.org>"}},
		Parts: []abi.Part{{Path: "1", ContentType: "multipart/mixed", Size: 900, Multipart: true, HeaderStart: 10, BodyStart: 60, End: 960},
			{Path: "1.1", ContentType: "text/plain", Charset: "utf-8", Encoding: "quoted-printable", Size: 100, HeaderStart: 80, BodyStart: 120, End: 220},
			{Path: "1.2", ContentType: "application/pdf", Encoding: "base64", Disposition: "attachment", Filename: "a \"b\".pdf", Size: 800, HeaderStart: 240, BodyStart: 300, End: 1100}}}
	evs := []abi.Event{
		{ABI: 1, Stage: abi.StageConnect, Filter: "f", Session: s},
		{ABI: 1, Stage: abi.StageHelo, Filter: "f", Session: s},
		{ABI: 1, Stage: abi.StageAuth, Filter: "f", Session: s, Auth: &abi.Auth{Mechanism: "PLAIN", User: "alice", OK: true}},
		{ABI: 1, Stage: abi.StageMail, Filter: "f", Session: s, Txn: txn},
		{ABI: 1, Stage: abi.StageRcpt, Filter: "f", Session: s, Txn: txn, Rcpt: &abi.Recipient{Addr: "dave@example.com", Params: map[string]string{}}},
		{ABI: 1, Stage: abi.StageData, Filter: "f", Session: s, Txn: txn, Message: msg},
		{ABI: 1, Stage: abi.StageData, Filter: "f", Session: s, Txn: &abi.Txn{}, Message: &abi.Message{Header: []abi.HeaderField{}}},
		{ABI: 1, Stage: abi.StageDelivered, Filter: "f", Session: s, Txn: txn, Outcomes: []abi.Outcome{
			{Rcpt: "alice@example.com", Code: 250, Enhanced: "2.0.0", Text: "ok", Delivered: true},
			{Rcpt: "carol@example.com", Code: 550, Enhanced: "5.1.1", Text: "no such user", Permanent: true}}},
	}
	var out [][]byte
	for _, ev := range evs {
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
		var ind bytes.Buffer
		json.Indent(&ind, b, " \r", "\t ")
		out = append(out, ind.Bytes())
	}
	return out
}

// packedEvents are fullEvents in the packed encoding, as the host sends them
// to the Go SDK.
func packedEvents(t testing.TB) [][]byte {
	var out [][]byte
	for _, doc := range fullEvents(t) {
		if doc[0] != '{' || bytes.ContainsAny(doc, "\r\t") { // the indented copies add nothing here
			continue
		}
		var ev abi.Event
		if err := json.Unmarshal(doc, &ev); err != nil {
			t.Fatal(err)
		}
		out = append(out, abi.AppendPacked(nil, &ev))
	}
	return out
}

// hostile JSON documents: malformed, misleading or merely odd.
var hostile = []string{
	``, ` `, `{`, `}`, `[]`, `null`, ` null `, `nul`, `true`, `1`, `"x"`, `{}`, `{} `, `{}{}`, `{},`, "\ufeff{}", `{"stage":"mail"}x`,
	`{"stage":"mail",}`, `{,"stage":"mail"}`, `{"stage" "mail"}`, `{"stage":}`, `{"stage"}`, `{stage:"mail"}`, `{'stage':'mail'}`,
	`{"stage":"mail"`, `{"stage":"mail`, `{"stage":"ma\`, `{"stage":"ma\u12`, `{"stage":"ma\x"}`, `{"stage":"ma\'"}`,
	"{\"stage\":\"ma\til\"}", "{\"stage\":\"ma\x00il\"}", "{\"stage\":\"ma\x7fil\"}",
	`{"stage":"\u006dail","filter":"\/\b\f\n\r\t\"\\"}`, `{"filter":"\u0000\u001f\u00e9\u20AC"}`,
	`{"filter":"\ud83d\ude00 \ud83d \ude00 \ud83dx \ud83d\u0041 \udbff\udfff \ud800\ud800\udc00"}`,
	"{\"filter\":\"bad \xff \xc3\x28 \xed\xa0\x80 \xf4\x90\x80\x80 \xc0\xaf \xe2\x82 end\"}",
	"{\"filter\":\"\xe2\x82\"}", "{\"filter\":\"\xf0\x9f\x98\x80\xf0\x9f\x98\"}",
	"{\"st\xffage\":\"mail\"}", `{"st\u0061ge":"mail"}`, `{"STAGE":"mail","Filter":"F","SESSION":{"CLIENT_IP":"x","Tls":true}}`,
	"{\"\u017ftage\":\"mail\"}", "{\"\u0130d\":1}", `{"session":{"ıd":"x","\u0130D":"y"}}`,
	`{"session":{"client_port":4321}}`, `{"session":{"client_port":-0}}`, `{"session":{"client_port":0.0}}`,
	`{"session":{"client_port":1e3}}`, `{"session":{"client_port":1E+3}}`, `{"session":{"client_port":01}}`,
	`{"session":{"client_port":-}}`, `{"session":{"client_port":1.}}`, `{"session":{"client_port":.5}}`, `{"session":{"client_port":+1}}`,
	`{"session":{"client_port":9223372036854775807}}`, `{"session":{"client_port":9223372036854775808}}`,
	`{"session":{"client_port":-9223372036854775808}}`, `{"session":{"client_port":-9223372036854775809}}`,
	`{"session":{"client_port":99999999999999999999}}`, `{"session":{"client_port":"1"}}`, `{"session":{"client_port":null}}`,
	`{"session":{"client_port":true}}`, `{"session":{"tls":"true"}}`, `{"session":{"tls":1}}`, `{"session":{"tls":null,"trusted":false}}`,
	`{"session":{"tls":tru}}`, `{"session":{"tls":falsy}}`, `{"session":null}`, `{"session":[]}`, `{"session":"s"}`, `{"session":1}`,
	`{"stage":1}`, `{"stage":null}`, `{"stage":["mail"]}`, `{"stage":{}}`, `{"abi":"1"}`, `{"abi":1.5}`, `{"abi":null}`,
	`{"txn":null}`, `{"txn":{}}`, `{"txn":[]}`, `{"txn":3}`, `{"txn":{"mail_params":null}}`, `{"txn":{"mail_params":{}}}`,
	`{"txn":{"mail_params":{"A":null,"B":"b","A":"a2","":"empty"}}}`, `{"txn":{"mail_params":{"A":1}}}`, `{"txn":{"mail_params":[]}}`,
	`{"txn":{"mail_params":{"A":"1"}},"txn":{"mail_params":{"B":"2"}}}`, `{"txn":{"mail_params":{"A":"1"}},"txn":{"mail_params":null}}`,
	`{"txn":{"from":"a"},"txn":null,"txn":{"queue_id":"q"}}`, `{"txn":{"from":"a"},"txn":{"queue_id":"q"}}`,
	`{"txn":{"recipients":null}}`, `{"txn":{"recipients":[]}}`, `{"txn":{"recipients":{}}}`, `{"txn":{"recipients":[null]}}`,
	`{"txn":{"recipients":[1]}}`, `{"txn":{"recipients":["a"]}}`, `{"txn":{"recipients":[{"addr":"a"},]}}`, `{"txn":{"recipients":[,]}}`,
	`{"txn":{"recipients":[{"addr":"a","params":{"X":"1"}},{"addr":"b"},{"addr":"c"}],"recipients":[{"params":{"Y":"2"}}],"recipients":[{},{},{},{"addr":"d"}]}}`,
	`{"txn":{"recipients":[{"addr":"a"}],"recipients":[]}}`, `{"txn":{"recipients":[{"addr":"a"}],"recipients":[],"recipients":[{}]}}`,
	`{"txn":{"recipients":[{"addr":"a"}],"recipients":null,"recipients":[{}]}}`, `{"txn":{"recipients":[{"addr":"a"},{"addr":"b"}],"recipients":[{"addr":"x"}],"recipients":[{},{}]}}`,
	`{"message":{"header":[{"name":"A","value":"1"},{"name":"B"}],"header":[{"value":"2"}],"header":[{},{}]}}`,
	`{"message":{"size":-1,"body_size":1.0}}`, `{"message":{"size":"1"}}`, `{"message":{"parts":[{"size":1,"multipart":"yes"}]}}`,
	`{"message":{"parts":[{"path":"1","size":null,"multipart":null,"filename":null}]}}`, `{"message":null,"message":{"size":1}}`,
	`{"outcomes":[{"rcpt":"a","code":250,"delivered":true},{"code":"x"}]}`, `{"outcomes":[]}`, `{"outcomes":null}`, `{"outcomes":{}}`,
	`{"outcomes":[{"code":250}],"outcomes":[{"rcpt":"b"}]}`, `{"rcpt":{"addr":"a"},"rcpt":{"params":{"A":"b"}}}`, `{"auth":{"ok":true},"auth":{"user":"u"}}`,
	`{"unknown":{"a":[1,2,{"b":null,"c":[true,false,"x\"y",-1.5e-3]}],"d":{}},"stage":"mail"}`, `{"unknown":[],"x":{},"y":"","z":0}`,
	`{"unknown":[1,]}`, `{"unknown":{"a":1,}}`, `{"unknown":{"a"}}`, `{"unknown":{1:2}}`, `{"unknown":[1 2]}`, `{"unknown":-}`, `{"unknown":01}`,
	`{"unknown":"\ud800"}`, `{"unknown":"\u00"}`, `{"unknown":nan}`, `{"unknown":[[[[]]]]`, `{"unknown":[[[[]]]]]}`,
	`{"session":{"unknown":{"x":[1,{"y":2}]},"id":"s"},"txn":{"unknown":null,"from":"f"}}`,
	" \t\r\n{ \t\r\n\"stage\" \t\r\n: \t\r\n\"mail\" \t\r\n, \"txn\" : { \"recipients\" : [ { \"addr\" : \"a\" } , { } ] } \t\r\n} \t\r\n",
	"{\"stage\":\"mail\"}\x00", "{\"stage\":\"mail\"}\v",
}

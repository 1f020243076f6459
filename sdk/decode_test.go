package sdk

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sluice-mail/sluice/sdk/abi"
)

// checkSame decodes in with encoding/json (what the SDK used before) and
// with decodeEvent and fails unless both fail or both give the same event.
func checkSame(t testing.TB, in []byte) {
	t.Helper()
	var old, got abi.Event
	errOld := json.Unmarshal(in, &old)
	keep := bytes.Clone(in)
	errNew := decodeEvent(in, &got, new(spares))
	if !bytes.Equal(in, keep) {
		t.Fatalf("decodeEvent changed its input")
	}
	if (errOld == nil) != (errNew == nil) {
		t.Fatalf("%s\nencoding/json: %v\ndecodeEvent: %v", show(in), errOld, errNew)
	}
	if errOld == nil && !reflect.DeepEqual(old, got) {
		t.Fatalf("%s\nencoding/json: %s\ndecodeEvent:   %s", show(in), dump(old), dump(got))
	}
}

func show(in []byte) string {
	if len(in) > 400 {
		return string(in[:400]) + "..."
	}
	return string(in)
}

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

// hostile documents: malformed, misleading or merely odd.
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

func TestDecodeEventSameAsEncodingJSON(t *testing.T) {
	var corpus [][]byte
	corpus = append(corpus, fullEvents(t)...)
	for _, h := range hostile {
		corpus = append(corpus, []byte(h))
	}
	// Deep nesting at the limit and beyond, in an unknown field and where a
	// document is expected.
	for _, n := range []int{9998, 9999, 10000, 10001} {
		corpus = append(corpus, []byte(`{"unknown":`+strings.Repeat("[", n)+strings.Repeat("]", n)+`}`))
		corpus = append(corpus, []byte(`{"unknown":`+strings.Repeat(`{"a":`, n)+"1"+strings.Repeat("}", n)+`}`))
		corpus = append(corpus, []byte(`{"session":`+strings.Repeat("[", n)+strings.Repeat("]", n)+`}`))
	}
	corpus = append(corpus, []byte(strings.Repeat("[", 100000)))
	// Huge strings, plain, escaped and invalid.
	big := strings.Repeat("abcdefgh<&>é", 100000)
	corpus = append(corpus,
		[]byte(`{"filter":"`+big+`"}`),
		[]byte(`{"filter":"`+strings.Repeat(`\u00e9\n`, 100000)+`"}`),
		[]byte(`{"filter":"`+strings.Repeat("\xff", 100000)+`"}`),
		[]byte(`{"unknown":"`+big+`","stage":"data"}`),
		[]byte(`{"message":{"header":[`+strings.Repeat(`{"name":"X","value":"y"},`, 5000)+`{}]}}`))
	for _, in := range corpus {
		checkSame(t, in)
	}
	// Every prefix of the well-formed events, and every one with one byte
	// replaced by a character that matters to JSON.
	for _, in := range fullEvents(t)[:2] {
		for i := range in {
			checkSame(t, in[:i])
			for _, c := range []byte{'"', '\\', '{', '}', '[', ']', ',', ':', ' ', '0', 'n', 0, 0x80, 0xff} {
				m := bytes.Clone(in)
				m[i] = c
				checkSame(t, m)
			}
		}
	}
}

func FuzzDecodeEvent(f *testing.F) {
	for _, in := range fullEvents(f) {
		f.Add(in)
	}
	for _, h := range hostile {
		f.Add([]byte(h))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		checkSame(t, in)
	})
}

// The event's strings alias its buffer (that is the point); the slices and
// maps handed to handlers are fresh for every event.
func TestDecodeEventReuse(t *testing.T) {
	sp := new(spares)
	evs := fullEvents(t)
	var first abi.Event
	if err := decodeEvent(evs[10], &first, sp); err != nil { // data
		t.Fatal(err)
	}
	hdr, parts, rcpts := first.Message.Header, first.Message.Parts, first.Txn.Recipients
	want := []abi.HeaderField{{Name: "Subject", Value: "héllo <b>&</b> \u2028 folded\r\n\tline"}, {Name: "From", Value: "Bob <bob@example.org>"}}
	for i := 0; i < 3; i++ {
		var ev abi.Event
		if err := decodeEvent([]byte(`{"stage":"data","txn":{"recipients":[{"addr":"x"}]},"message":{"header":[{"name":"N","value":"V"}],"parts":[{"path":"9"}]}}`), &ev, sp); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(hdr, want) || len(parts) != 3 || parts[0].Path != "1" || len(rcpts) != 2 || rcpts[0].Addr != "alice@example.com" {
		t.Errorf("a later event changed an earlier one's slices: %v %v %v", hdr, parts, rcpts)
	}
	for _, f := range sp.header[:cap(sp.header)] {
		if f != (abi.HeaderField{}) {
			t.Errorf("scratch keeps %v", f)
		}
	}
}

func TestFieldSets(t *testing.T) {
	// Every name is found by its perfect hash, and a near miss is not.
	for _, fs := range []*fieldSet{eventFields, sessionFields, authFields, txnFields, recipientFields, messageFields, headerFields, partFields, outcomeFields} {
		var d decoder
		for i, n := range fs.names {
			if got := d.index([]byte(n), fs); got != i {
				t.Errorf("%s: index %d, want %d", n, got, i)
			}
			if got := d.index([]byte(strings.ToUpper(n)), fs); got != i {
				t.Errorf("%s upper-cased: index %d, want %d", n, got, i)
			}
			if got := d.index([]byte(n+"x"), fs); got != -1 {
				t.Errorf("%sx: index %d", n, got)
			}
			if got := d.index([]byte(n[:len(n)-1]), fs); got != -1 && fs.names[got] != n[:len(n)-1] {
				t.Errorf("%s shortened: index %d", n, got)
			}
		}
	}
}

func TestSpecial(t *testing.T) {
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 8; pos++ {
			b := []byte("aaaaaaaa")
			b[pos] = byte(c)
			x := uint64(0)
			for i := 7; i >= 0; i-- {
				x = x<<8 | uint64(b[i])
			}
			m := special(x)
			want := c == '"' || c == '\\' || c < ' ' || c >= utf8.RuneSelf
			if got := m != 0; got != want {
				t.Fatalf("byte %#x at %d: special %v, want %v", c, pos, got, want)
			}
			if want && m&(0x80<<(8*pos)) == 0 {
				t.Fatalf("byte %#x at %d: flagged at the wrong place %#x", c, pos, m)
			}
		}
	}
}

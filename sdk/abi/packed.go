package abi

import (
	"encoding/binary"
	"slices"
)

// The packed event encoding (ABI.md 3.4): the same Event as the JSON
// document, written as a fixed sequence of fields, for guests that decode
// JSON slowly. A guest asks for it by exporting sluice_event_encoding and
// returning EncodingPacked; the host then sends every event packed.
//
//	string  uvarint length, then the bytes
//	int     signed varint (zig-zag, as encoding/binary.AppendVarint)
//	bool    one byte, 0 or 1
//	opt(T)  one byte, 0 (absent) or 1, then T
//	list(T) uvarint count, then the items
//	map     uvarint count, then key and value strings, keys in ascending order
//
//	Event     abi:int stage:string filter:string session:Session auth:opt(Auth)
//	          txn:opt(Txn) rcpt:opt(Recipient) message:opt(Message) outcomes:list(Outcome)
//	Session   id client_ip:string client_port:int listener listener_kind:string tls:bool
//	          tls_version tls_cipher helo:string helo_extended:bool auth_user:string trusted:bool
//	Auth      mechanism user:string ok:bool
//	Txn       queue_id from:string mail_params:map recipients:list(Recipient)
//	Recipient addr:string params:map
//	Message   size:int header:list(name value:string) body_size:int parts:list(Part)
//	Part      path content_type charset encoding disposition filename:string size:int
//	          multipart:bool header_start body_start end:int
//	Outcome   rcpt:string code:int enhanced text:string delivered permanent:bool

// Event encodings a guest may ask for with sluice_event_encoding.
const (
	EncodingJSON   = 0
	EncodingPacked = 1
)

// ExportEventEncoding is the optional export that chooses the encoding.
const ExportEventEncoding = "sluice_event_encoding" // () -> i32

// AppendPacked appends the packed encoding of ev to b.
func AppendPacked(b []byte, ev *Event) []byte {
	b = binary.AppendVarint(b, int64(ev.ABI))
	b = AppendPackedString(b, ev.Stage)
	b = AppendPackedString(b, ev.Filter)
	s := &ev.Session
	b = AppendPackedString(b, s.ID)
	b = AppendPackedString(b, s.ClientIP)
	b = binary.AppendVarint(b, int64(s.ClientPort))
	b = AppendPackedString(b, s.Listener)
	b = AppendPackedString(b, s.ListenerKind)
	b = appendBool(b, s.TLS)
	b = AppendPackedString(b, s.TLSVersion)
	b = AppendPackedString(b, s.TLSCipher)
	b = AppendPackedString(b, s.Helo)
	b = appendBool(b, s.HeloExtended)
	b = AppendPackedString(b, s.AuthUser)
	b = appendBool(b, s.Trusted)
	b = appendBool(b, ev.Auth != nil)
	if a := ev.Auth; a != nil {
		b = AppendPackedString(b, a.Mechanism)
		b = AppendPackedString(b, a.User)
		b = appendBool(b, a.OK)
	}
	b = appendBool(b, ev.Txn != nil)
	if t := ev.Txn; t != nil {
		b = AppendPackedString(b, t.QueueID)
		b = AppendPackedString(b, t.From)
		b = appendMap(b, t.MailParams)
		b = binary.AppendUvarint(b, uint64(len(t.Recipients)))
		for i := range t.Recipients {
			b = appendRecipient(b, &t.Recipients[i])
		}
	}
	b = appendBool(b, ev.Rcpt != nil)
	if ev.Rcpt != nil {
		b = appendRecipient(b, ev.Rcpt)
	}
	b = appendBool(b, ev.Message != nil)
	if m := ev.Message; m != nil {
		b = binary.AppendVarint(b, m.Size)
		b = binary.AppendUvarint(b, uint64(len(m.Header)))
		for _, f := range m.Header {
			b = AppendPackedString(b, f.Name)
			b = AppendPackedString(b, f.Value)
		}
		b = binary.AppendVarint(b, m.BodySize)
		b = binary.AppendUvarint(b, uint64(len(m.Parts)))
		for i := range m.Parts {
			p := &m.Parts[i]
			b = AppendPackedString(b, p.Path)
			b = AppendPackedString(b, p.ContentType)
			b = AppendPackedString(b, p.Charset)
			b = AppendPackedString(b, p.Encoding)
			b = AppendPackedString(b, p.Disposition)
			b = AppendPackedString(b, p.Filename)
			b = binary.AppendVarint(b, p.Size)
			b = appendBool(b, p.Multipart)
			b = binary.AppendVarint(b, p.HeaderStart)
			b = binary.AppendVarint(b, p.BodyStart)
			b = binary.AppendVarint(b, p.End)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(ev.Outcomes)))
	for _, o := range ev.Outcomes {
		b = AppendPackedString(b, o.Rcpt)
		b = binary.AppendVarint(b, int64(o.Code))
		b = AppendPackedString(b, o.Enhanced)
		b = AppendPackedString(b, o.Text)
		b = appendBool(b, o.Delivered)
		b = appendBool(b, o.Permanent)
	}
	return b
}

// PackedFilterOffset is where the filter field starts in
// AppendPacked(nil, ev): after abi and stage, the first two fields.
func PackedFilterOffset(ev *Event) int {
	return len(binary.AppendVarint(nil, int64(ev.ABI))) + len(AppendPackedString(nil, ev.Stage))
}

// AppendPackedString appends s as a packed string: its length, then its bytes.
func AppendPackedString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendRecipient(b []byte, r *Recipient) []byte {
	b = AppendPackedString(b, r.Addr)
	return appendMap(b, r.Params)
}

func appendMap(b []byte, m map[string]string) []byte {
	b = binary.AppendUvarint(b, uint64(len(m)))
	if len(m) == 0 {
		return b
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b = AppendPackedString(b, k)
		b = AppendPackedString(b, m[k])
	}
	return b
}

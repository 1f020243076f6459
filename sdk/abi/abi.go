// Package abi is the Go transcription of sluice's plugin ABI v1 (see ../ABI.md):
// the version, the stage bits, the host error codes and the JSON documents
// exchanged between the host (package plugin) and a guest (package sdk).
//
// It has no build tags and no dependencies beyond encoding/json so that both
// sides compile the very same definitions; ABI.md stays the normative text.
package abi

// Version is the ABI version this package describes. A guest returns it from
// the export sluice_abi_version; the host refuses any version it does not list.
const Version = 1

// Module is the import module name of every host function.
const Module = "sluice"

// Export names a guest must (or, for Initialize, may) provide.
const (
	ExportABIVersion = "sluice_abi_version" // () -> i32
	ExportStages     = "sluice_stages"      // () -> i32 bitmask of Stage bits
	ExportAlloc      = "sluice_alloc"       // (size i32) -> ptr i32
	ExportOnEvent    = "sluice_on_event"    // (ptr i32, len i32) -> i64 (ptr<<32 | len)
	ExportInitialize = "_initialize"        // optional WASI reactor initialiser
	// ExportStart is a WASI command's entry point. A module exporting it
	// is refused: sluice never calls it, and clang wraps each export of a
	// command module in the C constructors and destructors.
	ExportStart = "_start"
)

// Stage names, as used in events, config files and the Stage bits.
const (
	StageConnect   = "connect"
	StageHelo      = "helo"
	StageAuth      = "auth"
	StageMail      = "mail"
	StageRcpt      = "rcpt"
	StageData      = "data"
	StageDelivered = "delivered"
)

// Stage bits returned by sluice_stages.
const (
	BitConnect   = 1 << 0
	BitHelo      = 1 << 1
	BitAuth      = 1 << 2
	BitMail      = 1 << 3
	BitRcpt      = 1 << 4
	BitData      = 1 << 5
	BitDelivered = 1 << 6
	AllStages    = 1<<7 - 1
)

// StageBits maps a stage name to its bit; StageNames lists them in bit order.
var (
	StageBits = map[string]int32{
		StageConnect: BitConnect, StageHelo: BitHelo, StageAuth: BitAuth, StageMail: BitMail,
		StageRcpt: BitRcpt, StageData: BitData, StageDelivered: BitDelivered,
	}
	StageNames = []string{StageConnect, StageHelo, StageAuth, StageMail, StageRcpt, StageData, StageDelivered}
)

// Error codes returned (as negative i32) by host functions. A host function
// never traps because of bad guest input; it returns one of these.
const (
	ErrInvalid     = -1 // bad pointer, length or argument
	ErrNotFound    = -2 // no such key, part or record
	ErrDenied      = -3 // capability not granted by the operator
	ErrUnavailable = -4 // not available at this stage (e.g. body_read outside data)
	ErrTooLarge    = -5 // key, value or request exceeds a limit
	ErrFailed      = -6 // the operation failed (I/O, DNS, HTTP)
)

// Log levels for the log host function.
const (
	LogTrace = 0
	LogDebug = 1
	LogInfo  = 2
	LogWarn  = 3
	LogError = 4
)

// Limits of ABI v1.
const (
	MaxEventBytes   = 4 << 20  // largest event document the host sends
	MaxResultBytes  = 16 << 20 // largest result document the host accepts
	MaxTextBytes    = 512      // verdict text
	MaxKVKeyBytes   = 256
	MaxKVValueBytes = 64 << 10
	MaxKVKeys       = 10000 // per filter
	MaxHTTPBody     = 1 << 20
	MaxLogLineBytes = 1024
	// MaxRecipientChanges bounds each recipient list of a result's changes
	// (add, remove, replace, reroute), and of a chain's changes together.
	MaxRecipientChanges = 1000
)

// Event is the document the host passes to sluice_on_event. Fields that do
// not apply to a stage are omitted.
type Event struct {
	ABI      int        `json:"abi"`
	Stage    string     `json:"stage"`
	Filter   string     `json:"filter"`
	Session  Session    `json:"session"`
	Auth     *Auth      `json:"auth,omitempty"`
	Txn      *Txn       `json:"txn,omitempty"`
	Rcpt     *Recipient `json:"rcpt,omitempty"`
	Message  *Message   `json:"message,omitempty"`
	Outcomes []Outcome  `json:"outcomes,omitempty"`
}

// Session describes the SMTP connection.
type Session struct {
	ID           string `json:"id"`
	ClientIP     string `json:"client_ip"`
	ClientPort   int    `json:"client_port"`
	Listener     string `json:"listener"`
	ListenerKind string `json:"listener_kind"`
	TLS          bool   `json:"tls"`
	TLSVersion   string `json:"tls_version,omitempty"`
	TLSCipher    string `json:"tls_cipher,omitempty"`
	Helo         string `json:"helo,omitempty"`
	HeloExtended bool   `json:"helo_extended,omitempty"`
	AuthUser     string `json:"auth_user,omitempty"`
	// Trusted is set when the client is in the relay's trusted_networks
	// (or on a local unix socket): it may relay like an authenticated user.
	Trusted bool `json:"trusted,omitempty"`
}

// Auth is the AUTH attempt at the auth stage (never the password).
type Auth struct {
	Mechanism string `json:"mechanism"`
	User      string `json:"user"`
	OK        bool   `json:"ok"`
}

// Txn is the mail transaction.
type Txn struct {
	QueueID    string            `json:"queue_id,omitempty"`
	From       string            `json:"from"`
	MailParams map[string]string `json:"mail_params,omitempty"`
	Recipients []Recipient       `json:"recipients,omitempty"`
}

// Recipient is one RCPT TO address and its parameters.
type Recipient struct {
	Addr   string            `json:"addr"`
	Params map[string]string `json:"params,omitempty"`
}

// Message is the message at the data stage; the body itself is read with
// body_read and part_read.
type Message struct {
	Size     int64         `json:"size"`
	Header   []HeaderField `json:"header"`
	BodySize int64         `json:"body_size"`
	Parts    []Part        `json:"parts,omitempty"`
}

// HeaderField is one header field: Value is the raw field body after the
// colon, leading whitespace removed, folding (CRLF WSP) kept, final CRLF dropped.
type HeaderField struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Part is one MIME entity, numbered like IMAP: "1", "2", "2.1".
type Part struct {
	Path        string `json:"path"`
	ContentType string `json:"content_type"`          // lower-case media type
	Charset     string `json:"charset,omitempty"`     // lower-case
	Encoding    string `json:"encoding,omitempty"`    // Content-Transfer-Encoding, lower-case
	Disposition string `json:"disposition,omitempty"` // inline, attachment
	Filename    string `json:"filename,omitempty"`    //
	Size        int64  `json:"size"`                  // raw (encoded) body bytes
	Multipart   bool   `json:"multipart,omitempty"`   // a container; its children follow
	// Where the part lies, in the offsets body_read takes: its header starts
	// at HeaderStart, its content at BodyStart, and it ends at End
	// (exclusive; the line break before the next delimiter belongs to the
	// delimiter). A single-part message's part "1" is the whole body, 0 to
	// body_size: its header is the message's.
	HeaderStart int64 `json:"header_start"`
	BodyStart   int64 `json:"body_start"`
	End         int64 `json:"end"`
}

// Outcome is one recipient's delivery result at the delivered stage.
type Outcome struct {
	Rcpt      string `json:"rcpt"`
	Code      int    `json:"code"`
	Enhanced  string `json:"enhanced,omitempty"`
	Text      string `json:"text,omitempty"`
	Delivered bool   `json:"delivered"`
	Permanent bool   `json:"permanent,omitempty"`
}

// Actions a result may carry.
const (
	ActionContinue   = "continue"
	ActionAccept     = "accept"
	ActionReject     = "reject"
	ActionTempfail   = "tempfail"
	ActionDiscard    = "discard"
	ActionQuarantine = "quarantine"
)

// Result is the document sluice_on_event returns.
type Result struct {
	Action   string   `json:"action"`
	Code     int      `json:"code,omitempty"`
	Enhanced string   `json:"enhanced,omitempty"`
	Text     string   `json:"text,omitempty"`
	Changes  *Changes `json:"changes,omitempty"`
}

// Changes is what a data-stage result asks the host to modify.
type Changes struct {
	Headers           []HeaderChange     `json:"headers,omitempty"`
	Sender            *string            `json:"sender,omitempty"`
	AddRecipients     []Recipient        `json:"add_recipients,omitempty"`
	RemoveRecipients  []string           `json:"remove_recipients,omitempty"`
	ReplaceRecipients []RecipientReplace `json:"replace_recipients,omitempty"`
	Reroute           []Reroute          `json:"reroute,omitempty"`
	Body              *[]byte            `json:"body,omitempty"` // base64 in JSON; CRLF line endings
	Parts             []PartReplace      `json:"parts,omitempty"`
}

// Header operations.
const (
	HeaderAdd     = "add"     // append a field at the end of the header
	HeaderPrepend = "prepend" // insert a field at the top of the header (trace-like fields)
	HeaderSet     = "set"     // replace every field of that name by one (appended if none)
	HeaderRemove  = "remove"  // remove every field of that name, or only the Index-th one
)

// HeaderChange is one header operation.
type HeaderChange struct {
	Op    string `json:"op"`
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
	// Index, with remove only, removes just the Index-th field of that name
	// (1 = the first) as the event listed them; 0 removes every one.
	Index int `json:"index,omitempty"`
}

// RecipientReplace swaps an envelope recipient for another.
type RecipientReplace struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Reroute sends one recipient through a named route of the relay.
type Reroute struct {
	Rcpt  string `json:"rcpt"`
	Route string `json:"route"`
}

// MaxRouteName is the longest route name, in bytes.
const MaxRouteName = 64

// ValidRouteName reports whether s may name a route in a Reroute (ABI.md
// section 3.3): 1 to MaxRouteName ASCII letters, digits, '.', '_' and '-',
// starting with a letter or digit ([A-Za-z0-9][A-Za-z0-9._-]{0,63}). The
// host refuses a change with another name, and a filter that takes route
// names from its configuration (plugins/rewrite) checks them here too, so
// that it refuses at load what the host would refuse at each message.
// Whether the relay has that route is for the relay to say.
func ValidRouteName(s string) bool {
	if len(s) == 0 || len(s) > MaxRouteName {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// PartReplace replaces one MIME entity (header and body) by a new leaf part.
type PartReplace struct {
	Path        string `json:"path"`
	ContentType string `json:"content_type"`
	Disposition string `json:"disposition,omitempty"`
	Body        []byte `json:"body"` // base64 in JSON; the decoded content
}

// DNSRequest is the argument of dns_lookup.
type DNSRequest struct {
	Type string `json:"type"` // A, AAAA, TXT, MX, PTR
	Name string `json:"name"`
}

// DNSResponse is its result.
type DNSResponse struct {
	Records []string `json:"records"`
}

// HTTPRequest is the argument of http_call; the URL is fixed by the operator.
type HTTPRequest struct {
	Method      string `json:"method"` // GET or POST
	ContentType string `json:"content_type,omitempty"`
	Body        []byte `json:"body,omitempty"`
}

// HTTPResponse is its result.
type HTTPResponse struct {
	Status      int    `json:"status"`
	ContentType string `json:"content_type,omitempty"`
	Body        []byte `json:"body,omitempty"`
}

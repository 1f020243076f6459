package config

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"golang.org/x/crypto/bcrypt"
)

func TestParseFull(t *testing.T) {
	src, err := os.ReadFile("testdata/good/full.hcl")
	if err != nil {
		t.Fatal(err)
	}
	got, diags := Parse(src, "full.hcl", "/etc/sluice")
	if len(diags) > 0 {
		t.Fatalf("diagnostics: %s", diags.Error())
	}
	want := &Config{
		Hostname: "mx.example.org",
		DataDir:  "/etc/sluice/data",
		Log:      Log{Level: "debug", Format: "json"},
		TLS:      TLS{CertFile: "/etc/sluice/cert.pem", KeyFile: "/etc/ssl/key.pem"},
		Limits: Limits{
			MaxConnections:              10,
			MaxConnectionsPerIP:         2,
			ReadTimeout:                 time.Minute,
			WriteTimeout:                90 * time.Second,
			MaxLineLength:               1000,
			MaxHeaderBytes:              64 << 10,
			MaxMessageBytes:             20e6,
			MaxRecipients:               500,
			ShutdownGrace:               time.Second,
			DataTimeout:                 2 * time.Minute,
			MinDataRate:                 1 << 10,
			AuthFailureDelay:            2 * time.Second,
			MaxAuthFailures:             5,
			MaxAuthFailuresPerIPPerHour: 30,
		},
		Queue: Queue{
			ConcurrencyPerDestination: 3,
			RetryMin:                  time.Minute,
			RetryMax:                  time.Hour,
			GiveUpAfter:               48 * time.Hour,
			DelayWarning:              2 * time.Hour,
			MaxDeliveries:             100,
			MinFreeDisk:               100 << 20,
		},
		TrustedNetworks: []netip.Prefix{
			netip.MustParsePrefix("10.0.0.0/8"),
			netip.MustParsePrefix("192.0.2.7/32"),
			netip.MustParsePrefix("2001:db8::/32"),
		},
		Listeners: []Listener{
			{Name: "inbound", Kind: KindSMTP, Network: "tcp", Address: "127.0.0.1:2525", STARTTLS: true},
			{Name: "submission", Kind: KindSubmission, Network: "tcp", Address: "[::1]:2587", STARTTLS: true},
			{Name: "lmtp", Kind: KindLMTP, Network: "unix", Address: "/etc/sluice/lmtp.sock", STARTTLS: false, SocketMode: 0o600},
			{Name: "smtps", Kind: KindSMTPS, Network: "tcp", Address: ":0", STARTTLS: false},
		},
		Users: []User{{Name: "alice@example.org", PasswordHash: "$2a$04$pzMtWBb1OEGrr.SnIZSs2.hKoF7MT1rMPc1hLqSImyGQVKXW3iRSy"}},
		Filters: []Filter{
			{
				Name: "spam", Wasm: "/etc/sluice/plugins/spam.wasm", Stages: []string{"rcpt", "data"},
				Timeout: 500 * time.Millisecond, MemoryBytes: 16 << 20, OnError: "continue",
				ConfigJSON:   []byte(`{"lists":["a","b"],"threshold":5}`),
				Grants:       []string{"dns", "http"},
				HTTPEndpoint: "https://rspamd.example/check",
			},
			{
				Name: "noop", Wasm: "/opt/noop.wasm",
				Timeout: 2 * time.Second, MemoryBytes: 64 << 20, OnError: "tempfail", ConfigJSON: []byte("{}"),
			},
			{
				Name: "rewrite", Builtin: "rewrite", Stages: []string{"data"},
				Timeout: 2 * time.Second, MemoryBytes: 64 << 20, OnError: "tempfail", ConfigJSON: []byte("{}"),
			},
		},
		Domains: []Domain{
			{
				Name: "localhost", MaxMessageBytes: 10 << 20, MaxRecipients: 50, Filters: []string{"spam", "noop"},
				Deliver: Delivery{Method: DeliverMaildir, Path: "/etc/sluice/data/maildir/{domain}/{local}"},
			},
			{Name: "example.org", Deliver: Delivery{Method: DeliverLMTP, Network: "unix", Address: "/run/dovecot/lmtp"}},
			{Name: "lists.example.org", Deliver: Delivery{Method: DeliverMaildir, Path: "/etc/sluice/mail/{domain}/{local}"}},
			{Name: "relay.example", RetryMin: 10 * time.Minute, GiveUpAfter: 24 * time.Hour, Deliver: Delivery{
				Method: DeliverSMTP, Network: "tcp", Address: "127.0.0.1:2526", TLS: TLSRequired, AuthUser: "u", AuthPassword: "p",
			}},
			{Name: "*", Deliver: Delivery{Method: DeliverMX, TLS: TLSVerify, Resolver: "127.0.0.1:5353", Port: 2500}},
		},
		Source: "full.hcl",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
}

// TestParseMinimal checks the defaults of everything a file leaves out.
func TestParseMinimal(t *testing.T) {
	src := `
listener "smtp" { address = "127.0.0.1:25" }
domain "example.org" {
  deliver "mx" {}
}
domain "relay.example" {
  deliver "smtp" { address = "unix:relay.sock" }
}
`
	got, diags := Parse([]byte(src), "min.hcl", "")
	if len(diags) > 0 {
		t.Fatalf("diagnostics: %s", diags.Error())
	}
	want := defaults()
	want.Hostname = got.Hostname
	want.DataDir = "sluice-data"
	want.Listeners = []Listener{{Name: "smtp", Kind: KindSMTP, Network: "tcp", Address: "127.0.0.1:25", STARTTLS: true}}
	want.Domains = []Domain{
		{Name: "example.org", Deliver: Delivery{Method: DeliverMX, TLS: TLSOpportunistic, Port: 25}},
		{Name: "relay.example", Deliver: Delivery{Method: DeliverSMTP, Network: "unix", Address: "relay.sock", TLS: TLSOpportunistic}},
	}
	want.Source = "min.hcl"
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
	if got.Hostname == "" {
		t.Error("Hostname not defaulted")
	}
}

func TestDefault(t *testing.T) {
	c := Default()
	if _, diags := Parse(defaultHCL, DefaultSource, ""); len(diags) > 0 {
		t.Fatalf("default.hcl has diagnostics: %s", diags.Error())
	}
	if c.Source != DefaultSource || c.DataDir != "sluice-data" || c.Hostname == "" {
		t.Errorf("Source %q DataDir %q Hostname %q", c.Source, c.DataDir, c.Hostname)
	}
	wantListeners := []Listener{
		{Name: "smtp", Kind: KindSMTP, Network: "tcp", Address: "127.0.0.1:2525", STARTTLS: true},
		{Name: "submission", Kind: KindSubmission, Network: "tcp", Address: "127.0.0.1:2587", STARTTLS: true},
		{Name: "lmtp", Kind: KindLMTP, Network: "tcp", Address: "127.0.0.1:2424", STARTTLS: true},
	}
	if !reflect.DeepEqual(c.Listeners, wantListeners) {
		t.Errorf("listeners %+v", c.Listeners)
	}
	d, ok := c.Domain("localhost")
	if !ok || d.Deliver != (Delivery{Method: DeliverMaildir, Path: "sluice-data/maildir/{local}"}) {
		t.Errorf("localhost: %v %+v", ok, d)
	}
	if c.CatchAll() != nil || len(c.Domains) != 1 {
		t.Errorf("default must serve only localhost, got %+v", c.Domains)
	}
	for _, ip := range []string{"127.0.0.1", "::1", "::ffff:127.0.0.2"} {
		if !c.Trusted(netip.MustParseAddr(ip)) {
			t.Errorf("%s not trusted", ip)
		}
	}
	// Each call returns its own copy.
	c.Domains[0].Name = "changed"
	if Default().Domains[0].Name != "localhost" {
		t.Error("Default shares state between calls")
	}
}

// TestExample loads the documented example the way sluice does.
func TestExample(t *testing.T) {
	path := filepath.Join("..", "..", "examples", "sluice.hcl")
	c, diags := Load(path)
	if len(diags) > 0 {
		var b bytes.Buffer
		WriteDiagnostics(&b, diags, nil)
		t.Fatalf("examples/sluice.hcl:\n%s", b.String())
	}
	if c.Source != path || !strings.HasPrefix(c.DataDir, filepath.Dir(path)) {
		t.Errorf("Source %q DataDir %q: relative paths must resolve against the file", c.Source, c.DataDir)
	}
	// The smart host's password is in a file of its own.
	for _, d := range c.Domains {
		if d.Name == "relay.example" && (d.Deliver.AuthPassword != "p" || !strings.HasSuffix(d.Deliver.AuthPasswordFile, "relay-password")) {
			t.Errorf("relay.example: password %q from %q, want p from secrets/relay-password", d.Deliver.AuthPassword, d.Deliver.AuthPasswordFile)
		}
	}
	// The comment in the users file names the password of its hash.
	if u, ok := c.UserByName("alice"); !ok || bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte("example")) != nil {
		t.Error(`user "alice" must have the password "example", as the example says`)
	}
}

func TestLoadErrors(t *testing.T) {
	_, diags := Load("testdata/does-not-exist.hcl")
	if !diags.HasErrors() || !strings.Contains(FormatDiagnostic(diags[0]), "Cannot read configuration; open testdata/does-not-exist.hcl") {
		t.Errorf("missing file: %v", diags)
	}
}

func TestLookups(t *testing.T) {
	c, diags := Load("testdata/good/full.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for _, tc := range []struct {
		name string
		want string // "" for not found
	}{
		{"localhost", "localhost"},
		{"Example.ORG", "example.org"},
		{"example.org.", "example.org"},
		{"sub.example.org", ""},
		{"*", ""},
		{"", ""},
	} {
		d, ok := c.Domain(tc.name)
		if ok != (tc.want != "") || ok && d.Name != tc.want {
			t.Errorf("Domain(%q) = %v, %v; want %q", tc.name, d, ok, tc.want)
		}
	}
	if ca := c.CatchAll(); ca == nil || ca.Deliver.Method != DeliverMX {
		t.Errorf("CatchAll = %+v", ca)
	}
	// Internationalized names: blocks are written with A-labels; SMTPUTF8
	// mail may name the domain with U-labels.
	idn := &Config{Domains: []Domain{{Name: "xn--bcher-kva.example"}}}
	for _, name := range []string{"xn--bcher-kva.example", "bücher.example", "BÜCHER.Example.", "XN--BCHER-KVA.example"} {
		if d, ok := idn.Domain(name); !ok || d.Name != "xn--bcher-kva.example" {
			t.Errorf("Domain(%q) = %v, %v; want the xn--bcher-kva.example block", name, d, ok)
		}
	}
	if _, ok := idn.Domain("bucher.example"); ok {
		t.Error("Domain(bucher.example) matched an IDN block")
	}
	if u, ok := c.UserByName("alice@example.org"); !ok || u.Name != "alice@example.org" {
		t.Errorf("UserByName(alice@example.org) = %v, %v", u, ok)
	}
	if _, ok := c.UserByName("Alice@example.org"); ok {
		t.Error("user names must be case-sensitive")
	}
	if f, ok := c.FilterByName("spam"); !ok || f.OnError != "continue" {
		t.Errorf("FilterByName(spam) = %v, %v", f, ok)
	}
	if _, ok := c.FilterByName("ham"); ok {
		t.Error("FilterByName(ham) found")
	}
	for _, tc := range []struct {
		ip   string
		want bool
	}{
		{"10.200.0.1", true},
		{"::ffff:10.0.0.1", true},
		{"192.0.2.7", true},
		{"192.0.2.8", false},
		{"2001:db8::1", true},
		{"2001:db8::1%eth0", true},
		{"2001:db9::1", false},
		{"127.0.0.1", false},
		{"::1", false},
	} {
		if got := c.Trusted(netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("Trusted(%s) = %v, want %v", tc.ip, got, tc.want)
		}
	}
	if c.Trusted(netip.Addr{}) {
		t.Error("the zero Addr is trusted")
	}
}

func TestWriteDiagnostics(t *testing.T) {
	src := "listener \"smtp\" {\n\taddress = \"127.0.0.1:2525\"\n\tlevle   = \"x\"\n}\n"
	_, diags := Parse([]byte(src), "x.hcl", "")
	var b bytes.Buffer
	if err := WriteDiagnostics(&b, diags, map[string]*hcl.File{"x.hcl": {Bytes: []byte(src)}}); err != nil {
		t.Fatal(err)
	}
	want := `x.hcl:1:1: No domain; Without a domain block sluice refuses every recipient.
    1 | listener "smtp" {
      | ^
x.hcl:3:2: Unsupported argument; An argument named "levle" is not expected here.
    3 | 	levle   = "x"
      | 	^^^^^
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}

	// With the file given, source comes from it, not from disk.
	file := &hcl.File{Bytes: []byte("hostname = 1\n")}
	d := &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "S", Subject: &hcl.Range{
		Filename: "mem.hcl", Start: hcl.Pos{Line: 1, Column: 12, Byte: 11}, End: hcl.Pos{Line: 1, Column: 13, Byte: 12},
	}}
	b.Reset()
	WriteDiagnostics(&b, hcl.Diagnostics{d}, map[string]*hcl.File{"mem.hcl": file})
	if want := "mem.hcl:1:12: warning: S\n    1 | hostname = 1\n      |            ^\n"; b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}

	// A range outside the source prints no excerpt rather than panicking.
	d.Subject.Start.Byte, d.Subject.End.Byte = 100, 200
	b.Reset()
	WriteDiagnostics(&b, hcl.Diagnostics{d}, map[string]*hcl.File{"mem.hcl": file})
	if want := "mem.hcl:1:12: warning: S\n"; b.String() != want {
		t.Errorf("got %q want %q", b.String(), want)
	}
}

func TestWriteSummary(t *testing.T) {
	c, diags := Load("testdata/good/full.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	// Settings full.hcl leaves out, set here so the summary shows them.
	c.MetricsListen = "127.0.0.1:9325"
	c.Limits.MessagesPerIPPerMinute = 120
	c.Queue.MaxMessages = 5000
	c.Listeners[2].InsecureAuth = true
	c.Filters[1].Grants = []string{"files", "socket"}
	c.Filters[1].Files = []string{"/var/lib/sigs/a.ndb"}
	c.Filters[1].SocketEndpoint = "unix:/run/clamd.ctl"
	c.Filters = append(c.Filters, Filter{Name: "dkim", ConfigJSON: []byte(`{"authserv_id":"mx.example.org","api_token":"t0k",` +
		`"keys":[{"domain":"example.org","key":"-----BEGIN PRIVATE KEY-----\nMII...\n-----END PRIVATE KEY-----\n","selector":"s<1>"}]}`)})
	var b bytes.Buffer
	if err := c.WriteSummary(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"hostname          mx.example.org\n",
		"metrics_listen 127.0.0.1:9325\n",
		"max_messages_per_ip_per_minute=120 max_messages_per_user_per_minute=off\n",
		"data_timeout=2m0s min_data_rate=1KiB/s\n",
		"auth_failure_delay=2s max_auth_failures=5 max_auth_failures_per_ip_per_hour=30\n",
		"max_deliveries=100 max_messages=5000 min_free_disk=100MiB\n",
		"listener lmtp     lmtp unix testdata/good/lmtp.sock, no tls, insecure_auth\n",
		"domain relay.example  smtp tcp 127.0.0.1:2526 tls=required auth_user=u retry_min=10m0s retry_max=1h0m0s give_up_after=24h0m0s\n",
		"give_up_after=48h0m0s delay_warning=2h0m0s\n",
		"max_message_size=10MiB max_recipients=50 filters=spam,noop",
		`config={"lists":["a","b"],"threshold":5}`,
		`config={"api_token":"(hidden)","authserv_id":"mx.example.org","keys":[{"domain":"example.org","key":"(hidden)","selector":"s<1>"}]}`,
		"filter noop wasm=/opt/noop.wasm stages=declared timeout=2s memory=64MiB on_error=tempfail grants=files,socket files=/var/lib/sigs/a.ndb socket_endpoint=unix:/run/clamd.ctl config={}",
		"filter rewrite builtin=rewrite stages=data timeout=2s",
	} {
		if !strings.Contains(strings.Join(strings.Fields(out), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{"$2a$", "auth_password", "=p ", "PRIVATE KEY", "t0k"} {
		if strings.Contains(out, secret) {
			t.Errorf("summary leaks %q:\n%s", secret, out)
		}
	}
}

// TestDocumented keeps docs/config.md and examples/sluice.hcl in step with
// the schema: every block and attribute sluice accepts appears in both.
func TestDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("../../examples/sluice.hcl")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range []*hcl.BodySchema{rootSchema, logSchema, tlsSchema, limitsSchema, queueSchema,
		listenerSchema, userSchema, filterSchema, domainSchema, deliverSchema, linksSchema, s3Schema, sendmailSchema} {
		for _, a := range s.Attributes {
			names = append(names, a.Name)
		}
		for _, b := range s.Blocks {
			names = append(names, b.Type)
		}
	}
	for _, n := range names {
		if !bytes.Contains(doc, []byte("`"+n+"`")) && !bytes.Contains(doc, []byte("`"+n+" ")) {
			t.Errorf("docs/config.md does not document %q", n)
		}
		if !bytes.Contains(example, []byte(n)) {
			t.Errorf("examples/sluice.hcl does not show %q", n)
		}
	}
	for m := range deliverAttrs {
		if q := `deliver "` + string(m) + `"`; !bytes.Contains(doc, []byte(q)) || !bytes.Contains(example, []byte(q)) {
			t.Errorf("%s missing from docs/config.md or examples/sluice.hcl", q)
		}
	}
}

func TestParseAddress(t *testing.T) {
	for _, tc := range []struct {
		in       string
		listener bool
		network  string
		addr     string
		err      string
	}{
		{"127.0.0.1:25", false, "tcp", "127.0.0.1:25", ""},
		{"[::1]:24", false, "tcp", "[::1]:24", ""},
		{"mail.example.org:587", false, "tcp", "mail.example.org:587", ""},
		{"unix:/run/lmtp", false, "unix", "/run/lmtp", ""},
		{":25", true, "tcp", ":25", ""},
		{"127.0.0.1:0", true, "tcp", "127.0.0.1:0", ""},
		{":25", false, "", "", "no host"},
		{"127.0.0.1:0", false, "", "", "port must be"},
		{"127.0.0.1:65536", true, "", "", "port must be"},
		{"127.0.0.1:smtp", true, "", "", "port must be"},
		{"bad_host:25", false, "", "", "neither an IP address nor a host name"},
		{"::1:25", false, "", "", "not host:port"},
		{"localhost", true, "", "", "not host:port"},
		{"unix:", true, "", "", "no socket path"},
	} {
		network, addr, err := parseAddress(tc.in, tc.listener)
		if tc.err == "" && (err != nil || network != tc.network || addr != tc.addr) {
			t.Errorf("parseAddress(%q, %v) = %q, %q, %v", tc.in, tc.listener, network, addr, err)
		}
		if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("parseAddress(%q, %v) = %v, want error with %q", tc.in, tc.listener, err, tc.err)
		}
	}
}

func TestIsHostname(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"localhost", true},
		{"mx1.example.org", true},
		{"xn--bcher-kva.example", true},
		{"a-b.c", true},
		{"123", true},
		{"", false},
		{"Example.org", false},
		{"example.org.", false},
		{"-a.example", false},
		{"a-.example", false},
		{"a..example", false},
		{"a_b.example", false},
		{"bücher.example", false},
		{"192.0.2.1", false},
		{strings.Repeat("a", 64) + ".example", false},
		{strings.Repeat("a.", 127) + "a", false},
	} {
		if got := isHostname(tc.in); got != tc.want {
			t.Errorf("isHostname(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

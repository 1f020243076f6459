package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/sluice-mail/sluice/internal/bytesize"
)

// WriteSummary writes the effective configuration, defaults filled in and
// paths resolved, one setting per line, for `sluice check-config`. Secrets
// (password hashes, relay passwords, secret values in a filter's config) are
// never written.
func (c *Config) WriteSummary(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format+"\n", args...) }

	p("source\t%s", c.Source)
	p("hostname\t%s", c.Hostname)
	p("data_dir\t%s", c.DataDir)
	p("log\tlevel=%s format=%s", c.Log.Level, c.Log.Format)
	if c.TLS.CertFile == "" {
		p("tls\tself-signed certificate generated in data_dir")
	} else {
		p("tls\tcert=%s key=%s", c.TLS.CertFile, c.TLS.KeyFile)
	}
	nets := make([]string, len(c.TrustedNetworks))
	for i, n := range c.TrustedNetworks {
		nets[i] = n.String()
	}
	p("trusted_networks\t%s", orNone(strings.Join(nets, ", ")))
	if c.PprofListen != "" {
		p("pprof_listen\t%s", c.PprofListen)
	}
	if c.MetricsListen != "" {
		p("metrics_listen\t%s", c.MetricsListen)
	}
	l := c.Limits
	p("limits\tmax_connections=%d max_connections_per_ip=%d read_timeout=%s write_timeout=%s",
		l.MaxConnections, l.MaxConnectionsPerIP, l.ReadTimeout, l.WriteTimeout)
	p("\tmax_line_length=%d max_header_size=%s max_message_size=%s max_recipients=%d shutdown_grace=%s",
		l.MaxLineLength, bytesize.Format(l.MaxHeaderBytes), bytesize.Format(l.MaxMessageBytes), l.MaxRecipients, l.ShutdownGrace)
	p("\tdata_timeout=%s min_data_rate=%s/s", l.DataTimeout, bytesize.Format(l.MinDataRate))
	p("\tauth_failure_delay=%s max_auth_failures=%d max_auth_failures_per_ip_per_hour=%d",
		l.AuthFailureDelay, l.MaxAuthFailures, l.MaxAuthFailuresPerIPPerHour)
	if l.MessagesPerIPPerMinute != 0 || l.MessagesPerUserPerMinute != 0 {
		p("\tmax_messages_per_ip_per_minute=%s max_messages_per_user_per_minute=%s",
			orOff(l.MessagesPerIPPerMinute), orOff(l.MessagesPerUserPerMinute))
	}
	q := c.Queue
	p("queue\tconcurrency_per_destination=%d retry_min=%s retry_max=%s give_up_after=%s delay_warning=%s",
		q.ConcurrencyPerDestination, q.RetryMin, q.RetryMax, q.GiveUpAfter, q.DelayWarning)
	p("\tmax_deliveries=%d max_messages=%s min_free_disk=%s", q.MaxDeliveries, orOff(q.MaxMessages), bytesize.Format(q.MinFreeDisk))
	if k := c.Links; k != nil {
		store := "dir=" + k.Dir
		if s := k.S3; s != nil {
			scheme := "http"
			if s.TLS {
				scheme = "https"
			}
			store = fmt.Sprintf("s3=%s://%s/%s/%s region=%s access_key=%s", scheme, s.Endpoint, s.Bucket, s.Prefix, s.Region, s.AccessKey)
		}
		p("links\tlisten=%s base_url=%s %s ttl=%s max_object_size=%s", k.Listen, k.BaseURL, store, k.TTL, bytesize.Format(k.MaxObjectBytes))
	}
	for _, l := range c.Listeners {
		tls := "starttls"
		switch {
		case l.Kind == KindSMTPS:
			tls = "implicit tls"
		case !l.STARTTLS:
			tls = "no tls"
		}
		if l.InsecureAuth {
			tls += ", insecure_auth"
		}
		if l.Network == "unix" {
			tls += fmt.Sprintf(", socket_mode %#o", l.SocketMode)
		}
		p("listener %s\t%s %s %s, %s", l.Name, l.Kind, l.Network, l.Address, tls)
	}
	if c.Sendmail != nil {
		if l, network, addr, err := c.LocalSubmission(); err == nil {
			p("sendmail\tlistener=%s (%s %s) origin=%s", l.Name, network, addr, c.SendmailOrigin())
		}
	}
	for _, u := range c.Users {
		senders := "default"
		if u.Addresses != nil {
			senders = strings.Join(u.Addresses, ",")
		}
		p("user %s\tbcrypt senders=%s", u.Name, senders)
	}
	if c.UsersFile != "" {
		p("users_file\t%s", c.UsersFile)
	}
	for _, f := range c.Filters {
		var keys []string
		for _, k := range f.SigningKeys {
			keys = append(keys, k.Name+"="+k.Path)
		}
		stages := strings.Join(f.Stages, ",")
		if stages == "" {
			stages = "declared"
		}
		module := "wasm=" + f.Wasm
		if f.Builtin != "" {
			module = "builtin=" + f.Builtin
		}
		p("filter %s\t%s stages=%s timeout=%s memory=%s on_error=%s grants=%s%s config=%s",
			f.Name, module, stages, f.Timeout, bytesize.Format(f.MemoryBytes), f.OnError,
			orNone(strings.Join(f.Grants, ",")), prefixed(" http_endpoint=", f.HTTPEndpoint)+prefixed(" resolver=", f.Resolver)+prefixed(" dns_zones=", strings.Join(f.DNSZones, ","))+
				prefixed(" files=", strings.Join(f.Files, ","))+prefixed(" socket_endpoint=", f.SocketEndpoint)+
				prefixed(" signing_keys=", strings.Join(keys, ","))+blobQuotas(f), hideSecrets(f.ConfigJSON))
	}
	for _, d := range c.Domains {
		var s strings.Builder
		dl := d.Deliver
		s.WriteString(string(dl.Method))
		switch dl.Method {
		case DeliverMaildir:
			s.WriteString(" " + dl.Path)
		case DeliverLMTP, DeliverSMTP:
			s.WriteString(" " + dl.Network + " " + dl.Address)
		}
		s.WriteString(prefixed(" tls=", string(dl.TLS)))
		s.WriteString(prefixed(" auth_user=", dl.AuthUser))
		s.WriteString(prefixed(" ", dl.secretSource()))
		if dl.Method == DeliverMX {
			s.WriteString(" resolver=" + orSystem(dl.Resolver) + " port=" + strconv.Itoa(dl.Port))
		}
		if d.MaxMessageBytes != 0 {
			s.WriteString(" max_message_size=" + bytesize.Format(d.MaxMessageBytes))
		}
		if d.MaxRecipients != 0 {
			s.WriteString(" max_recipients=" + strconv.Itoa(d.MaxRecipients))
		}
		if d.RetryMin != 0 || d.RetryMax != 0 || d.GiveUpAfter != 0 {
			min, max, giveUp := c.Schedule(&d)
			s.WriteString(fmt.Sprintf(" retry_min=%s retry_max=%s give_up_after=%s", min, max, giveUp))
		}
		if len(d.Filters) > 0 {
			s.WriteString(" filters=" + strings.Join(d.Filters, ","))
		}
		p("domain %s\t%s", d.Name, s.String())
	}
	if c.CatchAll() == nil {
		p("domain *\tnone: mail for other domains is refused")
	}
	return tw.Flush()
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// hideSecrets returns a filter's config with every string that looks
// secret replaced by "(hidden)": a PEM private key (the dkim filter's keys),
// or the value of a field whose name has key, password, secret or token in
// it. Plugins' configs are free-form, so this goes by names.
func hideSecrets(js []byte) string {
	var v any
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return string(js)
	}
	var hidden bool
	var walk func(name string, v any) any
	walk = func(name string, v any) any {
		switch x := v.(type) {
		case string:
			n := strings.ToLower(name)
			if strings.Contains(x, "PRIVATE KEY") || strings.Contains(n, "key") || strings.Contains(n, "password") ||
				strings.Contains(n, "secret") || strings.Contains(n, "token") {
				hidden = true
				return "(hidden)"
			}
		case map[string]any:
			for k, e := range x {
				x[k] = walk(k, e)
			}
		case []any:
			for i, e := range x {
				x[i] = walk(name, e)
			}
		}
		return v
	}
	v = walk("", v)
	if !hidden {
		return string(js)
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
	return strings.TrimSuffix(b.String(), "\n")
}

func orOff(n int) string {
	if n == 0 {
		return "off"
	}
	return strconv.Itoa(n)
}

func orSystem(s string) string {
	if s == "" {
		return "system"
	}
	return s
}

func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

// blobQuotas shows the quotas of a filter granted "blob".
func blobQuotas(f Filter) string {
	if !slices.Contains(f.Grants, "blob") {
		return ""
	}
	return " blob_quota=" + bytesize.Format(f.BlobQuota) + " blob_message_quota=" + bytesize.Format(f.BlobMessageQuota)
}

# A complete sluice configuration: every block and setting, commented.
# Check it with `sluice check-config -plugins=false examples/sluice.hcl`;
# docs/config.md is the reference. Relative paths are resolved against this
# file's directory. Without -plugins=false the filters' modules and keys
# named below must exist: build the built-in filters into
# plugins/NAME/NAME.wasm (README.md, "Built-in filters") and make the DKIM
# key with `sluice dkim keygen -domain example.com -selector s2026 -out
# examples/dkim/s2026._domainkey.example.com.pem`. (cmd/sluice's
# TestExampleConfigs checks this file that way.)

# Name in the greeting, Received headers and bounces. Default: the system
# host name, or "localhost" when that is unusable.
hostname = "mx.example.org"

# Queue, generated TLS certificate, default Maildirs and plugin state.
data_dir = "./sluice-data"

# Clients from these networks may relay to any domain without AUTH.
trusted_networks = ["127.0.0.0/8", "::1/128"]

# Go runtime profiles over HTTP on a loopback address, for profiling under
# load (off unless set).
# pprof_listen = "127.0.0.1:6060"

# Prometheus metrics at http://HOST:PORT/metrics (off unless set): connections,
# messages received and rejected, deliveries per domain block, queue size and
# age, delivery latency, and the filters' metrics.
# metrics_listen = "127.0.0.1:9325"

log {
  level  = "info" # trace, debug, info, warn, error
  format = "text" # text or json
}

# Server certificate for STARTTLS and smtps. Give both files or neither;
# with neither, a self-signed certificate is generated in data_dir.
# tls {
#   cert = "/etc/sluice/cert.pem"
#   key  = "/etc/sluice/key.pem"
# }

limits {
  max_connections        = 1000
  max_connections_per_ip = 50
  read_timeout           = "5m"
  write_timeout          = "5m"
  max_line_length        = 4096 # at least 1000 (RFC 5321 section 4.5.3.1.6)
  max_header_size        = "1MiB"
  max_message_size       = "35MiB" # advertised with SIZE (RFC 1870)
  max_recipients         = 100
  shutdown_grace         = "30s"
  # One message's data in all: 10 minutes, plus a second per 500 bytes received.
  data_timeout  = "10m"
  min_data_rate = 500
  # Wrong passwords: each answered after a delay; the 3rd on a connection
  # closes it (421 4.7.0); an address gets 20 an hour across connections.
  auth_failure_delay                = "1s"
  max_auth_failures                 = 3
  max_auth_failures_per_ip_per_hour = 20
  # Per-client message rates (off unless set); past them: 451 4.7.1 at MAIL.
  max_messages_per_ip_per_minute   = 120
  max_messages_per_user_per_minute = 600
}

queue {
  concurrency_per_destination = 10
  retry_min                   = "5m"
  retry_max                   = "4h"
  give_up_after               = "120h" # then the sender gets a bounce
  delay_warning               = "4h"   # the sender is told once that the message is still queued
  max_deliveries              = 100    # attempts in flight, all destinations together
  max_messages                = 100000 # past it: 452 4.3.1 at MAIL
  min_free_disk               = "100MiB"
}

# Inbound SMTP from the world (MX), STARTTLS offered.
listener "inbound" {
  kind    = "smtp"
  address = "127.0.0.1:2525"
}

# Submission from users (RFC 6409): AUTH after STARTTLS. The kind defaults
# to the label because the label is a kind.
listener "submission" {
  address = "127.0.0.1:2587"
}

# Implicit TLS submission (RFC 8314).
listener "smtps" {
  address = "127.0.0.1:2465"
}

# LMTP (RFC 2033) on a unix socket, without STARTTLS. The socket's file
# permissions already keep the path private, so AUTH may go in the clear.
# Local clients may relay to any domain: socket_mode (default "0660"),
# with the file's owner and group, decides who may connect.
listener "lmtp" {
  kind          = "lmtp"
  address       = "unix:./sluice-data/lmtp.sock"
  starttls      = false
  insecure_auth = true
  socket_mode   = "0660"
}

# How `sluice sendmail` (/usr/sbin/sendmail for cron, PHP, scripts) reaches
# this relay. Without this block it takes the first listener that lets a
# local client relay without AUTH: a unix-socket smtp or lmtp listener, else
# a TCP one on an address in trusted_networks (here it would pick "lmtp").
sendmail {
  listener = "inbound"     # 127.0.0.1 is in trusted_networks
  origin   = "example.org" # for the sender user@example.org and bare names such as root
}

# Users for AUTH PLAIN/LOGIN: "alice:HASH" lines in a file that only
# sluice can read (alice's password is "example"), so that this file can
# stay readable to every user (sendmail reads it). A user block holds a
# hash in this file instead, which check-config warns about when the file
# is world-readable. Make a hash with:  echo 'password' | sluice hash-password
users_file = "secrets/users"
# An authenticated user may send only as its own addresses: by default its
# login name when that is an address, else NAME@ each served domain
# (alice@localhost and alice@example.org here). A user block may list them:
# user "bob" {
#   password_hash = "$2a$10$..."
#   addresses     = ["bob@example.org", "sales@example.org", "@relay.example"]
# }

# Download server for objects that filters granted "blob" store, such as
# attachments replaced by links (plugins/attachlink). Off unless set. Each
# such filter may set blob_quota = "10GiB" (its objects not yet expired)
# and blob_message_quota = "64MiB" (stored while handling one message).
# links {
#   listen          = "127.0.0.1:8025"
#   base_url        = "https://files.example.com" # default: http://LISTEN
#   dir             = "./sluice-data/links"       # default: data_dir/links
#   ttl             = "168h"                      # how long a link works
#   max_object_size = "100MiB"
#   # Or keep the objects in an S3-compatible bucket shared by several
#   # relays (instead of dir):
#   # s3 {
#   #   endpoint       = "s3.eu-west-3.amazonaws.com" # host[:port], no scheme
#   #   bucket         = "example-mail-links"
#   #   region         = "eu-west-3"                  # default: asked of the server
#   #   prefix         = "links/"
#   #   access_key     = "AKIA..."
#   #   secret_key_env = "SLUICE_S3_SECRET"           # or secret_key = "..."
#   #   tls            = true                         # false: plain http
#   # }
# }

# A WebAssembly filter, here the built-in spam filter (plugins/spam, see its
# README): `builtin` names a filter that ships with sluice; a plugin of your
# own is a file, wasm = "/usr/local/lib/sluice/tagger.wasm" (relative paths
# are from this file's directory). Its config object reaches the plugin as JSON.
filter "spam" {
  builtin       = "spam"
  stages        = ["data"]
  timeout       = "2s"
  memory        = "64MiB"
  on_error      = "tempfail" # or continue, reject
  grants        = ["dns"]    # add "http" together with http_endpoint
  http_endpoint = ""
  resolver      = "127.0.0.1:53" # DNS server for the dns grant; leave out for the system resolver
  # dns_zones   = ["zen.spamhaus.org", "dnswl.org"] # only names in these zones; leave out for any name
  config = {
    default = { tag = 5, subject_tag = "[SPAM]" }
    domains = { "example.org" = { quarantine = 8, reject = 15 } }
  }
}

# The built-in virus filter (plugins/virus): ClamAV .hdb/.hsb/.ndb
# signature files it may read, and clamd's socket for the full ClamAV set.
filter "virus" {
  builtin         = "virus"
  stages          = ["data"]
  timeout         = "30s"
  memory          = "512MiB"
  grants          = ["files", "socket"]
  files           = ["/var/lib/sluice/sigs/local.hdb", "/var/lib/sluice/sigs/local.ndb"]
  socket_endpoint = "unix:/run/clamav/clamd.ctl" # or "127.0.0.1:3310"
  config = {
    signatures = ["/var/lib/sluice/sigs/local.hdb", "/var/lib/sluice/sigs/local.ndb"]
    action     = "reject" # or quarantine, strip
    clamd      = { mode = "also", timeout = "20s", on_error = "tempfail" }
  }
}

# The built-in DKIM filter (plugins/dkim). With the sign grant the host
# keeps the private keys (made by `sluice dkim keygen`) and signs natively;
# the plugin sees names ("domain/selector") and public keys only.
filter "dkim" {
  builtin      = "dkim"
  stages       = ["data"]
  grants       = ["dns", "sign"]
  # Beside this file: /etc/sluice/dkim/... for /etc/sluice/sluice.hcl.
  signing_keys = { "example.com/s2026" = "dkim/s2026._domainkey.example.com.pem" }
  config = {
    authserv_id = "mx.example.com"
  }
}

# Local mail into Maildirs; {data_dir}, {domain} and {local} are replaced.
domain "localhost" {
  max_message_size = "10MiB"
  max_recipients   = 50
  filters          = ["spam"]
  deliver "maildir" {
    path = "{data_dir}/maildir/{domain}/{local}"
  }
}

# A domain whose mailboxes live in Dovecot, reached over LMTP.
domain "example.org" {
  filters = ["spam"]
  deliver "lmtp" {
    address = "unix:/run/dovecot/lmtp" # or "127.0.0.1:24"
  }
}

# A domain forwarded to a fixed next hop, with AUTH. Its mail is retried
# on its own schedule: the queue block's values apply to what it leaves out.
domain "relay.example" {
  retry_min     = "1m"
  retry_max     = "30m"
  give_up_after = "24h"
  deliver "smtp" {
    address       = "127.0.0.1:2526"
    tls           = "opportunistic" # none, opportunistic, required, verify
    auth_user          = "u"
    auth_password_file = "secrets/relay-password" # or auth_password = "..." in this file
  }
}

# Everything else that may be relayed (trusted networks, authenticated
# users) goes to the recipient domain's MX hosts. Without this block, such
# mail is refused.
domain "*" {
  deliver "mx" {
    tls      = "opportunistic"
    resolver = "127.0.0.1:5353" # omit for the system resolver
    port     = 25
  }
}

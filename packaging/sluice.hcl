# /etc/sluice/sluice.hcl: sluice's configuration, as the Debian package
# installs it (a conffile: your edits survive upgrades). Reference:
# /usr/share/doc/sluice/config.md, or `man sluice`. After an edit:
#   sluice check-config /etc/sluice/sluice.hcl && systemctl reload sluice
#
# This file is world-readable (0644): /usr/sbin/sendmail, run by cron, PHP
# and every local user, reads it to find the relay. Keep secrets out of it:
# they go in /etc/sluice/secrets/ (0640 root:sluice, read by the service
# only), named by auth_password_file and users_file below.
#
# The shape: the MX of example.com, which delivers its mail to Dovecot over
# LMTP, and a submission port where your users (AUTH) send mail out through
# your provider's smart host. Replace example.com and mx.example.com.

hostname = "mx.example.com"
data_dir = "/var/lib/sluice"

log {
  level  = "info"
  format = "text" # journald keeps the time
}

# Without a tls block sluice makes a self-signed certificate in data_dir,
# which is enough for STARTTLS between MTAs. Give it your certificate, for
# example from certbot (readable by the sluice user):
# tls {
#   cert_file = "/etc/letsencrypt/live/mx.example.com/fullchain.pem"
#   key_file  = "/etc/letsencrypt/live/mx.example.com/privkey.pem"
# }

# Inbound: the Internet delivers mail for example.com here (the MX record).
listener "smtp" {
  address = ":25"
}

# Outbound: your users' mail programs submit here, with STARTTLS then AUTH.
listener "submission" {
  address = ":587"
}

# Users who may submit (AUTH): NAME:HASH lines in a file only sluice can
# read; the file says how to make a hash.
users_file = "/etc/sluice/secrets/users"

# Local programs' mail (/usr/sbin/sendmail, `sluice sendmail`): it goes in
# through the smtp listener on 127.0.0.1 (loopback is trusted), and a bare
# user name such as cron's "root" becomes root@example.com.
sendmail {
  origin = "example.com"
}

# Built-in filters: they ship inside sluice (`builtin`), sandboxed like any
# WebAssembly plugin; a plugin of your own would be wasm = "/path/f.wasm".
filter "access" {
  builtin  = "access"
  on_error = "continue" # a broken filter must not stop mail
  config = {
    # This host itself (trusted_networks, loopback by default): local
    # programs' sendmail greets with our own name.
    allow = { ips = ["127.0.0.0/8", "::1"] }
    # Other clients greeting with our own name or "localhost" are lying.
    deny = { helo = ["mx.example.com", "localhost"] }
    # A DNS blocklist also needs grants = ["dns"] (and, to keep the lookups
    # to it, dns_zones = ["zen.spamhaus.org"]):
    # dnsbl = { threshold = 1, stage = "rcpt", lists = [{ zone = "zen.spamhaus.org", weight = 1 }] }
  }
}

filter "spam" {
  builtin = "spam"
  stages  = ["data"]
  timeout = "5s"
  config = {
    # X-Spam-* headers from score 5; tag the subject from 8.
    default = { tag = 5, subject_tag = "[SPAM]" }
  }
}

# Mail for example.com goes to Dovecot's LMTP socket (dovecot-lmtpd).
domain "example.com" {
  filters = ["access", "spam"]
  deliver "lmtp" {
    address = "unix:/run/dovecot/lmtp"
  }
}

# Everything else is mail your users send out: through the smart host.
# Only authenticated users (and trusted_networks, loopback by default) may
# use it; anyone else asking to relay is refused.
domain "*" {
  deliver "smtp" {
    address       = "smtp.provider.example:587"
    tls           = "required"
    auth_user          = "mx@example.com"
    auth_password_file = "/etc/sluice/secrets/smarthost-password" # the password alone on one line
  }
}

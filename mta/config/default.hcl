# sluice's built-in configuration, used when no file is given.
#
# It runs without root on a fresh machine: every port is above 1024 and
# bound to loopback, and all state lives in ./sluice-data under the working
# directory. It accepts mail for "localhost" only; there is no catch-all
# domain "*", so mail for any other domain is refused, even from loopback.
# See docs/config.md for every setting.

data_dir = "./sluice-data"

# Loopback clients may relay without AUTH (only to domains configured below).
trusted_networks = ["127.0.0.0/8", "::1/128"]

# No tls block: a self-signed certificate is generated into data_dir.

# MX-style inbound SMTP with STARTTLS.
listener "smtp" {
  address = "127.0.0.1:2525"
}

# Message submission (RFC 6409): AUTH over STARTTLS. No user is defined
# here, so it refuses every client until a configuration adds users.
listener "submission" {
  address = "127.0.0.1:2587"
}

# LMTP (RFC 2033) over TCP.
listener "lmtp" {
  address = "127.0.0.1:2424"
}

# Mail to anyone@localhost goes to the Maildir sluice-data/maildir/anyone.
domain "localhost" {
  deliver "maildir" {
    path = "{data_dir}/maildir/{local}"
  }
}

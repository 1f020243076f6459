# Every setting, with values that differ from the defaults.
hostname         = "mx.example.org"
data_dir         = "data"
trusted_networks = ["10.1.2.3/8", "192.0.2.7", "2001:db8::/32"]

log {
  level  = "debug"
  format = "json"
}

tls {
  cert = "cert.pem"
  key  = "/etc/ssl/key.pem"
}

limits {
  max_connections        = 10
  max_connections_per_ip = 2
  read_timeout           = "1m"
  write_timeout          = "90s"
  max_line_length        = 1000
  max_header_size        = "64KiB"
  max_message_size       = "20MB"
  max_recipients         = 500
  shutdown_grace         = "1s"
  data_timeout           = "2m"
  min_data_rate          = "1KiB"
  auth_failure_delay     = "2s"
  max_auth_failures      = 5
  max_auth_failures_per_ip_per_hour = 30
}

queue {
  concurrency_per_destination = 3
  retry_min                   = "1m"
  retry_max                   = "1h"
  give_up_after               = "48h"
  delay_warning               = "2h"
}

listener "inbound" {
  kind    = "smtp"
  address = "127.0.0.1:2525"
}
listener "submission" {
  address = "[::1]:2587"
}
listener "lmtp" {
  kind        = "lmtp"
  address     = "unix:lmtp.sock"
  starttls    = false
  socket_mode = "0600"
}
listener "smtps" {
  address = ":0"
}

user "alice@example.org" {
  password_hash = "$2a$04$pzMtWBb1OEGrr.SnIZSs2.hKoF7MT1rMPc1hLqSImyGQVKXW3iRSy"
}

filter "spam" {
  wasm          = "plugins/spam.wasm"
  stages        = ["rcpt", "data"]
  timeout       = "500ms"
  memory        = "16MiB"
  on_error      = "continue"
  grants        = ["dns", "http"]
  http_endpoint = "https://rspamd.example/check"
  config = {
    threshold = 5
    lists     = ["a", "b"]
  }
}
filter "noop" {
  wasm = "/opt/noop.wasm"
}
filter "rewrite" {
  builtin = "rewrite"
  stages  = ["data"]
}

domain "localhost" {
  max_message_size = "10MiB"
  max_recipients   = 50
  filters          = ["spam", "noop"]
  deliver "maildir" {}
}
domain "example.org" {
  deliver "lmtp" {
    address = "unix:/run/dovecot/lmtp"
  }
}
domain "lists.example.org" {
  deliver "maildir" {
    path = "mail/{domain}/{local}"
  }
}
domain "relay.example" {
  retry_min     = "10m"
  give_up_after = "24h"
  deliver "smtp" {
    address       = "127.0.0.1:2526"
    tls           = "required"
    auth_user     = "u"
    auth_password = "p"
  }
}
domain "*" {
  deliver "mx" {
    tls      = "verify"
    resolver = "127.0.0.1:5353"
    port     = 2500
  }
}

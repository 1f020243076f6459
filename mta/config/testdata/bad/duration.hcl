# durations must parse and be positive
# want: duration.hcl:10:20: Invalid duration; read_timeout "5 minutes": want a number with a unit such as
# want: duration.hcl:11:20: Invalid duration; write_timeout must be positive.
# want: duration.hcl:12:20: Invalid duration; shutdown_grace must be positive.
listener "smtp" { address = "127.0.0.1:2525" }
domain "localhost" {
  deliver "maildir" {}
}
limits {
  read_timeout   = "5 minutes"
  write_timeout  = "-1s"
  shutdown_grace = "0s"
}

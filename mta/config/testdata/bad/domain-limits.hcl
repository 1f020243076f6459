# domain limits
# want: domain-limits.hcl:9:22: warning: Domain limit above global limit; max_message_size is larger than
# want: domain-limits.hcl:10:22: Invalid value; max_recipients must be a whole number from 1 to 2147483647.
listener "smtp" { address = "127.0.0.1:2525" }
limits {
  max_message_size = "10MiB"
}
domain "localhost" {
  max_message_size = "20MiB"
  max_recipients   = -1
  deliver "maildir" {}
}

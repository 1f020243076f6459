# limits out of range
# want: limits.hcl:9:21: Invalid value; max_line_length must be at least 1000: RFC 5321 section 4.5.3.1.6
# want: limits.hcl:10:21: Invalid value; max_connections must be a whole number from 1 to 2147483647.
listener "smtp" { address = "127.0.0.1:2525" }
domain "localhost" {
  deliver "maildir" {}
}
limits {
  max_line_length = 512
  max_connections = 0
}

# sizes must parse and be positive
# want: size.hcl:9:22: Invalid size; max_message_size: size "35 MegaBytes": unknown unit "MegaBytes"; use
# want: size.hcl:10:22: Invalid size; max_header_size must be positive.
listener "smtp" { address = "127.0.0.1:2525" }
domain "localhost" {
  deliver "maildir" {}
}
limits {
  max_message_size = "35 MegaBytes"
  max_header_size  = 0
}

# listener names and addresses are unique
# want: listener-duplicate.hcl:5:10: Duplicate listener name; listener "smtp" is already defined at
# want: listener-duplicate.hcl:10:13: Duplicate listener address; 127.0.0.1:2525 is already used by the
listener "smtp" { address = "127.0.0.1:2525" }
listener "smtp" {
  address = "127.0.0.1:2526"
}
listener "other" {
  kind    = "lmtp"
  address = "127.0.0.1:2525"
}
domain "localhost" {
  deliver "maildir" {}
}

# a domain has exactly one deliver block
# want: deliver-twice.hcl:6:3: Duplicate deliver block; A domain has exactly one deliver block; the first
listener "smtp" { address = "127.0.0.1:2525" }
domain "localhost" {
  deliver "maildir" {}
  deliver "mx" {}
}

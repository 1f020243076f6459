# domain names are unique
# want: domain-duplicate.hcl:7:8: Duplicate domain name; domain "localhost" is already defined at
listener "smtp" { address = "127.0.0.1:2525" }
domain "localhost" {
  deliver "maildir" {}
}
domain "localhost" {
  deliver "mx" {}
}

# domain names are lower-case
# want: domain-case.hcl:4:8: Domain name not lower-case; Write domain "example.org".
listener "smtp" { address = "127.0.0.1:2525" }
domain "Example.org" {
  deliver "mx" {}
}

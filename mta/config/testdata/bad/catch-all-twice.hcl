# at most one catch-all
# want: catch-all-twice.hcl:7:8: Duplicate domain name; domain "*" is already defined at
listener "smtp" { address = "127.0.0.1:2525" }
domain "*" {
  deliver "mx" {}
}
domain "*" {
  deliver "smtp" {
    address = "127.0.0.1:2526"
  }
}

# domain names are host names
# want: domain-name.hcl:6:8: Invalid domain name; "exa_mple.org" is not a host name (letters, digits and
# want: domain-name.hcl:9:8: Invalid domain name; "-bad.example" is not a host name (letters, digits and
# want: domain-name.hcl:12:8: Invalid domain name; "*.example.org" is not a host name (letters, digits and
listener "smtp" { address = "127.0.0.1:2525" }
domain "exa_mple.org" {
  deliver "mx" {}
}
domain "-bad.example" {
  deliver "mx" {}
}
domain "*.example.org" {
  deliver "mx" {}
}

# top-level attribute that does not exist
# want: unknown-top-attribute.hcl:3:1: Unsupported argument; An argument named "hostnme" is not expected
hostnme = "mx.example.org"
listener "smtp" { address = "127.0.0.1:2525" }
domain "localhost" {
  deliver "maildir" {}
}

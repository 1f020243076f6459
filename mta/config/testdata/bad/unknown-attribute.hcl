# one misspelt attribute
# want: unknown-attribute.hcl:8:3: Unsupported argument; An argument named "levle" is not expected here.
listener "smtp" { address = "127.0.0.1:2525" }
domain "localhost" {
  deliver "maildir" {}
}
log {
  levle = "info"
}

# a domain names defined filters, once each
# want: domain-filters.hcl:10:22: Unknown filter; No filter block is named "virus".
# want: domain-filters.hcl:10:31: Duplicate value; filters: "spam" is listed twice.
listener "smtp" { address = "127.0.0.1:2525" }
filter "spam" {
  wasm   = "spam.wasm"
  stages = ["data"]
}
domain "localhost" {
  filters = ["spam", "virus", "spam"]
  deliver "maildir" {}
}

# config must be an object
# want: filter-config.hcl:10:12: Incorrect attribute value type; config must be an object such as {
listener "smtp" { address = "127.0.0.1:2525" }
domain "localhost" {
  deliver "maildir" {}
}
filter "a" {
  wasm   = "a.wasm"
  stages = ["data"]
  config = ["threshold", 5]
}

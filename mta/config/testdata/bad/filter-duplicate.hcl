# filter names are unique
# want: filter-duplicate.hcl:11:8: Duplicate filter name; filter "a" is already defined at
listener "smtp" { address = "127.0.0.1:2525" }
domain "localhost" {
  deliver "maildir" {}
}
filter "a" {
  wasm   = "a.wasm"
  stages = ["data"]
}
filter "a" {
  wasm   = "b.wasm"
  stages = ["data"]
}

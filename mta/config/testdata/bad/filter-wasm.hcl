# a filter needs a wasm module
# want: filter-wasm.hcl:8:12: Missing required argument; The argument "wasm" is required, but no definition
# want: filter-wasm.hcl:12:12: Invalid value; wasm must not be empty.
listener "smtp" { address = "127.0.0.1:2525" }
domain "localhost" {
  deliver "maildir" {}
}
filter "a" {
  stages = ["data"]
}
filter "b" {
  wasm   = ""
  stages = ["data"]
}

# a filter needs a wasm module and stages
# want: filter-wasm.hcl:9:12: Missing required argument; The argument "wasm" is required, but no definition
# want: filter-wasm.hcl:13:12: Invalid value; wasm must not be empty.
# want: filter-wasm.hcl:16:12: Missing required argument; The argument "stages" is required, but no
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
filter "c" {
  wasm = "c.wasm"
}

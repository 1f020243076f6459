# a filter needs exactly one module: wasm or builtin, a known builtin
# want: filter-wasm.hcl:11:1: Missing filter module; A filter needs either wasm = "FILE.wasm" or builtin = "NAME" (one of access, spam,
# want: filter-wasm.hcl:15:12: Invalid value; wasm must not be empty.
# want: filter-wasm.hcl:20:3: Conflicting filter module; wasm and builtin are both set
# want: filter-wasm.hcl:23:13: Unknown built-in filter; builtin "spamassassin" is not one of access, spam, virus,
# want: filter-wasm.hcl:26:13: Invalid value; builtin must not be empty.
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
  wasm    = "spam.wasm"
  builtin = "spam"
}
filter "d" {
  builtin = "spamassassin"
}
filter "e" {
  builtin = ""
}

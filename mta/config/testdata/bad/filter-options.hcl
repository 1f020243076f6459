# timeout, memory, on_error, name
# want: filter-options.hcl:10:8: Invalid filter name; Filter name "a b" must be letters, digits, '.', '-'
# want: filter-options.hcl:13:14: Invalid duration; timeout must be positive.
# want: filter-options.hcl:14:14: Invalid size; memory must be at most 4GiB, the limit of a 32-bit Wasm
# want: filter-options.hcl:15:14: Invalid value; on_error "ignore" is not one of tempfail, continue, reject.
listener "smtp" { address = "127.0.0.1:2525" }
domain "localhost" {
  deliver "maildir" {}
}
filter "a b" {
  wasm     = "a.wasm"
  stages   = ["data"]
  timeout  = "0s"
  memory   = "5GiB"
  on_error = "ignore"
}

# grants and http_endpoint
# want: filter-grants.hcl:13:20: Invalid value; grants: "fs" is not one of dns, http.
# want: filter-grants.hcl:18:19: Endpoint without grant; http_endpoint is set but grants does not include
# want: filter-grants.hcl:23:12: Missing http_endpoint; The "http" grant needs http_endpoint, the one URL
# want: filter-grants.hcl:29:19: Invalid URL; http_endpoint "x.example/check" must be an absolute http://
listener "smtp" { address = "127.0.0.1:2525" }
domain "localhost" {
  deliver "maildir" {}
}
filter "a" {
  wasm   = "a.wasm"
  stages = ["data"]
  grants = ["dns", "fs"]
}
filter "b" {
  wasm          = "b.wasm"
  stages        = ["data"]
  http_endpoint = "https://x.example/"
}
filter "c" {
  wasm   = "c.wasm"
  stages = ["data"]
  grants = ["http"]
}
filter "d" {
  wasm          = "d.wasm"
  stages        = ["data"]
  grants        = ["http"]
  http_endpoint = "x.example/check"
}

# grants and http_endpoint
# want: filter-grants.hcl:15:20: Invalid value; grants: "fs" is not one of dns, http, files, socket, blob, sign, relay.
# want: filter-grants.hcl:20:19: Endpoint without grant; http_endpoint is set but grants does not include
# want: filter-grants.hcl:25:12: Missing http_endpoint; The "http" grant needs http_endpoint, the one URL
# want: filter-grants.hcl:31:19: Invalid URL; http_endpoint "x.example/check" must be an absolute http://
# want: filter-grants.hcl:36:14: Resolver without grant; resolver is set but grants does not include "dns".
# want: filter-grants.hcl:42:14: Invalid address; resolver "not a resolver": want an IP address or host:port
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
filter "e" {
  wasm     = "e.wasm"
  stages   = ["data"]
  resolver = "127.0.0.1:5353"
}
filter "f" {
  wasm     = "f.wasm"
  stages   = ["data"]
  grants   = ["dns"]
  resolver = "not a resolver"
}

# signing_keys and the sign grant
# want: filter-signing-keys.hcl:14:18: Keys without grant; signing_keys is set but grants does not include "sign".
# want: filter-signing-keys.hcl:19:12: Missing signing_keys; The "sign" grant needs signing_keys
# want: filter-signing-keys.hcl:25:18: Invalid key name; signing_keys: "-x" must be 1 to 255 letters
# want: filter-signing-keys.hcl:31:18: Invalid value; signing_keys: "example.com/s1" needs the path of a PEM private key file.
# want: filter-signing-keys.hcl:37:18: Invalid value; signing_keys must name at least one key
listener "smtp" { address = "127.0.0.1:2525" }
domain "localhost" {
  deliver "maildir" {}
}
filter "a" {
  wasm         = "a.wasm"
  stages       = ["data"]
  signing_keys = { "example.com/s1" = "/etc/k.pem" }
}
filter "b" {
  wasm   = "b.wasm"
  stages = ["data"]
  grants = ["sign"]
}
filter "c" {
  wasm         = "c.wasm"
  stages       = ["data"]
  grants       = ["sign"]
  signing_keys = { "-x" = "/etc/k.pem" }
}
filter "d" {
  wasm         = "d.wasm"
  stages       = ["data"]
  grants       = ["sign"]
  signing_keys = { "example.com/s1" = "" }
}
filter "e" {
  wasm         = "e.wasm"
  stages       = ["data"]
  grants       = ["sign"]
  signing_keys = {}
}

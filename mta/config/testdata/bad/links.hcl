# links block and the blob grant
# want: links.hcl:15:14: Invalid URL; base_url "ftp://files.example" must be an absolute http:// or https:// URL
# want: links.hcl:16:14: Invalid duration; ttl must be positive.
# want: links.hcl:18:1: Duplicate links block; Only one links block is allowed
listener "smtp" { address = "127.0.0.1:2525" }
domain "localhost" {
  deliver "maildir" {}
}
filter "a" {
  wasm   = "a.wasm"
  grants = ["blob"]
}
links {
  listen   = "127.0.0.1:8025"
  base_url = "ftp://files.example"
  ttl      = "-1h"
}
links {
  listen = "127.0.0.1:8026"
}

# want: links-missing.hcl:9:1: Blob grant without links; Filter "a" is granted "blob" but there is no links block
listener "smtp" { address = "127.0.0.1:2525" }
domain "localhost" {
  deliver "maildir" {}
}
# A filter granted blob needs somewhere to store.
#
#
filter "a" {
  wasm   = "a.wasm"
  grants = ["blob"]
}

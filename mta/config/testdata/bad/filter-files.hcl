# files and socket_endpoint
# want: filter-files.hcl:15:12: Files without grant; files is set but grants does not include "files".
# want: filter-files.hcl:16:19: Invalid path; files: "sigs/local.ndb" must be an absolute, clean path
# want: filter-files.hcl:21:12: Missing files; The "files" grant needs files, the paths the filter may read.
# want: filter-files.hcl:26:21: Endpoint without grant; socket_endpoint is set but grants does not include "socket".
# want: filter-files.hcl:31:12: Missing socket_endpoint; The "socket" grant needs socket_endpoint
# want: filter-files.hcl:37:21: Invalid address; socket_endpoint "clamd": not host:port
listener "smtp" { address = "127.0.0.1:2525" }
domain "localhost" {
  deliver "maildir" {}
}
filter "a" {
  wasm   = "a.wasm"
  stages = ["data"]
  files  = [
    "/etc/x.hdb", "sigs/local.ndb"]
}
filter "b" {
  wasm   = "b.wasm"
  stages = ["data"]
  grants = ["files"]
}
filter "c" {
  wasm            = "c.wasm"
  stages          = ["data"]
  socket_endpoint = "unix:/run/clamav/clamd.ctl"
}
filter "d" {
  wasm   = "d.wasm"
  stages = ["data"]
  grants = ["socket"]
}
filter "e" {
  wasm            = "e.wasm"
  stages          = ["data"]
  grants          = ["socket"]
  socket_endpoint = "clamd"
}

# known, distinct, at least one stage
# want: filter-stages.hcl:11:13: Invalid value; stages: "body" is not one of connect, helo, auth, mail,
# want: filter-stages.hcl:11:29: Duplicate value; stages: "data" is listed twice.
# want: filter-stages.hcl:15:12: Invalid value; stages must name at least one of connect, helo, auth, mail,
listener "smtp" { address = "127.0.0.1:2525" }
domain "localhost" {
  deliver "maildir" {}
}
filter "a" {
  wasm   = "a.wasm"
  stages = ["body", "data", "data"]
}
filter "b" {
  wasm   = "b.wasm"
  stages = []
}

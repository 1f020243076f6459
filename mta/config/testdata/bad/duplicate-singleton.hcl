# blocks allowed once
# want: duplicate-singleton.hcl:10:1: Duplicate limits block; Only one limits block is allowed; the first
listener "smtp" { address = "127.0.0.1:2525" }
domain "localhost" {
  deliver "maildir" {}
}
limits {
  max_recipients = 10
}
limits {
  max_recipients = 20
}

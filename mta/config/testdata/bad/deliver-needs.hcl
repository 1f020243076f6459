# lmtp and smtp need an address
# want: deliver-needs.hcl:6:3: Missing address; deliver "lmtp" needs address = "host:port" or "unix:/path".
# want: deliver-needs.hcl:9:3: Missing address; deliver "smtp" needs address = "host:port" or "unix:/path".
listener "smtp" { address = "127.0.0.1:2525" }
domain "a.example" {
  deliver "lmtp" {}
}
domain "b.example" {
  deliver "smtp" {
    tls = "verify"
  }
}

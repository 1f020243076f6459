# delivery targets need host and port
# want: deliver-address.hcl:7:15: Invalid address; address ":24": want host:port (IPv6 as [::1]:port) or
# want: deliver-address.hcl:12:15: Invalid address; address "127.0.0.1:0": want host:port (IPv6 as
listener "smtp" { address = "127.0.0.1:2525" }
domain "a.example" {
  deliver "lmtp" {
    address = ":24"
  }
}
domain "b.example" {
  deliver "smtp" {
    address = "127.0.0.1:0"
  }
}

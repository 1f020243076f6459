# delivery targets need host and port
# want: deliver-address.hcl:7:15: Invalid address; address ":24": no host;
# want: deliver-address.hcl:12:15: Invalid address; address "127.0.0.1:0": port must be a number from 1 to 65535;
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

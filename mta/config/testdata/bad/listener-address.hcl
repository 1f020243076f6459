# listener addresses must parse
# want: listener-address.hcl:7:13: Invalid address; address "localhost": want host:port (IPv6 as
# want: listener-address.hcl:10:13: Invalid address; address "unix:": unix: needs a socket path.
# want: listener-address.hcl:13:13: Invalid address; address "127.0.0.1:99999": want host:port (IPv6 as
# want: listener-address.hcl:15:23: Missing required argument; The argument "address" is required, but no
listener "smtp" {
  address = "localhost"
}
listener "lmtp" {
  address = "unix:"
}
listener "smtps" {
  address = "127.0.0.1:99999"
}
listener "submission" {
}
domain "localhost" {
  deliver "maildir" {}
}

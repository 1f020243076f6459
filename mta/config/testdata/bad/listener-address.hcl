# listener addresses must parse
# want: listener-address.hcl:7:13: Invalid address; address "localhost": not host:port;
# want: listener-address.hcl:10:13: Invalid address; address "unix:": no socket path after "unix:";
# want: listener-address.hcl:13:13: Invalid address; address "127.0.0.1:99999": port must be a number from 0 to 65535;
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

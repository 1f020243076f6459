# a label that is not a kind needs kind
# want: listener-kind-missing.hcl:3:1: Missing listener kind; Listener "inbound" needs kind = one of smtp,
listener "inbound" {
  address = "127.0.0.1:2525"
}
domain "localhost" {
  deliver "maildir" {}
}

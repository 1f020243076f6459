# unknown listener kind
# want: listener-kind.hcl:4:13: Invalid value; kind "pop3" is not one of smtp, submission, smtps, lmtp.
listener "in" {
  kind    = "pop3"
  address = "127.0.0.1:2525"
}
domain "localhost" {
  deliver "maildir" {}
}

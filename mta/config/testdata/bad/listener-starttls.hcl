# smtps has implicit TLS; submission without STARTTLS warns
# want: listener-starttls.hcl:6:14: Invalid value; starttls does not apply to an smtps listener, whose TLS
# want: listener-starttls.hcl:10:14: warning: Submission without STARTTLS; AUTH is only offered over TLS,
listener "smtps" {
  address  = "127.0.0.1:2465"
  starttls = true
}
listener "submission" {
  address  = "127.0.0.1:2587"
  starttls = false
}
domain "localhost" {
  deliver "maildir" {}
}

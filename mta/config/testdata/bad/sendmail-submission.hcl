# sendmail has no credentials for a listener that requires AUTH
# want: sendmail-submission.hcl:8:14: Listener unfit for sendmail; Listener "submission": a submission listener requires AUTH
# want: sendmail-submission.hcl:10:1: Duplicate sendmail block; Only one sendmail block is allowed
listener "submission" {
  address = "127.0.0.1:587"
}
sendmail {
  listener = "submission"
}
sendmail {
  listener = "nope"
}
domain "localhost" {
  deliver "maildir" {}
}

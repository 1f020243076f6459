# unknown delivery method
# want: deliver-method.hcl:5:11: Unknown delivery method; deliver "pigeon" is not one of maildir, lmtp,
listener "smtp" { address = "127.0.0.1:2525" }
domain "localhost" {
  deliver "pigeon" {}
}

# tls key without cert
# want: tls-key-only.hcl:8:3: Missing cert; tls needs both cert and key, or neither for a generated
listener "smtp" { address = "127.0.0.1:2525" }
domain "localhost" {
  deliver "maildir" {}
}
tls {
  key = "key.pem"
}

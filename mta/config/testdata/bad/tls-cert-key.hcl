# tls cert without key, key without cert
# want: tls-cert-key.hcl:8:3: Missing key; tls needs both cert and key, or neither for a generated
listener "smtp" { address = "127.0.0.1:2525" }
domain "localhost" {
  deliver "maildir" {}
}
tls {
  cert = "cert.pem"
}

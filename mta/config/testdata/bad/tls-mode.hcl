# outbound tls modes
# want: tls-mode.hcl:6:11: Invalid value; tls "always" is not one of none, opportunistic, required, verify.
listener "smtp" { address = "127.0.0.1:2525" }
domain "*" {
  deliver "mx" {
    tls = "always"
  }
}

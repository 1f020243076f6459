# attributes of another method
# want: deliver-foreign.hcl:7:5: Argument not used by maildir; deliver "maildir" takes only path.
# want: deliver-foreign.hcl:12:5: Argument not used by mx; deliver "mx" takes only tls, resolver, port.
listener "smtp" { address = "127.0.0.1:2525" }
domain "a.example" {
  deliver "maildir" {
    tls = "verify"
  }
}
domain "b.example" {
  deliver "mx" {
    address = "127.0.0.1:25"
    port    = 2525
  }
}

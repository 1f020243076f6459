# mx resolver and port
# want: mx.hcl:7:16: Invalid address; resolver "dns.example": want an IP address or host:port, such as
# want: mx.hcl:8:16: Invalid value; port must be a whole number from 1 to 65535.
listener "smtp" { address = "127.0.0.1:2525" }
domain "*" {
  deliver "mx" {
    resolver = "dns.example"
    port     = 0
  }
}

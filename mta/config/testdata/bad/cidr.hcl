# trusted_networks must be prefixes
# want: cidr.hcl:4:35: Invalid network; trusted_networks: "10.0.0.0/33" is not a CIDR prefix such as
# want: cidr.hcl:4:50: Invalid network; trusted_networks: "loopback" is not a CIDR prefix such as
trusted_networks = ["10.0.0.0/8", "10.0.0.0/33", "loopback"]
listener "smtp" { address = "127.0.0.1:2525" }
domain "localhost" {
  deliver "maildir" {}
}

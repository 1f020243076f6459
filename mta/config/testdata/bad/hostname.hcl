# hostname must be a host name
# want: hostname.hcl:3:12: Invalid hostname; hostname "mx_1.example.org" is not a valid host name.
hostname = "mx_1.example.org"
listener "smtp" { address = "127.0.0.1:2525" }
domain "localhost" {
  deliver "maildir" {}
}

# a domain needs a deliver block
# want: deliver-missing.hcl:4:1: Missing deliver block; Domain "localhost" needs one deliver block:
listener "smtp" { address = "127.0.0.1:2525" }
domain "localhost" {
  max_recipients = 5
}

# expressions may not refer to variables
# want: variables.hcl:3:12: Variables not allowed; Variables may not be used here.
hostname = var.host
listener "smtp" { address = "127.0.0.1:2525" }
domain "localhost" {
  deliver "maildir" {}
}

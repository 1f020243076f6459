# auth_user and auth_password go together
# want: smtp-auth.hcl:7:5: Missing auth_password; auth_user needs auth_password_file (or auth_password); they go together.
listener "smtp" { address = "127.0.0.1:2525" }
domain "a.example" {
  deliver "smtp" {
    address   = "127.0.0.1:2526"
    auth_user = "u"
  }
}

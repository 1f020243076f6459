# auth_password_file: not with auth_password, a readable one-line file, with auth_user
# want: smtp-auth-file.hcl:12:5: Conflicting secret; auth_password and auth_password_file are both set; keep auth_password_file
# want: smtp-auth-file.hcl:20:26: Cannot read secret; auth_password_file: open testdata/bad/secrets/missing:
# want: smtp-auth-file.hcl:27:26: Empty secret; auth_password_file: testdata/bad/secrets/empty is empty.
# want: smtp-auth-file.hcl:34:26: Invalid secret; auth_password_file: testdata/bad/secrets/two-lines holds more than one line
# want: smtp-auth-file.hcl:40:5: Missing auth_user; auth_user and auth_password_file go together.
listener "smtp" { address = "127.0.0.1:2525" }
domain "a.example" {
  deliver "smtp" {
    address            = "127.0.0.1:2526"
    auth_user          = "u"
    auth_password_file = "secrets/empty"
    auth_password      = "p"
  }
}
domain "b.example" {
  deliver "smtp" {
    address            = "127.0.0.1:2526"
    auth_user          = "u"
    auth_password_file = "secrets/missing"
  }
}
domain "c.example" {
  deliver "smtp" {
    address            = "127.0.0.1:2526"
    auth_user          = "u"
    auth_password_file = "secrets/empty"
  }
}
domain "d.example" {
  deliver "smtp" {
    address            = "127.0.0.1:2526"
    auth_user          = "u"
    auth_password_file = "secrets/two-lines"
  }
}
domain "e.example" {
  deliver "smtp" {
    address            = "127.0.0.1:2526"
    auth_password_file = "secrets/ok"
  }
}

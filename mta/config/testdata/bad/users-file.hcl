# users_file: NAME:HASH lines, each mistake at its line; names unique across both forms
# want: testdata/bad/secrets/users:3:1: Duplicate user name; user "carol" is already defined at users-file.hcl:
# want: testdata/bad/secrets/users:4:1: Invalid users_file line; Want NAME:BCRYPT-HASH
# want: testdata/bad/secrets/users:5:1: Invalid user name; User name "bob smith" must be non-empty
# want: testdata/bad/secrets/users:6:1: Invalid password hash; User "erin": not a bcrypt hash
# want: testdata/bad/secrets/users:8:1: Duplicate user name; user "frank" is already defined at line 7.
listener "smtp" { address = "127.0.0.1:2525" }
domain "localhost" {
  deliver "maildir" {}
}
users_file = "secrets/users"
user "carol" {
  password_hash = "$2a$04$pzMtWBb1OEGrr.SnIZSs2.hKoF7MT1rMPc1hLqSImyGQVKXW3iRSy"
}

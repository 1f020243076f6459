# user names and bcrypt hashes
# want: user.hcl:10:6: Invalid user name; User name "bob smith" must be non-empty, without spaces or
# want: user.hcl:14:19: Invalid password hash; password_hash is not a bcrypt hash ($2a$, $2b$ or $2y$):
# want: user.hcl:16:13: Missing required argument; The argument "password_hash" is required, but no
# want: user.hcl:18:6: Duplicate user name; user "carol" is already defined at user.hcl:13:6.
listener "smtp" { address = "127.0.0.1:2525" }
domain "localhost" {
  deliver "maildir" {}
}
user "bob smith" {
  password_hash = "$2a$04$pzMtWBb1OEGrr.SnIZSs2.hKoF7MT1rMPc1hLqSImyGQVKXW3iRSy"
}
user "carol" {
  password_hash = "hunter2"
}
user "dave" {
}
user "carol" {
  password_hash = "$2a$04$pzMtWBb1OEGrr.SnIZSs2.hKoF7MT1rMPc1hLqSImyGQVKXW3iRSy"
}

# unknown maildir placeholders
# want: maildir-path.hcl:6:12: Invalid path template; path: unknown placeholder {user}; use {data_dir},
listener "smtp" { address = "127.0.0.1:2525" }
domain "localhost" {
  deliver "maildir" {
    path = "/var/mail/{user}"
  }
}

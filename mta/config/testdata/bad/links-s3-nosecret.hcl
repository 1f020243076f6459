# want: links-s3-nosecret.hcl:8:3: Missing secret; s3 needs secret_key, or secret_key_env
listener "smtp" { address = "127.0.0.1:2525" }
domain "localhost" {
  deliver "maildir" {}
}
links {
  listen = "127.0.0.1:8025"
  s3 {
    endpoint   = "s3.example.net"
    bucket     = "links"
    access_key = "AK"
  }
}

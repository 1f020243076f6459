# links with an s3 block
# want: links-s3.hcl:17:3: Conflicting storage; links keeps its objects either in dir or in the s3 block at links-s3.hcl:18:3, not both.
# want: links-s3.hcl:18:6: Missing required argument; The argument "access_key" is required
# want: links-s3.hcl:19:22: Invalid endpoint; endpoint "https://s3.example.net": want host or host:port, without scheme or path
# want: links-s3.hcl:20:22: Invalid bucket name; bucket "Mail_Links": want 3 to 63 lower-case letters
# want: links-s3.hcl:21:22: Invalid region; region "EU West"
# want: links-s3.hcl:22:22: Invalid prefix; prefix "/links"
# want: links-s3.hcl:24:5: Conflicting secret; s3 takes secret_key or secret_key_env, not both.
# want: links-s3.hcl:25:22: Incorrect attribute value type; tls: bool is required, not string.
# want: links-s3.hcl:27:3: Duplicate s3 block; Only one s3 block is allowed
listener "smtp" { address = "127.0.0.1:2525" }
domain "localhost" {
  deliver "maildir" {}
}
links {
  listen = "127.0.0.1:8025"
  dir    = "/var/lib/sluice/links"
  s3 {
    endpoint       = "https://s3.example.net"
    bucket         = "Mail_Links"
    region         = "EU West"
    prefix         = "/links"
    secret_key     = "s3cr3t"
    secret_key_env = "SLUICE_S3_SECRET"
    tls            = "maybe"
  }
  s3 {
    endpoint = "s3.example.net:99999"
  }
}

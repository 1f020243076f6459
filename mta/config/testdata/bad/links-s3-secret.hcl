# want: links-s3-secret.hcl:12:22: Missing secret; The environment variable SLUICE_TEST_NEVER_SET (secret_key_env) is not set or empty.
listener "smtp" { address = "127.0.0.1:2525" }
domain "localhost" {
  deliver "maildir" {}
}
links {
  listen = "127.0.0.1:8025"
  s3 {
    endpoint       = "[::1]:9000"
    bucket         = "links"
    access_key     = "AK"
    secret_key_env = "SLUICE_TEST_NEVER_SET"
  }
}

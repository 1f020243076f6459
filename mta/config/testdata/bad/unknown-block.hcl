# block type that does not exist
# want: unknown-block.hcl:7:1: Unsupported block type; Blocks of type "logging" are not expected here.
listener "smtp" { address = "127.0.0.1:2525" }
domain "localhost" {
  deliver "maildir" {}
}
logging {
  level = "info"
}

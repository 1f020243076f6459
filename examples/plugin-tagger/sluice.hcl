# Example: the tagger filter on one domain, as a complete configuration.
# Build tagger.wasm first (see README.md), then, in this directory:
#   sluice serve -config sluice.hcl
# Relative paths are resolved against this file's directory.
data_dir = "./sluice-data"

listener "smtp" {
  address = "127.0.0.1:2525"
}

filter "tagger" {
  wasm     = "tagger.wasm"
  stages   = ["mail", "data"]
  timeout  = "2s"
  memory   = "64MiB"
  on_error = "continue"
  config = {
    domains = ["example.com", "example.org"]
    reject  = ["spam@bad.example"]
  }
}

domain "example.com" {
  deliver "maildir" {}
  filters = ["tagger"]
}

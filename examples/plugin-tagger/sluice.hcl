# Example: the tagger filter on one domain. Build tagger.wasm first (see README.md).
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

# log level and format
# want: log.hcl:9:12: Invalid value; level "verbose" is not one of trace, debug, info, warn, error.
# want: log.hcl:10:12: Invalid value; format "xml" is not one of text, json.
listener "smtp" { address = "127.0.0.1:2525" }
domain "localhost" {
  deliver "maildir" {}
}
log {
  level  = "verbose"
  format = "xml"
}

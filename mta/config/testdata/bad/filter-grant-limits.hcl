# dns_zones and the blob quotas
# want: filter-grant-limits.hcl:14:15: Zones without grant; dns_zones is set but grants does not include "dns".
# want: filter-grant-limits.hcl:20:16: Invalid zone; dns_zones: "bad zone.example" is not a domain name
# want: filter-grant-limits.hcl:20:56: Duplicate value; dns_zones: "ZEN.spamhaus.org." is listed twice.
# want: filter-grant-limits.hcl:21:16: Invalid zone; dns_zones: "." is not a domain name
# want: filter-grant-limits.hcl:27:15: Invalid value; dns_zones must name at least one zone
# want: filter-grant-limits.hcl:32:16: Quota without grant; blob_quota is set but grants does not include "blob".
# want: filter-grant-limits.hcl:38:24: Invalid size; blob_quota must be positive.
# want: filter-grant-limits.hcl:39:24: Invalid size; blob_message_quota:
listener "smtp" { address = "127.0.0.1:2525" }
filter "a" {
  wasm      = "a.wasm"
  stages    = ["data"]
  dns_zones = ["zen.spamhaus.org"]
}
filter "b" {
  wasm      = "b.wasm"
  stages    = ["data"]
  grants    = ["dns"]
  dns_zones = ["bad zone.example", "zen.spamhaus.org", "ZEN.spamhaus.org.",
               "."]
}
filter "c" {
  wasm      = "c.wasm"
  stages    = ["data"]
  grants    = ["dns"]
  dns_zones = []
}
filter "d" {
  wasm       = "d.wasm"
  stages     = ["data"]
  blob_quota = "1GiB"
}
filter "e" {
  wasm               = "e.wasm"
  stages             = ["data"]
  grants             = ["blob"]
  blob_quota         = "0"
  blob_message_quota = "lots"
}
links { listen = "127.0.0.1:8025" }
domain "localhost" {
  deliver "maildir" {}
}

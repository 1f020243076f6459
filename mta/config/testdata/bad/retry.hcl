# retry_min above retry_max
# want: retry.hcl:8:15: Invalid retry bounds; retry_min (5h0m0s) is longer than retry_max (1h0m0s).
listener "smtp" { address = "127.0.0.1:2525" }
domain "localhost" {
  deliver "maildir" {}
}
queue {
  retry_min = "5h"
  retry_max = "1h"
}

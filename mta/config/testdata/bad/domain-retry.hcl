# a domain's retry bounds, with the queue block's filling in what it leaves out
# want: domain-retry.hcl:11:15: Invalid retry bounds; retry_min (6h0m0s) is longer than retry_max (4h0m0s); a domain's unset bound is the queue block's.
# want: domain-retry.hcl:15:15: Invalid retry bounds; retry_min (2m0s) is longer than retry_max (1m0s)
# want: domain-retry.hcl:16:19: Invalid duration; give_up_after must be positive.
listener "smtp" { address = "127.0.0.1:2525" }
queue {
  retry_min = "2m"
}
domain "slow.example" {
  deliver "maildir" {}
  retry_min = "6h"
}
domain "fast.example" {
  deliver "maildir" {}
  retry_max = "1m"
  give_up_after = "0s"
}

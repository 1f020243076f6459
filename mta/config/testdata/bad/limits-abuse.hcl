# limits against hostile clients must be positive
# want: limits-abuse.hcl:12:24: Invalid duration; data_timeout must be positive.
# want: limits-abuse.hcl:13:24: Invalid size; min_data_rate must be positive.
# want: limits-abuse.hcl:14:24: Invalid duration; auth_failure_delay must be positive.
# want: limits-abuse.hcl:15:24: Invalid value; max_auth_failures must be a whole number from 1 to 2147483647.
# want: limits-abuse.hcl:16:39: Invalid value; max_auth_failures_per_ip_per_hour must be a whole number from 1 to 2147483647.
listener "smtp" { address = "127.0.0.1:2525" }
domain "localhost" {
  deliver "maildir" {}
}
limits {
  data_timeout       = "0s"
  min_data_rate      = 0
  auth_failure_delay = "-1s"
  max_auth_failures  = 0
  max_auth_failures_per_ip_per_hour = -3
}

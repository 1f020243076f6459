# values of the wrong type
# want: types.hcl:6:21: Incorrect attribute value type; max_connections: number is required, not string.
# want: types.hcl:7:21: Invalid value; max_recipients must be a whole number from 1 to 2147483647.
# want: types.hcl:11:14: Incorrect attribute value type; starttls: bool is required, not string.
limits {
  max_connections = "many"
  max_recipients  = 1.5
}
listener "smtp" {
  address  = "127.0.0.1:2525"
  starttls = "maybe"
}
domain "localhost" {
  deliver "maildir" {}
}

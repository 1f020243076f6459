# For TestSendmailUsageExit: nothing listens here; the tests stop before dialling.
hostname = "host.example"
data_dir = "./sluice-data"
listener "smtp" {
  address = "127.0.0.1:1"
}
domain "host.example" {
  deliver "maildir" {}
}

# A configuration with one misspelt attribute: check-config must point at
# line 6, column 3, and exit non-zero (see TestCheckConfig).
data_dir = "./sluice-data"

listener "smtp" {
  adress = "127.0.0.1:2525"
}

domain "localhost" {
  deliver "maildir" {
    path = "{data_dir}/maildir/{local}"
  }
}

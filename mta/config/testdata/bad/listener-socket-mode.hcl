# socket_mode: octal permission bits, for unix sockets only
# want: listener-socket-mode.hcl:5:17: Invalid socket mode; socket_mode "660": want octal permission bits
# want: listener-socket-mode.hcl:9:17: Invalid setting; socket_mode applies to unix-socket listeners only.
listener "lmtp" {
  socket_mode = "660"
  address     = "unix:/run/sluice/lmtp.sock"
}
listener "smtp" {
  socket_mode = "0600"
  address     = "127.0.0.1:2525"
}
domain "localhost" {
  deliver "maildir" {}
}

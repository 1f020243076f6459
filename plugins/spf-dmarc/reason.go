package main

import "github.com/sluice-mail/sluice/plugins/internal/authmail"

// reason makes an error into a short A-R reason: printable ASCII without
// quotes or backslashes, at most 80 bytes.
func reason(err error) string { return authmail.Reason(err, "dkim: ", "dmarc: ") }

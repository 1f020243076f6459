// Package authmail is the mail-authentication code the dkim and spf-dmarc
// filters share: Authentication-Results (RFC 8601) formatting and the
// removal of forged ones, the message as DKIM reads it, DKIM verification,
// and DNS errors as go-msgauth expects them. It is plain Go on the SDK,
// compiled into each guest; the host never imports it.
package authmail

// Package authmail is the mail-authentication code the dkim and spf-dmarc
// filters share: Authentication-Results (RFC 8601) formatting and the
// removal of forged ones, the message as DKIM reads it, DKIM verification,
// DNS errors as go-msgauth expects them, and the configuration each
// instance parses once. It is plain Go on the SDK, compiled into each
// guest; the host never imports it.
package authmail

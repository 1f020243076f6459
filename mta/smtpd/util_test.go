package smtpd_test

import (
	"encoding/base64"
	"time"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func sleep10ms() { time.Sleep(10 * time.Millisecond) }

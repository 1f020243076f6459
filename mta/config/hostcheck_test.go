package config

import "testing"

func TestMaildirBase(t *testing.T) {
	for tmpl, want := range map[string]string{
		"/var/lib/sluice/maildir/{domain}/{local}": "/var/lib/sluice/maildir",
		"/srv/mail/{domain}-boxes/{local}":         "/srv/mail",
		"/srv/mail/x{local}":                       "/srv/mail",
		"/srv/mail/shared/":                        "/srv/mail/shared",
		"{local}":                                  ".",
	} {
		if got := maildirBase(tmpl); got != want {
			t.Errorf("maildirBase(%q) = %q, want %q", tmpl, got, want)
		}
	}
}

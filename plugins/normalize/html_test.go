package main

import (
	"strings"
	"testing"
)

func TestSanitizeHTML(t *testing.T) {
	all := &htmlPolicy{scripts: true, remoteImages: true}
	for _, c := range []struct {
		in, want string
		pol      *htmlPolicy
	}{
		{`<p>hi<script>alert(1)</script> there</p>`, `<p>hi there</p>`, all},
		{`<p onclick="x()" class=a>t</p>`, `<p class=a>t</p>`, all},
		{`<svg/onload=alert(1)>`, `<svg>`, all},
		{`<img src=x/onerror=y>`, `<img src=x/onerror=y>`, all}, // one attribute, as browsers read it
		{`<a href="java&#x09;script:alert(1)">x</a><a href="https://example.org/">y</a>`, `<a>x</a><a href="https://example.org/">y</a>`, all},
		{`<img src="https://track.example/p.gif" alt="logo"><img src="cid:logo@x">`, `<img alt="logo"><img src="cid:logo@x">`, all},
		{`<img src="https://track.example/p.gif">`, `<img src="https://track.example/p.gif">`, &htmlPolicy{scripts: true}},
		{`<td background="//x.example/b.png" style="color:red">`, `<td style="color:red">`, all},
		{`<div style="background:url('http://x.example/a')">a</div>`, `<div>a</div>`, all},
		{`<style>p{color:red} .a{background:url(https://x.example/b)}</style>`, `<style>p{color:red} .a{background:none}</style>`, all},
		{`<iframe src="https://x.example"><p>inner</p></iframe>after`, `after`, all},
		{`<meta http-equiv="refresh" content="0;url=https://x.example"><meta charset="utf-8">`, `<meta charset="utf-8">`, all},
		{`<link rel=stylesheet href="https://x.example/s.css"><b>b</b>`, `<b>b</b>`, all},
		{`<svg><a xlink:href="javascript:alert(1)">x</a></svg>`, `<svg><a>x</a></svg>`, all},
		{`<!--[if IE]><script>x</script><![endif]--><p>k</p>`, `<p>k</p>`, all},
		{"<p title=\"caf\xe9\" onload=x>caf\xe9 &eacute;</p>", "<p title=\"caf\xe9\">caf\xe9 &eacute;</p>", all}, // bytes kept: any charset
	} {
		got, changed := sanitizeHTML([]byte(c.in), c.pol)
		if !changed {
			got = []byte(c.in)
		}
		if string(got) != c.want {
			t.Errorf("%s\n got %s\nwant %s", c.in, got, c.want)
		}
	}
	clean := `<html><body><p class="x">Hello <b>world</b> <a href="https://example.org">link</a><img src="cid:a"></p></body></html>`
	if _, changed := sanitizeHTML([]byte(clean), all); changed {
		t.Error("clean HTML reported changed")
	}
}

// TestHTMLPartStripped: a quoted-printable HTML part stays quoted-printable,
// the text part next to it is untouched.
func TestHTMLPartStripped(t *testing.T) {
	msg := "Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n" +
		"--b\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		"<p>hi<script>alert(=22x=22)</script><img src=3D\"http://t.example/x.gif\"></p>\r\n--b--\r\n"
	out, res := rewriteMessage(t, msg, bodyPolicy{html: &htmlPolicy{scripts: true, remoteImages: true}})
	if !res.Changed {
		t.Fatal("not changed")
	}
	got, types := leaves(t, []byte(out))
	if string(got[0]) != "hi" || types[1] != "text/html" || string(got[1]) != "<p>hi<img></p>" {
		t.Errorf("leaves %q\n%s", got, out)
	}
	if !strings.Contains(out, "Content-Transfer-Encoding: quoted-printable") {
		t.Errorf("encoding changed:\n%s", out)
	}
}

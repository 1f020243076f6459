package config

import "testing"

// TestMaySendAs: sender binding for authenticated users (issue 21).
func TestMaySendAs(t *testing.T) {
	src := `listener "smtp" { address = "127.0.0.1:2525" }
user "alice" {
  password_hash = "$2a$04$pzMtWBb1OEGrr.SnIZSs2.hKoF7MT1rMPc1hLqSImyGQVKXW3iRSy"
  addresses = ["alice@a.example", "Sales@B.example", "@bücher.example"]
}
user "bob" {
  password_hash = "$2a$04$pzMtWBb1OEGrr.SnIZSs2.hKoF7MT1rMPc1hLqSImyGQVKXW3iRSy"
}
user "carol@c.example" {
  password_hash = "$2a$04$pzMtWBb1OEGrr.SnIZSs2.hKoF7MT1rMPc1hLqSImyGQVKXW3iRSy"
}
user "app" {
  password_hash = "$2a$04$pzMtWBb1OEGrr.SnIZSs2.hKoF7MT1rMPc1hLqSImyGQVKXW3iRSy"
  addresses = ["*"]
}
user "mute" {
  password_hash = "$2a$04$pzMtWBb1OEGrr.SnIZSs2.hKoF7MT1rMPc1hLqSImyGQVKXW3iRSy"
  addresses = []
}
domain "a.example" {
  deliver "smtp" { address = "127.0.0.1:2526" }
}
domain "b.example" {
  deliver "smtp" { address = "127.0.0.1:2526" }
}
domain "*" {
  deliver "mx" {}
}
`
	c, diags := Parse([]byte(src), "sender.hcl", "/base")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for _, tc := range []struct {
		login, from string
		want        bool
	}{
		// The list: each address, any case of the local part and domain.
		{"alice", "alice@a.example", true},
		{"alice", "ALICE@A.EXAMPLE.", true},
		{"alice", "sales@b.example", true},
		{"alice", "alice@b.example", false},
		{"alice", "ceo@bank.example", false},
		// "@domain": the domain in either form, not its subdomains.
		{"alice", "anyone@xn--bcher-kva.example", true},
		{"alice", "anyone@Bücher.example", true},
		{"alice", "anyone@sub.xn--bcher-kva.example", false},
		// No list, a bare login: login@ each served domain, not the catch-all's.
		{"bob", "bob@a.example", true},
		{"bob", "Bob@b.example", true},
		{"bob", "bob@elsewhere.example", false},
		{"bob", "alice@a.example", false},
		// No list, an address as login: that address alone.
		{"carol@c.example", "carol@c.example", true},
		{"carol@c.example", "carol@a.example", false},
		{"carol@c.example", "carol@c.example.evil", false},
		{"app", "anyone@anywhere.example", true},
		{"mute", "mute@a.example", false},
		// Not a user (a reload removed it since AUTH).
		{"dave", "dave@a.example", false},
		// The null sender, always.
		{"alice", "", true},
		{"mute", "", true},
		{"dave", "", true},
		{"alice", "no-at-sign", false},
	} {
		if got := c.MaySendAs(tc.login, tc.from); got != tc.want {
			t.Errorf("MaySendAs(%q, %q) = %v, want %v", tc.login, tc.from, got, tc.want)
		}
	}
}

# a user's addresses: each an address, "@domain" or "*", none twice
# want: user-addresses.hcl:8:16: Invalid sender address; addresses: "alice" is not an address, "@domain" or "*": address "alice" is not local@domain.
# want: user-addresses.hcl:8:25: Invalid sender address; addresses: "@bad..example" is not an address, "@domain" or "*": domain "bad..example": empty label
# want: user-addresses.hcl:8:61: Duplicate value; addresses: "ALICE@A.example" is listed twice.
listener "smtp" { address = "127.0.0.1:2525" }
user "alice" {
  password_hash = "$2a$04$pzMtWBb1OEGrr.SnIZSs2.hKoF7MT1rMPc1hLqSImyGQVKXW3iRSy"
  addresses = ["alice", "@bad..example", "alice@a.example", "ALICE@A.example"]
}
domain "a.example" {
  deliver "smtp" { address = "127.0.0.1:2526" }
}

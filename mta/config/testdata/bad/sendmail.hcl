# the sendmail block's listener must exist and take local mail without AUTH
# want: sendmail.hcl:9:14: Listener unfit for sendmail; Listener "public": 192.0.2.1 is not in trusted_networks
# want: sendmail.hcl:10:14: Invalid origin; origin "not a domain" is not a domain name.
listener "public" {
  kind    = "smtp"
  address = "192.0.2.1:25"
}
sendmail {
  listener = "public"
  origin   = "not a domain"
}
domain "localhost" {
  deliver "maildir" {}
}

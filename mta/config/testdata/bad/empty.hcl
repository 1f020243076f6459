# a file without listeners or domains
# want: empty.hcl:1:1: No listener; Without a listener block sluice cannot receive mail.
# want: empty.hcl:1:1: No domain; Without a domain block sluice refuses every recipient.
hostname = "mx.example.org"

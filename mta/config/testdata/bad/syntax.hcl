# HCL syntax error
# want: syntax.hcl:8:25: Invalid multi-line string; Quoted strings may not be split over multiple lines.
# want: syntax.hcl:8:25: Unterminated template string
listener "smtp" { address = "127.0.0.1:2525" }
domain "localhost" {
  deliver "maildir" {}
}
hostname = "unterminated

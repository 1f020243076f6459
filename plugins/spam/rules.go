package main

import (
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/sluice-mail/sluice/plugins/spam/bayes"
)

// A rule looks at a parsed message and reports whether it fires.
type rule struct {
	name   string
	weight float64 // default; the config's rules map overrides it
	desc   string
	test   func(m *msgInfo) bool
}

// msgInfo is what the rules see.
type msgInfo struct {
	doc      *bayes.Doc
	envFrom  string
	now      time.Time
	charsets map[string]bool
	html     []htmlInfo // scanned on first use
	scanned  bool
}

func (m *msgInfo) htmlParts() []htmlInfo {
	if !m.scanned {
		m.scanned = true
		for _, p := range m.doc.Parts {
			if p.HTML {
				m.html = append(m.html, scanHTML(p.Text))
			}
		}
	}
	return m.html
}

// blank reports whether a header value is empty or only white space: a
// present-but-empty Date or Message-ID counts as missing.
func blank(v string) bool { return strings.TrimSpace(v) == "" }

var rules = []rule{
	{"MISSING_DATE", 1.0, "Missing Date header", func(m *msgInfo) bool { return blank(m.doc.Get("Date")) }},
	{"INVALID_DATE", 1.0, "Date header not RFC 5322", func(m *msgInfo) bool {
		d := m.doc.Get("Date")
		if blank(d) {
			return false
		}
		_, err := mail.ParseDate(d)
		return err != nil
	}},
	{"DATE_IN_FUTURE", 1.5, "Date is more than a day in the future", func(m *msgInfo) bool {
		t, err := mail.ParseDate(m.doc.Get("Date"))
		return err == nil && t.After(m.now.Add(24*time.Hour))
	}},
	{"MISSING_MID", 1.0, "Missing Message-ID header", func(m *msgInfo) bool { return blank(m.doc.Get("Message-ID")) }},
	{"INVALID_MSGID", 1.0, "Message-ID not <local@domain>", func(m *msgInfo) bool {
		id := strings.TrimSpace(m.doc.Get("Message-ID"))
		return id != "" && !msgIDRe.MatchString(id)
	}},
	{"MISSING_FROM", 1.5, "Missing From header", func(m *msgInfo) bool { return !m.doc.Has("From") }},
	{"FROM_ENV_MISMATCH", 0.5, "From domain differs from the envelope sender's", func(m *msgInfo) bool {
		fd := orgDomain(addrDomain(headerAddr(m.doc.Get("From"))))
		ed := orgDomain(addrDomain(m.envFrom))
		return m.envFrom != "" && fd != "" && ed != "" && fd != ed
	}},
	{"TO_MISSING", 0.5, "No To header", func(m *msgInfo) bool { return !m.doc.Has("To") }},
	{"HTML_ONLY", 1.0, "HTML with no text alternative", func(m *msgInfo) bool {
		html, plain := false, false
		for _, p := range m.doc.Parts {
			html = html || p.HTML
			plain = plain || p.Type == "text/plain"
		}
		return html && !plain
	}},
	{"HTML_LINK_MISMATCH", 2.0, "Link text shows another host than its target", func(m *msgInfo) bool {
		for _, h := range m.htmlParts() {
			if h.mismatch {
				return true
			}
		}
		return false
	}},
	{"HTML_IMAGE_ONLY", 1.0, "HTML with images and little text", func(m *msgInfo) bool {
		for _, h := range m.htmlParts() {
			if h.img && h.words < 40 {
				return true
			}
		}
		return false
	}},
	{"SUBJ_ALL_CAPS", 1.0, "Subject is all capitals", func(m *msgInfo) bool {
		letters, upper := 0, 0
		for _, r := range m.doc.Get("Subject") {
			if unicode.IsLetter(r) {
				letters++
				if unicode.IsUpper(r) {
					upper++
				}
			}
		}
		return letters >= 10 && upper == letters
	}},
	{"SUBJ_EXCESS_PUNCT", 1.0, "Subject has repeated ! or ?", func(m *msgInfo) bool {
		s := m.doc.Get("Subject")
		return strings.Contains(s, "!!") || strings.Contains(s, "??") || strings.Count(s, "!") >= 3 || strings.Contains(s, "!?")
	}},
	{"CHARSET_FARAWAY", 1.5, "Text in a suspicious character set", func(m *msgInfo) bool {
		for _, p := range m.doc.Parts {
			if m.charsets[p.Charset] {
				return true
			}
		}
		return m.charsets[headerCharset(m.doc.Get("Subject"))]
	}},
	{"MIME_BASE64_TEXT", 0.5, "Text part encoded in base64", func(m *msgInfo) bool {
		for _, p := range m.doc.Parts {
			if strings.HasPrefix(p.Type, "text/") && p.Encoding == "base64" {
				return true
			}
		}
		return false
	}},
	{"EXECUTABLE_ATTACHMENT", 3.0, "Executable attachment", func(m *msgInfo) bool {
		for _, p := range m.doc.Parts {
			f := strings.ToLower(p.Filename)
			for _, ext := range []string{".exe", ".scr", ".pif", ".com", ".bat", ".vbs", ".js", ".cmd", ".lnk", ".hta"} {
				if strings.HasSuffix(f, ext) {
					return true
				}
			}
		}
		return false
	}},
}

var msgIDRe = regexp.MustCompile(`^<[^<>@\s]+@[^<>@\s]+>$`)

// defaultCharsets are the charsets CHARSET_FARAWAY looks for by default.
var defaultCharsets = []string{"gb2312", "gbk", "gb18030", "big5", "euc-kr", "ks_c_5601-1987", "iso-2022-kr"}

func headerAddr(v string) string {
	if a, err := mail.ParseAddress(v); err == nil {
		return a.Address
	}
	if i, j := strings.LastIndexByte(v, '<'), strings.LastIndexByte(v, '>'); i >= 0 && j > i {
		return v[i+1 : j]
	}
	return strings.TrimSpace(v)
}

func addrDomain(a string) string {
	if i := strings.LastIndexByte(a, '@'); i >= 0 {
		return strings.ToLower(strings.Trim(a[i+1:], "> "))
	}
	return ""
}

// orgDomain approximates the organisational domain by the last two labels
// (three under a two-letter country code with a short second level, as in
// example.co.uk). A public-suffix list would be exact; this keeps the
// plugin small and errs towards "same organisation".
func orgDomain(d string) string {
	labels := strings.Split(strings.TrimSuffix(d, "."), ".")
	n := 2
	if len(labels) >= 3 && len(labels[len(labels)-1]) == 2 && len(labels[len(labels)-2]) <= 3 {
		n = 3
	}
	if len(labels) < n {
		return d
	}
	return strings.Join(labels[len(labels)-n:], ".")
}

func headerCharset(v string) string {
	i := strings.Index(v, "=?")
	if i < 0 {
		return ""
	}
	rest := v[i+2:]
	if j := strings.IndexByte(rest, '?'); j > 0 {
		return strings.ToLower(rest[:j])
	}
	return ""
}

// htmlInfo is what one pass over an HTML part finds.
type htmlInfo struct {
	words    int  // words of visible text
	img      bool // an <img> tag
	mismatch bool // a link whose text names another host than its href
}

// scanHTML reads an HTML part once, in linear time: tags are cut at '>',
// the text of a link is looked at up to 300 bytes.
func scanHTML(s string) htmlInfo {
	var h htmlInfo
	inWord := false
	href := ""          // href of the open <a>, "" when none
	var linkText []byte // visible text of the open <a>
	for i := 0; i < len(s); {
		c := s[i]
		if c != '<' {
			space := c == ' ' || c == '\t' || c == '\r' || c == '\n'
			if !space && !inWord {
				h.words++
			}
			inWord = !space
			if href != "" && len(linkText) < 300 {
				linkText = append(linkText, c)
			}
			i++
			continue
		}
		inWord = false
		end := strings.IndexByte(s[i:], '>')
		if end < 0 {
			break
		}
		tag := s[i+1 : i+end]
		i += end + 1
		name := tag
		if j := strings.IndexAny(name, " \t\r\n"); j >= 0 {
			name = name[:j]
		}
		switch {
		case strings.EqualFold(name, "img"):
			h.img = true
		case strings.EqualFold(name, "a"):
			href, linkText = attrValue(tag, "href"), linkText[:0]
		case strings.EqualFold(name, "/a"):
			if href != "" && !h.mismatch {
				h.mismatch = linkMismatch(href, string(linkText))
			}
			href = ""
		}
	}
	return h
}

// attrValue returns the value of attribute name in a tag's inside.
func attrValue(tag, name string) string {
	if len(tag) > 2048 {
		tag = tag[:2048]
	}
	lt := strings.ToLower(tag)
	i := strings.Index(lt, name+"=")
	if i < 0 {
		return ""
	}
	v := strings.TrimLeft(tag[i+len(name)+1:], " ")
	if v == "" {
		return ""
	}
	if q := v[0]; q == '"' || q == '\'' {
		if j := strings.IndexByte(v[1:], q); j >= 0 {
			return v[1 : j+1]
		}
		return v[1:]
	}
	if j := strings.IndexAny(v, " \t\r\n"); j >= 0 {
		return v[:j]
	}
	return v
}

var hostInText = regexp.MustCompile(`(?i)^(?:https?://)?((?:[a-z0-9-]+\.)+[a-z]{2,})`)

// linkMismatch reports a link whose visible text is a URL or host name
// of another organisation than the host of its href (the phishing pattern).
func linkMismatch(href, text string) bool {
	text = strings.TrimSpace(text)
	tm := hostInText.FindStringSubmatch(text)
	if tm == nil {
		return false
	}
	href = strings.ToLower(href)
	i := strings.Index(href, "://")
	if i < 0 {
		return false
	}
	host := href[i+3:]
	if j := strings.IndexAny(host, "/?#:"); j >= 0 {
		host = host[:j]
	}
	if j := strings.LastIndexByte(host, '@'); j >= 0 {
		host = host[j+1:]
	}
	return orgDomain(strings.ToLower(tm[1])) != orgDomain(host)
}

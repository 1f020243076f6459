package main

import (
	"bytes"
	"regexp"
	"strings"

	"golang.org/x/net/html"
)

// htmlPolicy says what sanitizeHTML removes.
type htmlPolicy struct {
	scripts      bool // scripts, event handlers, script URLs, frames, objects
	remoteImages bool // anything that loads from the network when shown
}

// Elements dropped with everything inside them when scripts are stripped.
var dropWithContent = map[string]bool{
	"script": true, "iframe": true, "frame": true, "frameset": true,
	"object": true, "applet": true, "noembed": true,
}

// Void or wrapper elements dropped alone (their content, if any, stays).
var dropTag = map[string]bool{"embed": true, "param": true, "base": true}

// scriptScheme matches a URL that runs code, after whitespace and control
// characters are removed (browsers ignore them inside the scheme).
var scriptScheme = regexp.MustCompile(`(?i)^(javascript|vbscript|livescript|mocha):|^data:text/html`)

// remoteURL matches a URL that loads from the network.
var remoteURL = regexp.MustCompile(`(?i)^(https?:|ftp:|//|\\\\)`)

// cssRemote matches a CSS url() or @import that loads from the network.
var cssRemote = regexp.MustCompile(`(?i)url\(\s*['"]?\s*(https?:|ftp:|//)[^)]*\)|@import[^;]*;?`)

// cssActive matches CSS that runs code (old IE expression(), behaviors,
// script URLs).
var cssActive = regexp.MustCompile(`(?i)expression\s*\(|behavior\s*:|-moz-binding|javascript:|vbscript:`)

// sanitizeHTML removes what pol asks from an HTML document and reports
// whether it removed anything. It works on the token stream of
// golang.org/x/net/html: every token it keeps is copied byte for byte
// (so the document's charset does not matter), and a tag that loses an
// attribute is rewritten from its own bytes minus that attribute.
func sanitizeHTML(in []byte, pol *htmlPolicy) ([]byte, bool) {
	z := html.NewTokenizer(bytes.NewReader(in))
	var out bytes.Buffer
	out.Grow(len(in))
	changed := false
	skip := "" // element whose content is being dropped
	skipN := 0 // nesting of skip
	inStyle := false
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			break // io.EOF: the input is a byte slice
		}
		raw := z.Raw()
		name := ""
		if tt == html.StartTagToken || tt == html.EndTagToken || tt == html.SelfClosingTagToken {
			n, _ := z.TagName()
			name = string(n)
		}
		if skip != "" {
			changed = true
			switch {
			case tt == html.StartTagToken && name == skip:
				skipN++
			case tt == html.EndTagToken && name == skip:
				skipN--
				if skipN == 0 {
					skip = ""
				}
			}
			continue
		}
		switch tt {
		case html.StartTagToken, html.SelfClosingTagToken:
			if pol.scripts && dropWithContent[name] {
				changed = true
				if tt == html.StartTagToken {
					skip, skipN = name, 1
				}
				continue
			}
			if pol.scripts && dropTag[name] {
				changed = true
				continue
			}
			kept, tagChanged, dropAll := filterTag(name, raw, pol)
			if dropAll {
				changed = true
				continue
			}
			if tagChanged {
				changed = true
				out.Write(kept)
			} else {
				out.Write(raw)
			}
			if name == "style" && tt == html.StartTagToken {
				inStyle = true
			}
		case html.EndTagToken:
			if pol.scripts && (dropWithContent[name] || dropTag[name]) {
				changed = true
				continue
			}
			if name == "style" {
				inStyle = false
			}
			out.Write(raw)
		case html.TextToken:
			if inStyle {
				if c, ok := cleanCSS(raw, pol); ok {
					changed = true
					out.Write(c)
					continue
				}
			}
			out.Write(raw)
		case html.CommentToken:
			// Conditional comments hold markup some readers render.
			if pol.scripts && bytes.Contains(raw[min(4, len(raw)):], []byte("<")) {
				changed = true
				continue
			}
			out.Write(raw)
		default:
			out.Write(raw)
		}
	}
	if !changed {
		return nil, false
	}
	return out.Bytes(), true
}

// cleanCSS neutralises remote loads and script in style text.
func cleanCSS(css []byte, pol *htmlPolicy) ([]byte, bool) {
	out := css
	if pol.remoteImages {
		out = cssRemote.ReplaceAll(out, []byte("none"))
	}
	if pol.scripts {
		out = cssActive.ReplaceAll(out, []byte("x-removed:"))
	}
	return out, !bytes.Equal(out, css)
}

// filterTag rewrites a start tag: attributes that pol forbids are left
// out, the others copied as written. dropAll means the whole tag goes.
func filterTag(name string, raw []byte, pol *htmlPolicy) (out []byte, changed, dropAll bool) {
	attrs, nameEnd, ok := scanAttrs(raw)
	if !ok {
		return nil, true, true // not a tag the tokenizer would end here: drop it
	}
	var b bytes.Buffer
	b.Write(raw[:nameEnd])
	for _, a := range attrs {
		if dropAttr(name, a, pol) {
			changed = true
			continue
		}
		b.WriteByte(' ')
		b.Write(raw[a.start:a.end])
	}
	if name == "meta" && pol.scripts {
		for _, a := range attrs {
			if a.name == "http-equiv" && !strings.EqualFold(strings.TrimSpace(a.value), "content-type") {
				return nil, true, true // refresh, set-cookie…
			}
		}
	}
	if name == "link" && pol.remoteImages {
		for _, a := range attrs {
			if a.name == "href" && remoteURL.MatchString(cleanURL(a.value)) {
				return nil, true, true
			}
		}
	}
	if !changed {
		return nil, false, false
	}
	if bytes.HasSuffix(raw, []byte("/>")) {
		b.WriteString(" />")
	} else {
		b.WriteByte('>')
	}
	return b.Bytes(), true, false
}

// urlAttrs may hold a URL that is loaded when the element is shown.
var loadAttrs = map[string]bool{"src": true, "srcset": true, "lowsrc": true, "dynsrc": true, "background": true, "poster": true, "data": true}

func dropAttr(tag string, a attr, pol *htmlPolicy) bool {
	if pol.scripts {
		if strings.HasPrefix(a.name, "on") || a.name == "formaction" && scriptScheme.MatchString(cleanURL(a.value)) {
			return true
		}
		if scriptScheme.MatchString(cleanURL(a.value)) {
			return true // href, src, action, xlink:href, values of SVG animations…
		}
		if a.name == "style" && cssActive.MatchString(a.value) {
			return true
		}
	}
	if pol.remoteImages {
		if loadAttrs[a.name] || (tag == "image" || tag == "use" || tag == "feimage") && strings.HasSuffix(a.name, "href") {
			for _, u := range strings.Split(a.value, ",") { // srcset lists several
				if remoteURL.MatchString(cleanURL(u)) {
					return true
				}
			}
		}
		if a.name == "style" && cssRemote.MatchString(a.value) {
			return true
		}
	}
	return false
}

// cleanURL removes what browsers ignore before and inside a URL's scheme.
func cleanURL(v string) string {
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f {
			return -1
		}
		return r
	}, v)
}

// attr is one attribute of a start tag: its lower-case name, its value
// with character references decoded, and its bytes in the tag.
type attr struct {
	name, value string
	start, end  int
}

// scanAttrs splits a start tag into attributes following the HTML
// tokenizer's states (before/after attribute name and value), so it sees
// the same attributes a browser does, "<img/src=x/onerror=y>" included.
// nameEnd is the end of "<tagname".
func scanAttrs(raw []byte) (attrs []attr, nameEnd int, ok bool) {
	if len(raw) < 2 || raw[0] != '<' {
		return nil, 0, false
	}
	i := 1
	for i < len(raw) && !isHTMLSpace(raw[i]) && raw[i] != '/' && raw[i] != '>' {
		i++
	}
	nameEnd = i
	for i < len(raw) {
		for i < len(raw) && (isHTMLSpace(raw[i]) || raw[i] == '/') {
			i++
		}
		if i >= len(raw) || raw[i] == '>' {
			break
		}
		start := i
		i++ // the first character is part of the name, even '='
		for i < len(raw) && !isHTMLSpace(raw[i]) && raw[i] != '/' && raw[i] != '>' && raw[i] != '=' {
			i++
		}
		a := attr{name: strings.ToLower(string(raw[start:i])), start: start}
		j := i
		for j < len(raw) && isHTMLSpace(raw[j]) {
			j++
		}
		if j < len(raw) && raw[j] == '=' {
			j++
			for j < len(raw) && isHTMLSpace(raw[j]) {
				j++
			}
			switch {
			case j < len(raw) && (raw[j] == '"' || raw[j] == '\''):
				q := raw[j]
				k := bytes.IndexByte(raw[j+1:], q)
				if k < 0 {
					return nil, 0, false // the tokenizer would not have ended the tag here
				}
				a.value = html.UnescapeString(string(raw[j+1 : j+1+k]))
				j += k + 2
			default:
				k := j
				for k < len(raw) && !isHTMLSpace(raw[k]) && raw[k] != '>' {
					k++
				}
				a.value = html.UnescapeString(string(raw[j:k]))
				j = k
			}
			i = j
		}
		a.end = i
		attrs = append(attrs, a)
	}
	return attrs, nameEnd, true
}

func isHTMLSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
}

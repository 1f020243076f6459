package bayes

import (
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// skipHeaders are fields the classifier ignores: trace fields written by
// the receiving side (they describe the path to this mailbox, not the
// sender) and spam-filter verdicts, which a sender can forge.
func skipHeader(name string) bool {
	n := strings.ToLower(name)
	switch n {
	case "return-path", "delivered-to", "x-original-to", "envelope-to", "status", "x-status",
		"x-keywords", "x-uid", "content-length", "lines":
		return true
	}
	return strings.HasPrefix(n, "x-spam") || strings.HasPrefix(n, "x-virus")
}

// addrHeaders are tokenized as addresses.
var addrHeaders = map[string]string{"from": "from", "to": "to", "cc": "cc", "reply-to": "reply-to", "sender": "sender"}

// maxTokens bounds the distinct tokens taken from one message.
const maxTokens = 3000

// Tokens returns the hashes (see Hash) of the distinct tokens of a
// message. Tokens are hashed as they are produced, without building their
// strings: in the Wasm guest, allocation and garbage collection dominate
// the cost of tokenizing.
func Tokens(d *Doc) []uint64 {
	t := &tokenSet{seen: setPool.Get().(*[setSlots]uint64)[:]}
	defer func() {
		clear(t.seen)
		setPool.Put((*[setSlots]uint64)(t.seen))
	}()
	for _, f := range d.Header {
		if skipHeader(f.Name) {
			continue
		}
		name := strings.ToLower(f.Name)
		if name != "received" {
			t.add("hdr:", name)
		}
		v := Unfold(f.Value)
		switch {
		case name == "received":
			t.received(v)
			continue
		case name == "subject":
			t.words("subject:", decodeWords(v))
		case addrHeaders[name] != "":
			t.addresses(addrHeaders[name], decodeWords(v))
		case name == "content-type":
			mt := strings.ToLower(strings.TrimSpace(strings.SplitN(v, ";", 2)[0]))
			t.add("ctype:", mt)
			if i := strings.Index(strings.ToLower(v), "charset="); i >= 0 {
				cs := strings.Trim(strings.SplitN(v[i+8:], ";", 2)[0], "\" ")
				t.add("charset:", strings.ToLower(cs))
			}
		case name == "message-id":
			if i := strings.LastIndexByte(v, '@'); i >= 0 {
				t.add("msgid-domain:", strings.ToLower(strings.Trim(v[i+1:], "<> ")))
			} else {
				t.add("msgid:no-at")
			}
		case name == "x-mailer" || name == "user-agent":
			t.add("mailer:", strings.ToLower(clip(v, 40)))
		case name == "date", name == "mime-version", name == "content-transfer-encoding":
			t.add(name, ":", strings.ToLower(clip(v, 30)))
		}
	}
	for _, p := range d.Parts {
		t.add("part:", p.Type)
		if p.Charset != "" {
			t.add("part-charset:", p.Charset)
		}
		if p.Encoding != "" {
			t.add("part-cte:", p.Encoding)
		}
		if p.Filename != "" {
			ext := p.Filename
			if i := strings.LastIndexByte(ext, '.'); i >= 0 {
				ext = ext[i+1:]
			}
			t.add("filename-ext:", strings.ToLower(clip(ext, 10)))
		}
		text := p.Text
		if p.HTML {
			text = t.html(text)
		}
		t.body(text)
	}
	return t.list
}

// tokenSet collects distinct token hashes. seen is an open-addressing
// hash set (linear probing; 0 marks a free slot, so hash 0 is stored as 1),
// cheaper in the guest than a Go map: at most maxTokens entries in
// setSlots slots keeps it under half full.
type tokenSet struct {
	seen []uint64
	list []uint64
}

const setSlots = 8192 // a power of two, > 2*maxTokens

// setPool keeps the 64 KiB sets: allocating one per message made the
// guest's garbage collector run every few messages.
var setPool = sync.Pool{New: func() any { return new([setSlots]uint64) }}

// add counts the token made of the concatenation of parts.
func (t *tokenSet) add(parts ...string) {
	if len(t.list) >= maxTokens {
		return
	}
	h := uint64(fnvOffset)
	for _, p := range parts {
		h = fnvMix(h, p)
	}
	if h == 0 {
		h = 1
	}
	for i := h & (setSlots - 1); ; i = (i + 1) & (setSlots - 1) {
		switch t.seen[i] {
		case h:
			return
		case 0:
			t.seen[i] = h
			t.list = append(t.list, h)
			return
		}
	}
}

func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = s[:n]
	}
	return s
}

// decodeWords undoes RFC 2047 encoded words where it can.
func decodeWords(v string) string {
	if !strings.Contains(v, "=?") {
		return v
	}
	if out, err := wordDecoder.DecodeHeader(v); err == nil {
		return out
	}
	return v
}

func (t *tokenSet) words(prefix, s string) {
	eachWord(s, func(w string) {
		if tok, ok := wordToken(w); ok {
			t.add(prefix, tok)
		}
	})
}

func (t *tokenSet) addresses(prefix, v string) {
	for _, w := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '<' || r == '>' || r == '"' }) {
		w = strings.ToLower(w)
		if i := strings.LastIndexByte(w, '@'); i >= 0 {
			t.add(prefix, ":addr:", clip(w, 60))
			t.add(prefix, ":domain:", clip(w[i+1:], 60))
		} else if tok, ok := wordToken(w); ok {
			t.add(prefix, ":name:", tok)
		}
	}
}

// body tokenizes text: words, pairs of adjacent words (bigrams: on the
// training part of the SpamAssassin corpus they cut hard-ham false
// positives by a third at the same recall), URLs (by host and path
// pieces) and long runs summarised by their first character and length.
func (t *tokenSet) body(s string) {
	prev := "" // the previous word, for bigram tokens
	eachField(s, func(w string) {
		if len(t.list) >= maxTokens {
			return
		}
		lw := strings.ToLower(w)
		if i := strings.Index(lw, "://"); i >= 0 && i < 10 {
			t.url(lw)
			return
		}
		if strings.HasPrefix(lw, "www.") {
			t.url("http://" + lw)
			return
		}
		if at := strings.IndexByte(lw, '@'); at > 0 && strings.Contains(lw[at:], ".") {
			lw = strings.Trim(lw, "<>()[],;:.\"'")
			if at = strings.IndexByte(lw, '@'); at > 0 {
				t.add("email-domain:", clip(lw[at+1:], 60))
				return
			}
		}
		eachWord(lw, func(piece string) {
			if tok, ok := wordToken(piece); ok {
				t.add(tok)
				if prev != "" {
					t.add("bi:", prev, " ", tok)
				}
				prev = tok
			}
		})
	})
}

// eachField calls fn for each run of non-space bytes, without building a slice.
func eachField(s string, fn func(string)) {
	start := -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		space := c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
		if space {
			if start >= 0 {
				fn(s[start:i])
				start = -1
			}
		} else if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		fn(s[start:])
	}
}

// eachWord calls fn for each piece of s between characters that are not
// letters, digits or the characters that carry meaning inside spam words
// ($ ! ' - .).
func eachWord(s string, fn func(string)) {
	start := -1
	for i, r := range s {
		in := r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '$' || r == '!' || r == '\'' || r == '-' || r == '.') ||
			r >= utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r))
		if in {
			if start < 0 {
				start = i
			}
		} else if start >= 0 {
			fn(s[start:i])
			start = -1
		}
	}
	if start >= 0 {
		fn(s[start:])
	}
}

// received takes the host names and IP addresses of a Received field's
// from clause (the hop that handed the message over).
func (t *tokenSet) received(v string) {
	v = strings.ToLower(v)
	if i := strings.Index(v, " by "); i >= 0 {
		v = v[:i]
	}
	for _, w := range strings.FieldsFunc(v, func(r rune) bool { return strings.ContainsRune(" ()[]\t;", r) }) {
		if strings.Count(w, ".") >= 1 && len(w) < 80 {
			labels := strings.Split(w, ".")
			if isNumeric(labels[0]) && len(labels) == 4 {
				t.add("received:ip:", strings.Join(labels[:3], "."))
				continue
			}
			if len(labels) >= 2 {
				t.add("received:", strings.Join(labels[len(labels)-2:], "."))
			}
		}
	}
}

func (t *tokenSet) url(u string) {
	i := strings.Index(u, "://")
	t.add("proto:", clip(u[:i], 10))
	rest := u[i+3:]
	host := rest
	if j := strings.IndexAny(rest, "/?#\"'>"); j >= 0 {
		host, rest = rest[:j], rest[j:]
	} else {
		rest = ""
	}
	if j := strings.LastIndexByte(host, '@'); j >= 0 {
		host = host[j+1:]
		t.add("url:userinfo")
	}
	if j := strings.IndexByte(host, ':'); j >= 0 {
		host = host[:j]
		t.add("url:port")
	}
	labels := strings.Split(host, ".")
	if len(labels) > 0 && isNumeric(labels[len(labels)-1]) {
		t.add("url:ip-host")
	}
	for k := len(labels) - 2; k >= 0 && k >= len(labels)-4; k-- {
		t.add("url:", clip(strings.Join(labels[k:], "."), 60))
	}
	for _, piece := range strings.FieldsFunc(rest, func(r rune) bool { return strings.ContainsRune("/?#&=._-%\"'>", r) }) {
		if len(piece) > 2 && len(piece) < 20 {
			t.add("url-path:", piece)
		}
	}
}

func isNumeric(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// html strips markup from an HTML part, adding tokens for the tags and
// for the URLs of href and src attributes, and returns the text.
func (t *tokenSet) html(s string) string {
	var out strings.Builder
	out.Grow(len(s))
	for len(s) > 0 {
		lt := strings.IndexByte(s, '<')
		if lt < 0 {
			out.WriteString(s)
			break
		}
		out.WriteString(s[:lt])
		out.WriteByte(' ')
		s = s[lt+1:]
		gt := strings.IndexByte(s, '>')
		tag := s
		if gt >= 0 {
			tag, s = s[:gt], s[gt+1:]
		} else {
			s = ""
		}
		if strings.HasPrefix(tag, "!--") {
			t.add("html:comment")
			continue
		}
		lt2 := strings.ToLower(tag)
		name := lt2
		if j := strings.IndexAny(name, " \t\r\n/"); j >= 0 {
			name = name[:j]
		}
		if name == "" && strings.HasPrefix(lt2, "/") {
			continue
		}
		if len(name) < 12 {
			t.add("html:", name)
		}
		for _, attr := range []string{"href=", "src="} {
			if j := strings.Index(lt2, attr); j >= 0 {
				v := strings.TrimLeft(lt2[j+len(attr):], "\"' ")
				if k := strings.IndexAny(v, "\"' >"); k >= 0 {
					v = v[:k]
				}
				if strings.Contains(v, "://") {
					t.url(v)
				} else if strings.HasPrefix(v, "mailto:") {
					t.add("html:mailto")
				}
			}
		}
	}
	return htmlEntities.Replace(out.String())
}

var htmlEntities = strings.NewReplacer("&nbsp;", " ", "&amp;", "&", "&lt;", "<", "&gt;", ">", "&quot;", "\"", "&#39;", "'")

// wordToken normalises a word: lower case, trailing punctuation dropped
// (a final ! or $ is kept as a feature), 3 to 20 characters; longer words
// become "skip:<first char> <length/10>".
func wordToken(w string) (string, bool) {
	for len(w) > 0 && (w[0] == '.' || w[0] == '-' || w[0] == '\'') {
		w = w[1:]
	}
	for len(w) > 0 && (w[len(w)-1] == '.' || w[len(w)-1] == '-' || w[len(w)-1] == '\'') {
		w = w[:len(w)-1]
	}
	if len(w) < 3 {
		return "", false
	}
	// ASCII fast path (the common case; strings functions are slow in
	// the Wasm guest, which has no assembly versions of them).
	ascii, upper := true, false
	for i := 0; i < len(w); i++ {
		c := w[i]
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
		upper = upper || c >= 'A' && c <= 'Z'
	}
	if ascii && len(w) <= 20 {
		if !upper {
			return w, true
		}
		b := []byte(w)
		for i, c := range b {
			if c >= 'A' && c <= 'Z' {
				b[i] = c + 'a' - 'A'
			}
		}
		return string(b), true
	}
	n := utf8.RuneCountInString(w)
	if n < 3 {
		return "", false
	}
	if n > 20 {
		r, _ := utf8.DecodeRuneInString(w)
		return "skip:" + string(unicode.ToLower(r)) + " " + strconv.Itoa(n/10*10), true
	}
	return strings.ToLower(w), true
}

package sdk

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/sluice-mail/sluice/sdk/abi"
)

// decodeEvent is a hand-written decoder of the event document (ABI.md 3.1)
// into abi.Event. encoding/json runs ~30× slower in the guest than a
// decoder that takes few branches: every jump between basic blocks of
// Go-compiled WebAssembly passes a loop header, where the host checks for
// an interrupt (~40 ns each under wazero's own check, which sluice used
// until plugin/interrupt; ~1 ns now), so this one scans strings 8 bytes
// at a time, finds field names by a perfect hash, aliases strings into data
// instead of allocating them and allocates each array once.
//
// It gives exactly what json.Unmarshal(data, &ev) gives, which the tests
// check on a corpus and by fuzzing: the same JSON grammar (RFC 8259,
// nesting up to 10000 levels), keys matched exactly or else
// case-insensitively as encoding/json folds them, unknown fields skipped,
// null leaving strings, numbers, booleans and structs untouched and
// clearing pointers, maps and slices, repeated keys merged the same way,
// invalid UTF-8 and lone surrogates replaced by U+FFFD, and integers
// refused unless they fit. It fails whenever json.Unmarshal would (with
// its own message).
//
// The strings of ev share data's memory (those with escapes excepted), so
// data must never change afterwards. ev's pointers (Auth, Txn, Rcpt,
// Message) point into sp, so sp must not be reused while ev is in use.
func decodeEvent(data []byte, ev *abi.Event, sp *spares) error {
	d := decoder{data: data, sp: sp, sc: &sp.scratch}
	d.event(ev)
	if d.err == nil {
		d.ws()
		if d.pos < len(d.data) {
			d.syntax("after the event document")
		}
	}
	return d.err
}

// spares hold the documents an event points to and the arrays' scratch,
// so that decoding an event does not allocate them.
type spares struct {
	scratch
	auth abi.Auth
	txn  abi.Txn
	rcpt abi.Recipient
	msg  abi.Message
}

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

type decoder struct {
	data  []byte
	pos   int
	depth int // open arrays and objects, as encoding/json's scanner counts them
	err   error
	sp    *spares
	sc    *scratch
	fold  [32]byte // scratch for case-folded keys
}

// decodeError says why an event document could not be decoded.
type decodeError struct {
	Offset int64
	Msg    string
}

func (e *decodeError) Error() string {
	return fmt.Sprintf("malformed event at byte %d: %s", e.Offset, e.Msg)
}

func (d *decoder) fail(msg string) {
	if d.err == nil {
		d.err = &decodeError{Offset: int64(d.pos), Msg: msg}
	}
}

func (d *decoder) syntax(where string) {
	if d.pos >= len(d.data) {
		d.fail("unexpected end " + where)
		return
	}
	d.fail(fmt.Sprintf("invalid character %q %s", d.data[d.pos], where))
}

func (d *decoder) ws() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// peek returns the next byte after white space, 0 at the end. The host
// writes compact JSON, so the loop is rarely entered.
func (d *decoder) peek() byte {
	if d.pos < len(d.data) && d.data[d.pos] > ' ' {
		return d.data[d.pos]
	}
	return d.peekSpace()
}

func (d *decoder) peekSpace() byte {
	d.ws()
	if d.pos < len(d.data) {
		return d.data[d.pos]
	}
	return 0
}

// literal consumes word (true, false, null) at the current position.
func (d *decoder) literal(word string) bool {
	if len(d.data)-d.pos >= len(word) && string(d.data[d.pos:d.pos+len(word)]) == word {
		d.pos += len(word)
		return true
	}
	for i := 0; i < len(word) && d.pos < len(d.data) && d.data[d.pos] == word[i]; i++ {
		d.pos++
	}
	d.syntax("in literal " + word)
	return false
}

// null consumes a null if one comes next.
func (d *decoder) null() bool {
	if d.peek() == 'n' {
		return d.literal("null")
	}
	return false
}

// mismatch refuses a well-formed value of the wrong type. encoding/json
// goes on decoding the rest and then fails; failing at once is the same
// answer.
func (d *decoder) mismatch(want string) {
	switch c := d.peek(); c {
	case '"', '{', '[', 't', 'f', 'n', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		d.fail("cannot decode this value into " + want)
	default:
		d.syntax("looking for a value")
	}
}

func (d *decoder) open() {
	d.pos++
	d.depth++
	if d.depth > maxDepth {
		d.fail("exceeded max depth")
	}
}

// object consumes the '{' of an object to decode into a struct and
// returns true, or false for null (which leaves a struct untouched) or an
// error (check d.err).
func (d *decoder) object(want string) bool {
	if p := d.pos; p < len(d.data) && d.data[p] == '{' && d.depth < maxDepth {
		d.pos, d.depth = p+1, d.depth+1
		return true
	}
	return d.objectSlow(want)
}

func (d *decoder) objectSlow(want string) bool { return !d.null() && d.objectStart(want) }

// objectStart consumes '{' or fails with a type error.
func (d *decoder) objectStart(want string) bool {
	if d.peek() != '{' {
		d.mismatch(want)
		return false
	}
	d.open()
	return d.err == nil
}

// next moves to the next member of an object whose '{' has been consumed
// and returns its unquoted key, or false after consuming the closing '}'
// (or on an error: check d.err).
func (d *decoder) next(first *bool) ([]byte, bool) {
	c := d.peek()
	if c == '}' {
		d.pos++
		d.depth--
		return nil, false
	}
	if !*first {
		if c != ',' {
			d.syntax("after object key:value pair")
			return nil, false
		}
		d.pos++
		c = d.peek()
	}
	*first = false
	if c != '"' {
		d.syntax("looking for beginning of object key string")
		return nil, false
	}
	key, ok := d.rawString()
	if !ok {
		return nil, false
	}
	if d.peek() != ':' {
		d.syntax("after object key")
		return nil, false
	}
	d.pos++
	return key, true
}

// field is next followed by index, with a fast path for what the host
// writes: a plain key of at most 16 bytes right after the ',' (or the '{'),
// followed by ':'. It reads 16 bytes at once, so it takes few branches.
func (d *decoder) field(first *bool, fs *fieldSet) (int, bool) {
	data, p := d.data, d.pos
	if p < len(data) && data[p] == '}' {
		d.pos++
		d.depth--
		return -1, false
	}
	if !*first && p < len(data) && data[p] == ',' {
		p++
	} else if !*first {
		p = -1
	}
	if p >= 0 && p+19 <= len(data) && data[p] == '"' {
		w0 := binary.LittleEndian.Uint64(data[p+1 : p+9])
		w1 := binary.LittleEndian.Uint64(data[p+9 : p+17])
		n := 16
		if m := special(w0); m != 0 {
			n = bits.TrailingZeros64(m) >> 3
		} else if m := special(w1); m != 0 {
			n = 8 + bits.TrailingZeros64(m)>>3
		}
		if data[p+1+n] == '"' && data[p+2+n] == ':' {
			switch {
			case n < 8:
				w0 &= 1<<(8*n) - 1
				w1 = 0
			case n < 16:
				w1 &= 1<<(8*(n-8)) - 1
			}
			if i := int(fs.slot[hashSlot(w0, w1, n)]) - 1; i >= 0 && fs.w0[i] == w0 && fs.w1[i] == w1 && len(fs.names[i]) == n {
				d.pos = p + 3 + n
				*first = false
				return i, true
			}
		}
	}
	key, ok := d.next(first)
	if !ok {
		return -1, false
	}
	return d.index(key, fs), true
}

// arrayStart consumes '[' or fails with a type error.
func (d *decoder) arrayStart(want string) bool {
	if d.peek() != '[' {
		d.mismatch(want)
		return false
	}
	d.open()
	return d.err == nil
}

// more reports whether an array whose '[' has been consumed has another
// element, consuming the ',' before it or the closing ']' after the last.
func (d *decoder) more(first *bool) bool {
	c := d.peek()
	if c == ']' {
		d.pos++
		d.depth--
		return false
	}
	if !*first {
		if c != ',' {
			d.syntax("after array element")
			return false
		}
		d.pos++
	}
	*first = false
	return true
}

// Bytes that end the fast path of a string: '"', '\\', controls, non-ASCII.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// special has the high bit set in the byte of x holding the first '"',
// '\\', control character or non-ASCII byte (and maybe in later ones).
func special(x uint64) uint64 {
	q := x ^ ('"' * ones)
	b := x ^ ('\\' * ones)
	return ((q-ones)&^q | (b-ones)&^b | (x-' '*ones)&^x | x) & highs
}

// rawString reads a quoted string and returns its contents unquoted as
// encoding/json unquotes them. Without escapes or invalid UTF-8 the result
// aliases d.data.
func (d *decoder) rawString() ([]byte, bool) {
	data := d.data
	start := d.pos + 1 // after the opening quote
	i := start
	for {
		i = plainEnd(data, i)
		if i >= len(data) {
			break
		}
		c := data[i]
		if c == '"' {
			d.pos = i + 1
			return data[start:i], true
		}
		if c == '\\' || c < ' ' {
			break
		}
		if c < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 {
			break
		}
		i += size
	}
	return d.slowString(start, i)
}

// slowString unquotes a string with escapes, control characters (an
// error) or invalid UTF-8 (replaced), whose first i-start bytes are plain.
func (d *decoder) slowString(start, i int) ([]byte, bool) {
	b := make([]byte, 0, i-start+16)
	b = append(b, d.data[start:i]...)
	for {
		if i >= len(d.data) {
			d.pos = i
			d.syntax("in string literal")
			return nil, false
		}
		c := d.data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return b, true
		case c < ' ':
			d.pos = i
			d.syntax("in string literal")
			return nil, false
		case c == '\\':
			if i+1 >= len(d.data) {
				d.pos = i + 1
				d.syntax("in string escape code")
				return nil, false
			}
			switch e := d.data[i+1]; e {
			case '"', '\\', '/':
				b = append(b, e)
				i += 2
			case 'b':
				b = append(b, '\b')
				i += 2
			case 'f':
				b = append(b, '\f')
				i += 2
			case 'n':
				b = append(b, '\n')
				i += 2
			case 'r':
				b = append(b, '\r')
				i += 2
			case 't':
				b = append(b, '\t')
				i += 2
			case 'u':
				r, ok := d.hex4(i + 2)
				if !ok {
					return nil, false
				}
				i += 6
				if utf16.IsSurrogate(r) {
					// A valid pair is consumed whole; otherwise the first
					// half becomes U+FFFD and what follows is read on its own.
					if r2, ok := d.peekHex4(i); ok {
						if dec := utf16.DecodeRune(r, r2); dec != unicode.ReplacementChar {
							b = utf8.AppendRune(b, dec)
							i += 6
							break
						}
					}
					r = unicode.ReplacementChar
				}
				b = utf8.AppendRune(b, r)
			default:
				d.pos = i + 1
				d.syntax("in string escape code")
				return nil, false
			}
		case c < utf8.RuneSelf:
			j := plainEnd(d.data, i+1) // c and the plain bytes after it
			b = append(b, d.data[i:j]...)
			i = j
		default:
			r, size := utf8.DecodeRune(d.data[i:])
			b = utf8.AppendRune(b, r)
			i += size
		}
	}
}

// hex4 reads the four hex digits of a \u escape at i.
func (d *decoder) hex4(i int) (rune, bool) {
	var r rune
	for j := 0; j < 4; j++ {
		if i+j >= len(d.data) {
			d.pos = i + j
			d.syntax("in \\u hexadecimal character escape")
			return 0, false
		}
		v := unhex(d.data[i+j])
		if v < 0 {
			d.pos = i + j
			d.syntax("in \\u hexadecimal character escape")
			return 0, false
		}
		r = r<<4 | v
	}
	return r, true
}

// peekHex4 reads a "\uXXXX" at i without reporting errors: a malformed one
// is left for the main loop to refuse.
func (d *decoder) peekHex4(i int) (rune, bool) {
	if len(d.data)-i < 6 || d.data[i] != '\\' || d.data[i+1] != 'u' {
		return 0, false
	}
	var r rune
	for j := 2; j < 6; j++ {
		v := unhex(d.data[i+j])
		if v < 0 {
			return 0, false
		}
		r = r<<4 | v
	}
	return r, true
}

func unhex(c byte) rune {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0')
	case 'a' <= c && c <= 'f':
		return rune(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

// number reads a JSON number and returns its text.
func (d *decoder) number() ([]byte, bool) {
	start, i := d.pos, d.pos
	n := len(d.data)
	if i < n && d.data[i] == '-' {
		i++
	}
	switch {
	case i < n && d.data[i] == '0':
		i++
	case i < n && '1' <= d.data[i] && d.data[i] <= '9':
		for i < n && '0' <= d.data[i] && d.data[i] <= '9' {
			i++
		}
	default:
		d.pos = i
		d.syntax("in numeric literal")
		return nil, false
	}
	if i < n && d.data[i] == '.' {
		i++
		if i >= n || d.data[i] < '0' || d.data[i] > '9' {
			d.pos = i
			d.syntax("after decimal point in numeric literal")
			return nil, false
		}
		for i < n && '0' <= d.data[i] && d.data[i] <= '9' {
			i++
		}
	}
	if i < n && (d.data[i] == 'e' || d.data[i] == 'E') {
		i++
		if i < n && (d.data[i] == '+' || d.data[i] == '-') {
			i++
		}
		if i >= n || d.data[i] < '0' || d.data[i] > '9' {
			d.pos = i
			d.syntax("in exponent of numeric literal")
			return nil, false
		}
		for i < n && '0' <= d.data[i] && d.data[i] <= '9' {
			i++
		}
	}
	d.pos = i
	return d.data[start:i], true
}

// skip validates and skips one value of any type, without recursion.
func (d *decoder) skip() {
	base := d.depth
	var stackArr [64]byte
	stack := stackArr[:0] // '{' or '[' per open container
	for {
		// A value.
		switch c := d.peek(); c {
		case '{', '[':
			d.open()
			if d.err != nil {
				return
			}
			stack = append(stack, c)
			first := true
			if c == '{' {
				if _, ok := d.next(&first); !ok {
					stack = stack[:len(stack)-1]
					if d.err != nil {
						return
					}
					break // empty object
				}
				continue
			}
			if !d.more(&first) {
				stack = stack[:len(stack)-1]
				if d.err != nil {
					return
				}
				break // empty array
			}
			continue
		case '"':
			if !d.skipString() {
				return
			}
		case 't':
			if !d.literal("true") {
				return
			}
		case 'f':
			if !d.literal("false") {
				return
			}
		case 'n':
			if !d.literal("null") {
				return
			}
		case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			if _, ok := d.number(); !ok {
				return
			}
		default:
			d.syntax("looking for beginning of value")
			return
		}
		// After a value: close containers or move to the next element.
		for {
			if len(stack) == 0 {
				if d.depth != base {
					d.fail("internal: unbalanced skip")
				}
				return
			}
			first := false
			top := stack[len(stack)-1]
			if top == '{' {
				if _, ok := d.next(&first); ok {
					break
				}
			} else if d.more(&first) {
				break
			}
			if d.err != nil {
				return
			}
			stack = stack[:len(stack)-1]
		}
	}
}

// skipString validates a string without unquoting it.
func (d *decoder) skipString() bool {
	i := d.pos + 1
	for i < len(d.data) {
		c := d.data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return true
		case c < ' ':
			d.pos = i
			d.syntax("in string literal")
			return false
		case c == '\\':
			if i+1 >= len(d.data) {
				d.pos = i + 1
				d.syntax("in string escape code")
				return false
			}
			switch d.data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if _, ok := d.hex4(i + 2); !ok {
					return false
				}
				i += 6
			default:
				d.pos = i + 1
				d.syntax("in string escape code")
				return false
			}
		default:
			i++
		}
	}
	d.pos = i
	d.syntax("in string literal")
	return false
}

// Typed values. Each leaves its target untouched on null, like encoding/json.

// alias returns b as a string sharing its memory.
func alias(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

func (d *decoder) str(dst *string) {
	// Fast path: a string without escapes or non-ASCII bytes.
	data, p := d.data, d.pos
	if p < len(data) && data[p] == '"' {
		if i := plainEnd(data, p+1); i < len(data) && data[i] == '"' {
			d.pos = i + 1
			*dst = alias(data[p+1 : i])
			return
		}
	}
	switch d.peek() {
	case '"':
		if b, ok := d.rawString(); ok {
			*dst = alias(b)
		}
	case 'n':
		d.literal("null")
	default:
		d.mismatch("string")
	}
}

func (d *decoder) boolean(dst *bool) {
	switch d.peek() {
	case 't':
		if d.literal("true") {
			*dst = true
		}
	case 'f':
		if d.literal("false") {
			*dst = false
		}
	case 'n':
		d.literal("null")
	default:
		d.mismatch("bool")
	}
}

func (d *decoder) int64(dst *int64) {
	c := d.peek()
	if c == 'n' {
		d.literal("null")
		return
	}
	if c != '-' && (c < '0' || c > '9') {
		d.mismatch("integer")
		return
	}
	lit, ok := d.number()
	if !ok {
		return
	}
	// strconv.ParseInt(lit, 10, 64): no fraction or exponent, in range.
	neg := lit[0] == '-'
	if neg {
		lit = lit[1:]
	}
	var u uint64
	for _, c := range lit {
		if c < '0' || c > '9' {
			d.fail("cannot decode a non-integer number into an integer")
			return
		}
		if u > (1<<63)/10 {
			d.fail("integer out of range")
			return
		}
		u = u*10 + uint64(c-'0')
		if u > 1<<63 {
			d.fail("integer out of range")
			return
		}
	}
	if !neg && u == 1<<63 {
		d.fail("integer out of range")
		return
	}
	if neg {
		*dst = -int64(u)
	} else {
		*dst = int64(u)
	}
}

func (d *decoder) int(dst *int) {
	v := int64(*dst)
	d.int64(&v)
	*dst = int(v)
}

// strMap decodes into a map[string]string the way encoding/json does:
// null clears it, an object adds to it (creating it if nil).
func (d *decoder) strMap(dst *map[string]string) {
	if d.null() {
		*dst = nil
		return
	}
	if !d.objectStart("map") {
		return
	}
	if *dst == nil {
		*dst = make(map[string]string)
	}
	m := *dst
	for first := true; ; {
		key, ok := d.next(&first)
		if !ok {
			return
		}
		var v string
		d.str(&v)
		if d.err != nil {
			return
		}
		m[alias(key)] = v
	}
}

// slice decodes an array into *dst as encoding/json's reflection does:
// null sets nil, [] an empty slice; elements are decoded into the existing
// ones, so a repeated key merges into the earlier elements (even into those
// an earlier repetition truncated away, which are still in the capacity).
// A first decoding, the usual case, fills the reused scratch and allocates
// the result once.
func slice[T any](d *decoder, dst *[]T, scratch *[]T, elem func(*decoder, *T)) {
	if d.null() {
		*dst = nil
		return
	}
	if !d.arrayStart("array") {
		return
	}
	var zero T
	if *dst == nil {
		v := (*scratch)[:0]
		for first := true; d.more(&first); {
			v = append(v, zero)
			elem(d, &v[len(v)-1])
			if d.err != nil {
				break
			}
		}
		if d.err == nil {
			*dst = append(make([]T, 0, len(v)), v...)
		}
		// Keep no pointers into this event until the next one.
		clear(v)
		*scratch = v[:0]
		return
	}
	v := *dst
	i := 0
	for first := true; d.more(&first); i++ {
		if i >= cap(v) {
			v = append(v[:cap(v)], zero)
		}
		if i >= len(v) {
			v = v[:i+1]
		}
		elem(d, &v[i])
		if d.err != nil {
			return
		}
	}
	if d.err != nil {
		return
	}
	v = v[:i]
	if i == 0 {
		v = make([]T, 0)
	}
	*dst = v
}

// scratch arrays for slice, one per element type (never nested in one another).
type scratch struct {
	header     []abi.HeaderField
	parts      []abi.Part
	recipients []abi.Recipient
	outcomes   []abi.Outcome
}

// fieldSet finds a field name by a perfect hash of its first 16 bytes and
// its length, without loops or string comparisons.
type fieldSet struct {
	names  []string
	w0, w1 []uint64
	slot   [64]int8 // index in names + 1; 0 for none
}

// fieldSeed makes hashSlot collision-free for every fieldSet (checked
// when the sets are built, at init).
const fieldSeed = 0x2606cd2b57d29245

func hashSlot(w0, w1 uint64, n int) uint64 {
	return ((w0 ^ w1*0x9E3779B97F4A7C15 ^ uint64(n)) * fieldSeed) >> 58
}

func newFieldSet(names ...string) *fieldSet {
	fs := &fieldSet{names: names}
	for i, n := range names {
		var b [16]byte
		copy(b[:], n)
		w0, w1 := words(b[:len(n)])
		fs.w0, fs.w1 = append(fs.w0, w0), append(fs.w1, w1)
		h := hashSlot(w0, w1, len(n))
		if fs.slot[h] != 0 {
			panic("sdk: field hash collision: " + n)
		}
		fs.slot[h] = int8(i + 1)
	}
	return fs
}

// words returns the first 16 bytes of b (len(b) <= 16), zero-padded.
func words(b []byte) (w0, w1 uint64) {
	n := len(b)
	if cap(b) >= 16 {
		b = b[:16]
		w0, w1 = binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])
	} else {
		var a [16]byte
		copy(a[:], b)
		w0, w1 = binary.LittleEndian.Uint64(a[:8]), binary.LittleEndian.Uint64(a[8:])
	}
	switch {
	case n < 8:
		w0 &= 1<<(8*n) - 1
		w1 = 0
	case n < 16:
		w1 &= 1<<(8*(n-8)) - 1
	}
	return w0, w1
}

// index returns the index of key's field: the exact name, or else the
// first whose encoding/json case folding equals the key's; -1 if none.
func (d *decoder) index(key []byte, fs *fieldSet) int {
	if len(key) <= 16 {
		w0, w1 := words(key)
		if i := int(fs.slot[hashSlot(w0, w1, len(key))]) - 1; i >= 0 && fs.w0[i] == w0 && fs.w1[i] == w1 && len(fs.names[i]) == len(key) {
			return i
		}
	}
	folded := appendFoldedName(d.fold[:0], key)
	for i, n := range fs.names {
		if equalUpperASCII(folded, n) {
			return i
		}
	}
	return -1
}

// equalUpperASCII reports whether folded equals the ASCII name upper-cased
// (which is how encoding/json folds an ASCII name).
func equalUpperASCII(folded []byte, name string) bool {
	if len(folded) != len(name) {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if folded[i] != c {
			return false
		}
	}
	return true
}

// appendFoldedName and foldRune are encoding/json's (fold.go).
func appendFoldedName(out, in []byte) []byte {
	for i := 0; i < len(in); {
		if c := in[i]; c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			out = append(out, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(in[i:])
		out = utf8.AppendRune(out, foldRune(r))
		i += n
	}
	return out
}

func foldRune(r rune) rune {
	for {
		r2 := unicode.SimpleFold(r)
		if r2 <= r {
			return r2
		}
		r = r2
	}
}

// The documents, field by field in abi's declaration order.

var (
	eventFields     = newFieldSet("abi", "stage", "filter", "session", "auth", "txn", "rcpt", "message", "outcomes")
	sessionFields   = newFieldSet("id", "client_ip", "client_port", "listener", "listener_kind", "tls", "tls_version", "tls_cipher", "helo", "helo_extended", "auth_user", "trusted")
	authFields      = newFieldSet("mechanism", "user", "ok")
	txnFields       = newFieldSet("queue_id", "from", "mail_params", "recipients")
	recipientFields = newFieldSet("addr", "params")
	messageFields   = newFieldSet("size", "header", "body_size", "parts")
	headerFields    = newFieldSet("name", "value")
	partFields      = newFieldSet("path", "content_type", "charset", "encoding", "disposition", "filename", "size", "multipart", "header_start", "body_start", "end")
	outcomeFields   = newFieldSet("rcpt", "code", "enhanced", "text", "delivered", "permanent")
)

// ptr decodes into *dst: null clears it, anything else decodes into the
// existing value or, if nil, into spare (zeroed first).
func ptr[T any](d *decoder, dst **T, spare *T, dec func(*decoder, *T)) {
	if d.null() {
		*dst = nil
		return
	}
	if *dst == nil {
		*spare = *new(T)
		*dst = spare
	}
	dec(d, *dst)
}

func (d *decoder) event(ev *abi.Event) {
	if !d.object("event") {
		return
	}
	for first := true; ; {
		i, ok := d.field(&first, eventFields)
		if !ok {
			return
		}
		switch i {
		case 0:
			d.int(&ev.ABI)
		case 1:
			d.str(&ev.Stage)
		case 2:
			d.str(&ev.Filter)
		case 3:
			d.session(&ev.Session)
		case 4:
			ptr(d, &ev.Auth, &d.sp.auth, (*decoder).auth)
		case 5:
			ptr(d, &ev.Txn, &d.sp.txn, (*decoder).txn)
		case 6:
			ptr(d, &ev.Rcpt, &d.sp.rcpt, (*decoder).recipient)
		case 7:
			ptr(d, &ev.Message, &d.sp.msg, (*decoder).message)
		case 8:
			slice(d, &ev.Outcomes, &d.sc.outcomes, (*decoder).outcome)
		default:
			d.skip()
		}
		if d.err != nil {
			return
		}
	}
}

func (d *decoder) session(s *abi.Session) {
	if !d.object("session") {
		return
	}
	for first := true; ; {
		i, ok := d.field(&first, sessionFields)
		if !ok {
			return
		}
		switch i {
		case 0:
			d.str(&s.ID)
		case 1:
			d.str(&s.ClientIP)
		case 2:
			d.int(&s.ClientPort)
		case 3:
			d.str(&s.Listener)
		case 4:
			d.str(&s.ListenerKind)
		case 5:
			d.boolean(&s.TLS)
		case 6:
			d.str(&s.TLSVersion)
		case 7:
			d.str(&s.TLSCipher)
		case 8:
			d.str(&s.Helo)
		case 9:
			d.boolean(&s.HeloExtended)
		case 10:
			d.str(&s.AuthUser)
		case 11:
			d.boolean(&s.Trusted)
		default:
			d.skip()
		}
		if d.err != nil {
			return
		}
	}
}

func (d *decoder) auth(a *abi.Auth) {
	if !d.object("auth") {
		return
	}
	for first := true; ; {
		i, ok := d.field(&first, authFields)
		if !ok {
			return
		}
		switch i {
		case 0:
			d.str(&a.Mechanism)
		case 1:
			d.str(&a.User)
		case 2:
			d.boolean(&a.OK)
		default:
			d.skip()
		}
		if d.err != nil {
			return
		}
	}
}

func (d *decoder) txn(t *abi.Txn) {
	if !d.object("txn") {
		return
	}
	for first := true; ; {
		i, ok := d.field(&first, txnFields)
		if !ok {
			return
		}
		switch i {
		case 0:
			d.str(&t.QueueID)
		case 1:
			d.str(&t.From)
		case 2:
			d.strMap(&t.MailParams)
		case 3:
			slice(d, &t.Recipients, &d.sc.recipients, (*decoder).recipient)
		default:
			d.skip()
		}
		if d.err != nil {
			return
		}
	}
}

func (d *decoder) recipient(r *abi.Recipient) {
	if !d.object("recipient") {
		return
	}
	for first := true; ; {
		i, ok := d.field(&first, recipientFields)
		if !ok {
			return
		}
		switch i {
		case 0:
			d.str(&r.Addr)
		case 1:
			d.strMap(&r.Params)
		default:
			d.skip()
		}
		if d.err != nil {
			return
		}
	}
}

func (d *decoder) message(m *abi.Message) {
	if !d.object("message") {
		return
	}
	for first := true; ; {
		i, ok := d.field(&first, messageFields)
		if !ok {
			return
		}
		switch i {
		case 0:
			d.int64(&m.Size)
		case 1:
			slice(d, &m.Header, &d.sc.header, (*decoder).headerField)
		case 2:
			d.int64(&m.BodySize)
		case 3:
			slice(d, &m.Parts, &d.sc.parts, (*decoder).part)
		default:
			d.skip()
		}
		if d.err != nil {
			return
		}
	}
}

// Header fields as the host writes them.
var (
	hdrName  = binary.LittleEndian.Uint64([]byte(`{"name":`))
	hdrValue = binary.LittleEndian.Uint64([]byte(`","value`))
)

// plainEnd returns the index of the first byte from i on that special
// flags ('"', '\\', a control or non-ASCII byte), or one within the last
// 7 bytes of data.
func plainEnd(data []byte, i int) int {
	// 32 bytes a round: every loop round costs a check in the host.
	for i+32 <= len(data) {
		m0 := special(binary.LittleEndian.Uint64(data[i : i+8]))
		m1 := special(binary.LittleEndian.Uint64(data[i+8 : i+16]))
		m2 := special(binary.LittleEndian.Uint64(data[i+16 : i+24]))
		m3 := special(binary.LittleEndian.Uint64(data[i+24 : i+32]))
		if m0|m1|m2|m3 != 0 {
			switch {
			case m0 != 0:
				return i + bits.TrailingZeros64(m0)>>3
			case m1 != 0:
				return i + 8 + bits.TrailingZeros64(m1)>>3
			case m2 != 0:
				return i + 16 + bits.TrailingZeros64(m2)>>3
			}
			return i + 24 + bits.TrailingZeros64(m3)>>3
		}
		i += 32
	}
	for i+8 <= len(data) {
		if m := special(binary.LittleEndian.Uint64(data[i : i+8])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	return i
}

// canonicalHeaderField decodes {"name":"N","value":"V"} with plain
// strings, the usual case, in one go; it returns false, having consumed
// nothing, for anything else.
func (d *decoder) canonicalHeaderField(f *abi.HeaderField) bool {
	data, p := d.data, d.pos
	if p+9 > len(data) || d.depth >= maxDepth || binary.LittleEndian.Uint64(data[p:p+8]) != hdrName || data[p+8] != '"' {
		return false
	}
	i := plainEnd(data, p+9)
	if i+11 > len(data) || binary.LittleEndian.Uint64(data[i:i+8]) != hdrValue || data[i+8] != '"' || data[i+9] != ':' || data[i+10] != '"' {
		return false
	}
	j := plainEnd(data, i+11)
	if j+2 > len(data) || data[j] != '"' || data[j+1] != '}' {
		return false
	}
	f.Name, f.Value = alias(data[p+9:i]), alias(data[i+11:j])
	d.pos = j + 2
	return true
}

func (d *decoder) headerField(f *abi.HeaderField) {
	if d.canonicalHeaderField(f) {
		return
	}
	if !d.object("header field") {
		return
	}
	for first := true; ; {
		i, ok := d.field(&first, headerFields)
		if !ok {
			return
		}
		switch i {
		case 0:
			d.str(&f.Name)
		case 1:
			d.str(&f.Value)
		default:
			d.skip()
		}
		if d.err != nil {
			return
		}
	}
}

func (d *decoder) part(p *abi.Part) {
	if !d.object("part") {
		return
	}
	for first := true; ; {
		i, ok := d.field(&first, partFields)
		if !ok {
			return
		}
		switch i {
		case 0:
			d.str(&p.Path)
		case 1:
			d.str(&p.ContentType)
		case 2:
			d.str(&p.Charset)
		case 3:
			d.str(&p.Encoding)
		case 4:
			d.str(&p.Disposition)
		case 5:
			d.str(&p.Filename)
		case 6:
			d.int64(&p.Size)
		case 7:
			d.boolean(&p.Multipart)
		case 8:
			d.int64(&p.HeaderStart)
		case 9:
			d.int64(&p.BodyStart)
		case 10:
			d.int64(&p.End)
		default:
			d.skip()
		}
		if d.err != nil {
			return
		}
	}
}

func (d *decoder) outcome(o *abi.Outcome) {
	if !d.object("outcome") {
		return
	}
	for first := true; ; {
		i, ok := d.field(&first, outcomeFields)
		if !ok {
			return
		}
		switch i {
		case 0:
			d.str(&o.Rcpt)
		case 1:
			d.int(&o.Code)
		case 2:
			d.str(&o.Enhanced)
		case 3:
			d.str(&o.Text)
		case 4:
			d.boolean(&o.Delivered)
		case 5:
			d.boolean(&o.Permanent)
		default:
			d.skip()
		}
		if d.err != nil {
			return
		}
	}
}

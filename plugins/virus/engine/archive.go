package engine

import (
	"bytes"
	"compress/bzip2"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"path"
	"strings"
	"unicode/utf8"
)

// zipEntry is one member of a zip archive, from its central directory
// entry (or its local header when the directory is missing).
type zipEntry struct {
	name         string
	method       uint16
	flags        uint16
	csize, usize uint64
	local        uint64 // offset of the local header
}

const maxZipName = 4096

// zipEntries lists an archive's members from its central directory; a zip
// without a readable one is listed by walking its local headers, as
// extractors that tolerate damage do. Listing stops after max+1 entries.
func zipEntries(d []byte, maxN int) []zipEntry {
	if es, ok := zipCentral(d, maxN); ok {
		return es
	}
	return zipLocal(d, maxN)
}

func zipCentral(d []byte, maxN int) ([]zipEntry, bool) {
	// End of central directory: 22 bytes plus a comment of up to 65535.
	from := max(0, len(d)-22-65535)
	i := bytes.LastIndex(d[from:], []byte("PK\x05\x06"))
	if i < 0 {
		return nil, false
	}
	eocd := from + i
	if eocd+22 > len(d) {
		return nil, false
	}
	cdOff := uint64(binary.LittleEndian.Uint32(d[eocd+16:]))
	// Zip64: the locator sits just before the end record.
	if cdOff == 0xffffffff && eocd >= 20 && bytes.Equal(d[eocd-20:eocd-16], []byte("PK\x06\x07")) {
		rec := binary.LittleEndian.Uint64(d[eocd-12:])
		if rec+56 <= uint64(len(d)) && bytes.Equal(d[rec:rec+4], []byte("PK\x06\x06")) {
			cdOff = binary.LittleEndian.Uint64(d[rec+48:])
		}
	}
	if cdOff >= uint64(len(d)) {
		return nil, false
	}
	var out []zipEntry
	p := int(cdOff)
	for len(out) <= maxN {
		if p+46 > len(d) || !bytes.Equal(d[p:p+4], []byte("PK\x01\x02")) {
			break
		}
		e := zipEntry{
			flags:  binary.LittleEndian.Uint16(d[p+8:]),
			method: binary.LittleEndian.Uint16(d[p+10:]),
			csize:  uint64(binary.LittleEndian.Uint32(d[p+20:])),
			usize:  uint64(binary.LittleEndian.Uint32(d[p+24:])),
			local:  uint64(binary.LittleEndian.Uint32(d[p+42:])),
		}
		nl := int(binary.LittleEndian.Uint16(d[p+28:]))
		el := int(binary.LittleEndian.Uint16(d[p+30:]))
		cl := int(binary.LittleEndian.Uint16(d[p+32:]))
		if p+46+nl+el > len(d) {
			break
		}
		e.name = zipName(d[p+46:p+46+nl], e.flags)
		zip64Extra(d[p+46+nl:p+46+nl+el], &e)
		out = append(out, e)
		p += 46 + nl + el + cl
	}
	return out, len(out) > 0
}

// zip64Extra reads the zip64 extended information of an entry whose
// 32-bit fields are saturated.
func zip64Extra(x []byte, e *zipEntry) {
	for len(x) >= 4 {
		id := binary.LittleEndian.Uint16(x)
		n := int(binary.LittleEndian.Uint16(x[2:]))
		if 4+n > len(x) {
			return
		}
		if id == 0x0001 {
			f := x[4 : 4+n]
			take := func(v *uint64) {
				if *v == 0xffffffff && len(f) >= 8 {
					*v = binary.LittleEndian.Uint64(f)
					f = f[8:]
				}
			}
			take(&e.usize)
			take(&e.csize)
			take(&e.local)
			return
		}
		x = x[4+n:]
	}
}

func zipLocal(d []byte, maxN int) []zipEntry {
	var out []zipEntry
	p := 0
	for len(out) <= maxN {
		i := bytes.Index(d[p:], []byte("PK\x03\x04"))
		if i < 0 {
			break
		}
		p += i
		if p+30 > len(d) {
			break
		}
		e := zipEntry{
			flags:  binary.LittleEndian.Uint16(d[p+6:]),
			method: binary.LittleEndian.Uint16(d[p+8:]),
			csize:  uint64(binary.LittleEndian.Uint32(d[p+18:])),
			usize:  uint64(binary.LittleEndian.Uint32(d[p+22:])),
			local:  uint64(p),
		}
		nl := int(binary.LittleEndian.Uint16(d[p+26:]))
		el := int(binary.LittleEndian.Uint16(d[p+28:]))
		if p+30+nl+el > len(d) {
			break
		}
		e.name = zipName(d[p+30:p+30+nl], e.flags)
		zip64Extra(d[p+30+nl:p+30+nl+el], &e)
		out = append(out, e)
		p += 30 // the next search finds the next header (data may be streamed)
	}
	return out
}

func zipName(b []byte, flags uint16) string {
	if len(b) > maxZipName {
		b = b[:maxZipName]
	}
	if flags&0x800 != 0 || utf8.Valid(b) {
		return string(b)
	}
	// CP437 for the ASCII range; anything else becomes U+FFFD.
	var sb strings.Builder
	for _, c := range b {
		if c < 0x80 {
			sb.WriteByte(c)
		} else {
			sb.WriteRune(utf8.RuneError)
		}
	}
	return sb.String()
}

// entryData returns the compressed bytes of e.
func entryData(d []byte, e zipEntry) ([]byte, bool) {
	p := e.local
	if p+30 > uint64(len(d)) || !bytes.Equal(d[p:p+4], []byte("PK\x03\x04")) {
		return nil, false
	}
	nl := uint64(binary.LittleEndian.Uint16(d[p+26:]))
	el := uint64(binary.LittleEndian.Uint16(d[p+28:]))
	start := p + 30 + nl + el
	if start > uint64(len(d)) {
		return nil, false
	}
	end := start + e.csize
	if e.csize > uint64(len(d)) || end > uint64(len(d)) {
		end = uint64(len(d)) // truncated archive: scan what is there
	}
	return d[start:end], true
}

var errTooBig = errors.New("over the size limit")

// inflate decompresses at most limit bytes; more is errTooBig.
func inflate(r io.Reader, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, limit+1))
	if n > limit {
		return nil, errTooBig
	}
	if err != nil && buf.Len() == 0 {
		return nil, err
	}
	return buf.Bytes(), nil // a damaged stream still yields what decoded
}

func (sc *scan) budget() int64 {
	return min(sc.lim.MaxFileSize, sc.lim.MaxTotal-sc.total)
}

// overLimit records which limit a decompression ran into.
func (sc *scan) overLimit(l loc) {
	if sc.lim.MaxTotal-sc.total < sc.lim.MaxFileSize {
		sc.limit("MaxTotal", l)
	} else {
		sc.limit("MaxFileSize", l)
	}
}

// zip scans the members of a zip archive at data.
func (sc *scan) zip(data []byte, depth int, l loc) {
	if depth > sc.lim.MaxDepth {
		sc.limit("MaxRecursion", l)
		return
	}
	entries := zipEntries(data, sc.lim.MaxFiles)
	for _, e := range entries {
		base := strings.ToLower(path.Base(strings.ReplaceAll(e.name, "\\", "/")))
		if base == "vbaproject.bin" || strings.HasPrefix(strings.ToLower(e.name), "xl/macrosheets/") {
			sc.add(Finding{Kind: KindPolicy, Name: "Sluice.Policy.Macro", Category: CatMacro, Part: l.part, Where: l.trail})
			break
		}
	}
	for _, e := range entries {
		if sc.rep.Files >= sc.lim.MaxFiles {
			sc.limit("MaxFiles", l)
			return
		}
		if strings.HasSuffix(e.name, "/") && e.usize == 0 {
			continue // a directory
		}
		ml := l.child(printable(e.name))
		if e.flags&1 != 0 || e.method == 99 {
			sc.add(Finding{Kind: KindEncrypted, Name: "Heuristics.Encrypted.Zip", Part: l.part, Where: ml.trail})
			sc.namesOnly(e.name, ml)
			continue
		}
		raw, ok := entryData(data, e)
		if !ok {
			continue
		}
		var r io.Reader
		switch e.method {
		case 0:
			r = bytes.NewReader(raw)
		case 8:
			r = flate.NewReader(bytes.NewReader(raw))
		case 12:
			r = bzip2.NewReader(bytes.NewReader(raw))
		default:
			// Deflate64, LZMA, zstd...: not decodable here; its name is
			// still judged.
			sc.namesOnly(e.name, ml)
			continue
		}
		lim := sc.budget()
		out, err := inflate(r, lim)
		if errors.Is(err, errTooBig) {
			sc.overLimit(ml)
			return
		}
		if err != nil {
			continue
		}
		if !sc.account(int64(len(out)), ml) {
			return
		}
		sc.file(out, e.name, depth, ml)
	}
}

// namesOnly applies the name policy to a member that cannot be read.
func (sc *scan) namesOnly(name string, l loc) {
	names := sc.s.Names
	if names == nil {
		names = DefaultNamePolicy
	}
	for _, cat := range names.Check(name) {
		sc.add(Finding{Kind: KindPolicy, Name: "Sluice.Policy." + policyName(cat), Category: cat, Part: l.part, Where: l.trail})
	}
}

// gzip scans the decompressed content of a gzip file named name.
func (sc *scan) gzip(data []byte, name string, depth int, l loc) {
	if depth > sc.lim.MaxDepth {
		sc.limit("MaxRecursion", l)
		return
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return
	}
	zr.Multistream(false)
	inner := zr.Name
	if inner == "" {
		inner = strings.TrimSuffix(strings.TrimSuffix(name, ".gz"), ".tgz")
	}
	out, err := inflate(zr, sc.budget())
	if errors.Is(err, errTooBig) {
		sc.overLimit(l)
		return
	}
	if err != nil {
		return
	}
	ml := l.child(printable(inner))
	if !sc.account(int64(len(out)), ml) {
		return
	}
	sc.file(out, inner, depth, ml)
}

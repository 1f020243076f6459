/*
 * subject: a sluice filter in C, written from sdk/ABI.md alone.
 *
 * At the data stage it reads the message header as it arrived
 * (header_read), finds the Subject field, unfolds it, and looks for the
 * configured word (ASCII, case-insensitive). A matching message is tagged
 * with a header field, or rejected when the config says so, and the match
 * is logged. The config is read once, by a C constructor, which the
 * reactor's _initialize runs: a bad config traps there, and sluice refuses
 * to load the filter and names it.
 *
 *   config = { word = "invoice", header = "X-Subject-Match", action = "tag" }
 *
 * Build (Debian: clang lld wasi-libc libclang-rt-dev-wasm32):
 *   clang --target=wasm32-wasi -mexec-model=reactor -O2 -o subject.wasm subject.c
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Host functions (ABI.md section 4), imported from module "sluice". The C
 * names are ours; import_name is what the host exports. "log" would meet
 * libm's log() under its own name. */
#define SLUICE_IMPORT(name) __attribute__((import_module("sluice"), import_name(name)))
SLUICE_IMPORT("log") void sluice_log(int32_t level, const char *p, int32_t n);
SLUICE_IMPORT("config_read") int32_t sluice_config_read(char *buf, int32_t cap);
SLUICE_IMPORT("header_read") int32_t sluice_header_read(int64_t off, char *buf, int32_t cap);

enum { LOG_DEBUG = 1, LOG_INFO = 2, LOG_ERROR = 4 };
enum { STAGE_DATA = 32 };

#define MAX_WORD 200
#define MAX_NAME 64

static struct {
	char word[MAX_WORD + 1];
	char header[MAX_NAME + 1];
	int reject;
} cfg = {"", "X-Subject-Match", 0};

static void logs(int32_t level, const char *s) { sluice_log(level, s, (int32_t)strlen(s)); }

/* A growable byte buffer. */
typedef struct {
	char *p;
	size_t len, cap;
} buf;

static void reserve(buf *b, size_t n) {
	if (b->len + n <= b->cap)
		return;
	size_t c = b->cap ? b->cap : 256;
	while (c < b->len + n)
		c *= 2;
	char *p = realloc(b->p, c);
	if (!p)
		__builtin_trap(); /* out of memory: a failure, on_error applies */
	b->p = p;
	b->cap = c;
}

static void put(buf *b, const char *s, size_t n) {
	reserve(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void puts_(buf *b, const char *s) { put(b, s, strlen(s)); }

/* ---- config: a JSON object; only top-level string members are read ---- */

static const char *ws(const char *s, const char *end) {
	while (s < end && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
		s++;
	return s;
}

/* utf8 appends code point c. */
static void utf8(buf *b, uint32_t c) {
	char t[4];
	size_t n;
	if (c < 0x80) {
		t[0] = (char)c, n = 1;
	} else if (c < 0x800) {
		t[0] = (char)(0xC0 | c >> 6), t[1] = (char)(0x80 | (c & 0x3F)), n = 2;
	} else if (c < 0x10000) {
		t[0] = (char)(0xE0 | c >> 12), t[1] = (char)(0x80 | (c >> 6 & 0x3F)), t[2] = (char)(0x80 | (c & 0x3F)), n = 3;
	} else {
		t[0] = (char)(0xF0 | c >> 18), t[1] = (char)(0x80 | (c >> 12 & 0x3F)), t[2] = (char)(0x80 | (c >> 6 & 0x3F)),
		t[3] = (char)(0x80 | (c & 0x3F)), n = 4;
	}
	put(b, t, n);
}

static int hex4(const char *s, const char *end, uint32_t *out) {
	uint32_t v = 0;
	if (end - s < 4)
		return 0;
	for (int i = 0; i < 4; i++) {
		char c = s[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t)(c - 'A' + 10);
		else
			return 0;
	}
	*out = v;
	return 1;
}

/* jstring decodes the JSON string at s (at its opening quote) into out and
 * returns the byte after the closing quote, or NULL. The host's JSON
 * escapes <, > and & as \u003c, \u003e and \u0026 even though they are
 * ASCII, so \u escapes must be decoded (surrogate pairs too). */
static const char *jstring(const char *s, const char *end, buf *out) {
	if (s >= end || *s != '"')
		return NULL;
	for (s++; s < end; s++) {
		char c = *s;
		if (c == '"')
			return s + 1;
		if (c != '\\') {
			put(out, &c, 1);
			continue;
		}
		if (++s >= end)
			return NULL;
		switch (*s) {
		case '"': case '\\': case '/': put(out, s, 1); break;
		case 'b': put(out, "\b", 1); break;
		case 'f': put(out, "\f", 1); break;
		case 'n': put(out, "\n", 1); break;
		case 'r': put(out, "\r", 1); break;
		case 't': put(out, "\t", 1); break;
		case 'u': {
			uint32_t c1, c2;
			if (!hex4(s + 1, end, &c1))
				return NULL;
			s += 4;
			if (c1 >= 0xD800 && c1 < 0xDC00 && end - s > 6 && s[1] == '\\' && s[2] == 'u' &&
			    hex4(s + 3, end, &c2) && c2 >= 0xDC00 && c2 < 0xE000) {
				c1 = 0x10000 + ((c1 - 0xD800) << 10) + (c2 - 0xDC00);
				s += 6;
			}
			utf8(out, c1);
			break;
		}
		default:
			return NULL;
		}
	}
	return NULL;
}

/* jskip skips one JSON value of any kind. */
static const char *jskip(const char *s, const char *end) {
	s = ws(s, end);
	if (s >= end)
		return NULL;
	if (*s == '"') {
		buf tmp = {0};
		s = jstring(s, end, &tmp);
		free(tmp.p);
		return s;
	}
	if (*s == '{' || *s == '[') {
		int depth = 0;
		for (; s < end; s++) {
			if (*s == '"') {
				const char *e = jskip(s, end);
				if (!e)
					return NULL;
				s = e - 1;
			} else if (*s == '{' || *s == '[') {
				depth++;
			} else if ((*s == '}' || *s == ']') && --depth == 0) {
				return s + 1;
			}
		}
		return NULL;
	}
	while (s < end && *s != ',' && *s != '}' && *s != ']' && *s != ' ' && *s != '\n' && *s != '\r' && *s != '\t')
		s++;
	return s;
}

static void fail(const char *why) {
	logs(LOG_ERROR, why);
	__builtin_trap(); /* in _initialize: sluice refuses to load the filter */
}

static int printable(const char *s, size_t n) {
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7E)
			return 0;
	return 1;
}

/* set copies a config value into dst after checking it. */
static void set(char *dst, size_t max, const buf *v, const char *what) {
	if (v->len == 0 || v->len > max || !printable(v->p, v->len))
		fail(what);
	memcpy(dst, v->p, v->len);
	dst[v->len] = 0;
}

/* Runs from _initialize, before any event: the reactor's _initialize
 * calls the C constructors once per instance (a command module would run
 * them, and the destructors, around every export, which is why sluice
 * refuses one). */
__attribute__((constructor)) static void load_config(void) {
	/* (0, 0) asks for the size: config_read answers the total length,
	 * "{}" when the filter has no config block. */
	int32_t n = sluice_config_read(NULL, 0);
	if (n < 0)
		fail("subject: config_read failed");
	char *js = malloc((size_t)n + 1);
	if (!js || sluice_config_read(js, n) != n)
		fail("subject: config_read failed");
	const char *s = ws(js, js + n), *end = js + n;
	if (s >= end || *s++ != '{')
		fail("subject: config is not a JSON object");
	for (;;) {
		s = ws(s, end);
		if (s < end && *s == '}')
			break;
		buf key = {0}, val = {0};
		s = jstring(s, end, &key);
		if (!s || (s = ws(s, end)) >= end || *s++ != ':')
			fail("subject: malformed config");
		s = ws(s, end);
		int isstr = s < end && *s == '"';
		s = isstr ? jstring(s, end, &val) : jskip(s, end);
		if (!s)
			fail("subject: malformed config");
		put(&key, "", 1); /* NUL */
		if (strcmp(key.p, "word") == 0 && isstr)
			set(cfg.word, MAX_WORD, &val, "subject: config word: 1 to 200 printable ASCII characters");
		else if (strcmp(key.p, "header") == 0 && isstr) {
			set(cfg.header, MAX_NAME, &val, "subject: config header: a field name of 1 to 64 characters");
			for (const char *c = cfg.header; *c; c++)
				if (*c == ':' || *c == ' ')
					fail("subject: config header: a field name of 1 to 64 characters");
		} else if (strcmp(key.p, "action") == 0 && isstr) {
			put(&val, "", 1);
			if (strcmp(val.p, "reject") == 0)
				cfg.reject = 1;
			else if (strcmp(val.p, "tag") != 0)
				fail("subject: config action: tag or reject");
		} else if (strcmp(key.p, "word") == 0 || strcmp(key.p, "header") == 0 || strcmp(key.p, "action") == 0) {
			fail("subject: config word, header and action are strings");
		}
		free(key.p);
		free(val.p);
		s = ws(s, end);
		if (s < end && *s == ',')
			s++;
		else if (s < end && *s == '}')
			break;
		else
			fail("subject: malformed config");
	}
	free(js);
	if (!cfg.word[0])
		fail("subject: config needs word");
	buf msg = {0};
	puts_(&msg, "subject: looking for \"");
	puts_(&msg, cfg.word);
	puts_(&msg, cfg.reject ? "\", rejecting" : "\", tagging with ");
	if (!cfg.reject)
		puts_(&msg, cfg.header);
	sluice_log(LOG_DEBUG, msg.p, (int32_t)msg.len);
	free(msg.p);
}

/* ---- the ABI's exports (section 1) ---- */

__attribute__((export_name("sluice_abi_version"))) int32_t abi_version(void) { return 1; }

__attribute__((export_name("sluice_stages"))) int32_t stages(void) { return STAGE_DATA; }

static buf event, result;

/* sluice_alloc: the host writes the next event here. One event at a time
 * per instance, so one buffer, reused. */
__attribute__((export_name("sluice_alloc"))) char *alloc(int32_t size) {
	event.len = 0;
	reserve(&event, size > 0 ? (size_t)size : 1);
	return event.p;
}

/* read_header pulls the raw header into h. header_read copies at most cap
 * bytes (and at most 1 MiB) from offset and returns how many it copied: 0
 * at the end, never the total, so read until 0. */
static int read_header(buf *h) {
	for (;;) {
		reserve(h, 16384);
		int32_t n = sluice_header_read((int64_t)h->len, h->p + h->len, (int32_t)(h->cap - h->len));
		if (n < 0)
			return 0;
		if (n == 0)
			return 1;
		h->len += (size_t)n;
	}
}

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static int has_prefix_fold(const char *s, size_t n, const char *p) {
	size_t k = strlen(p);
	if (n < k)
		return 0;
	for (size_t i = 0; i < k; i++)
		if (lower((unsigned char)s[i]) != lower((unsigned char)p[i]))
			return 0;
	return 1;
}

/* subject_matches finds the first Subject field of header h, unfolds its
 * value (CRLF before a space or tab is dropped) and searches it for the
 * word, ASCII case-insensitively. Encoded words (RFC 2047) are matched as
 * they are written. */
static int subject_matches(const char *h, size_t n) {
	size_t i = 0;
	while (i < n) {
		size_t eol = i;
		while (eol < n && h[eol] != '\n')
			eol++;
		if (has_prefix_fold(h + i, n - i, "subject:")) {
			buf v = {0};
			size_t j = i + 8;
			for (;;) {
				while (j < n && h[j] != '\r' && h[j] != '\n')
					put(&v, &h[j++], 1);
				while (j < n && (h[j] == '\r' || h[j] == '\n'))
					j++;
				if (j >= n || (h[j] != ' ' && h[j] != '\t'))
					break;
			}
			size_t k = strlen(cfg.word);
			int found = 0;
			for (size_t a = 0; !found && a + k <= v.len; a++)
				found = has_prefix_fold(v.p + a, v.len - a, cfg.word);
			free(v.p);
			return found;
		}
		i = eol + 1;
	}
	return 0;
}

static int64_t answer(const buf *b) { return (int64_t)((uint64_t)(uintptr_t)b->p << 32 | (uint32_t)b->len); }

/* put_json appends s as a JSON string (the word and header name are
 * printable ASCII: only " and \ need escaping). */
static void put_json(buf *b, const char *s) {
	puts_(b, "\"");
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			puts_(b, "\\");
		put(b, s, 1);
	}
	puts_(b, "\"");
}

/* sluice_on_event: the event (JSON) is not parsed at all: this filter
 * declares only the data stage, and takes what it needs from header_read.
 * The result stays valid until the next call, as the ABI requires. */
__attribute__((export_name("sluice_on_event"))) int64_t on_event(char *p, int32_t n) {
	(void)p, (void)n;
	buf h = {0};
	result.len = 0;
	if (!read_header(&h)) {
		free(h.p);
		logs(LOG_ERROR, "subject: header_read failed");
		puts_(&result, "{\"action\":\"continue\"}");
		return answer(&result);
	}
	int hit = subject_matches(h.p, h.len);
	free(h.p);
	if (!hit) {
		puts_(&result, "{\"action\":\"continue\"}");
		return answer(&result);
	}
	buf msg = {0};
	puts_(&msg, "subject: matches \"");
	puts_(&msg, cfg.word);
	puts_(&msg, "\"");
	sluice_log(LOG_INFO, msg.p, (int32_t)msg.len);
	free(msg.p);
	if (cfg.reject) {
		puts_(&result, "{\"action\":\"reject\",\"code\":550,\"enhanced\":\"5.7.1\",\"text\":\"Subject refused\"}");
	} else {
		puts_(&result, "{\"action\":\"continue\",\"changes\":{\"headers\":[{\"op\":\"add\",\"name\":");
		put_json(&result, cfg.header);
		puts_(&result, ",\"value\":");
		put_json(&result, cfg.word);
		puts_(&result, "}]}}");
	}
	return answer(&result);
}

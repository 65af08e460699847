/* SPDX-License-Identifier: MIT */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic-file.h"
#include "earshot-proto.h"
#include "log.h"

/* version 2 added the flags field of a person; version 1 files still load */
#define STATE_MAGIC "earshot-state 2\n"
#define STATE_MAGIC_V1 "earshot-state 1\n"
#define STATE_FILE "state"
#define STATE_PREV "state.prev"
#define STATE_MAX_BYTES (64u << 20)
#define CHECKSUM_LINE_LEN (9 + 64 + 1) /* "checksum " hex64 "\n" */

struct es_state_db {
	/*
	 * The two counts are atomic so that es_state_counts() may read them
	 * from the tick thread (for the metrics) without the owner's lock;
	 * every other access is the owner's, and on x86 an atomic load or
	 * store is a plain move.
	 */
	struct es_person *people;
	_Atomic size_t n_people;
	size_t cap_people;
	struct es_pending_invite *invites;
	_Atomic size_t n_invites;
	size_t cap_invites;
	/* loaded from state.prev because "state" was bad: saves must not
	 * rotate the bad file over the good previous one */
	bool keep_prev;
};

struct es_state_db *es_state_new(void)
{
	if (sodium_init() < 0) {
		errno = EIO;
		return NULL;
	}
	struct es_state_db *st = calloc(1, sizeof(*st));
	return st; /* calloc sets errno */
}

void es_state_free(struct es_state_db *st)
{
	if (!st)
		return;
	if (st->people)
		sodium_memzero(st->people, st->cap_people * sizeof(*st->people));
	free(st->people);
	free(st->invites);
	free(st);
}

/* ---- text fields --------------------------------------------------------- */

static bool text_ok(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);
	if (n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static bool needs_escape(unsigned char c)
{
	return c <= 0x20 || c == '%' || c >= 0x7f;
}

struct buf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void buf_reserve(struct buf *b, size_t more)
{
	if (b->oom || b->len + more <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return;
	}
	b->p = p;
	b->cap = cap;
}

__attribute__((format(printf, 2, 3)))
static void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	for (int pass = 0; pass < 2 && !b->oom; pass++) {
		size_t room = b->cap - b->len;
		va_start(ap, fmt);
		int n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		buf_reserve(b, (size_t)n + 1);
	}
}

static void buf_text(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	buf_reserve(b, 3 * n + 2);
	if (b->oom)
		return;
	if (n == 0 || strcmp(s, "-") == 0) {
		/* "-" is the empty text, so a literal "-" is written escaped */
		b->len += (size_t)sprintf(b->p + b->len, n ? "%%2D" : "-");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (needs_escape(c)) {
			b->p[b->len++] = '%';
			b->p[b->len++] = hex[c >> 4];
			b->p[b->len++] = hex[c & 15];
		} else {
			b->p[b->len++] = (char)c;
		}
	}
}

static void buf_hex(struct buf *b, const uint8_t *d, size_t n)
{
	buf_reserve(b, 2 * n + 1);
	if (b->oom)
		return;
	sodium_bin2hex(b->p + b->len, 2 * n + 1, d, n);
	b->len += 2 * n;
}

static void buf_float(struct buf *b, bool has, float v)
{
	if (has)
		buf_printf(b, " %.9g", (double)v);
	else
		buf_printf(b, " -");
}

char *es_state_format(const struct es_state_db *st, size_t *len)
{
	struct buf b = { 0 };
	uint8_t sum[32];

	buf_printf(&b, STATE_MAGIC);
	for (size_t i = 0; i < st->n_people; i++) {
		const struct es_person *p = &st->people[i];
		buf_printf(&b, "person ");
		buf_hex(&b, p->key, ES_STATE_KEY_LEN);
		buf_printf(&b, " ");
		buf_hex(&b, p->last_ts, ES_STATE_TS_LEN);
		buf_printf(&b, " %lld", (long long)p->last_seen);
		buf_float(&b, p->has_place, p->x);
		buf_float(&b, p->has_place, p->y);
		buf_float(&b, p->has_place, p->facing);
		buf_printf(&b, " ");
		buf_text(&b, p->desk);
		buf_printf(&b, " ");
		buf_text(&b, p->name);
		buf_printf(&b, " %s\n", p->admin_muted ? "admin-muted" : "-");
	}
	for (size_t i = 0; i < st->n_invites; i++) {
		const struct es_pending_invite *v = &st->invites[i];
		buf_printf(&b, "invite ");
		buf_hex(&b, v->hash, sizeof(v->hash));
		buf_printf(&b, " %lld ", (long long)v->expires);
		buf_text(&b, v->name);
		buf_printf(&b, "\n");
	}
	if (b.oom) {
		free(b.p);
		errno = ENOMEM;
		return NULL;
	}
	crypto_generichash(sum, sizeof(sum), (const uint8_t *)b.p, b.len, NULL, 0);
	buf_printf(&b, "checksum ");
	buf_hex(&b, sum, sizeof(sum));
	buf_printf(&b, "\n");
	if (b.oom) {
		free(b.p);
		errno = ENOMEM;
		return NULL;
	}
	*len = b.len;
	return b.p;
}

/* ---- parsing ------------------------------------------------------------- */

/* Split the next space-separated field off *line; NULL if there is none. */
static char *next_field(char **line)
{
	char *s = *line;
	if (!s || *s == '\0')
		return NULL;
	char *sp = strchr(s, ' ');
	if (sp) {
		*sp = '\0';
		*line = sp + 1;
	} else {
		*line = NULL;
	}
	return s;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* lowercase only, as written: one spelling per value, so a flipped case
 * bit in the checksum line is an error too */
static int hexval_lower(char c)
{
	return (c >= 'A' && c <= 'F') ? -1 : hexval(c);
}

static bool parse_hex(const char *s, uint8_t *out, size_t n)
{
	if (!s || strlen(s) != 2 * n)
		return false;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval_lower(s[2 * i]), lo = hexval_lower(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

static bool parse_text(const char *s, char *out, size_t max)
{
	size_t n = 0;
	if (!s || *s == '\0')
		return false;
	if (strcmp(s, "-") == 0) {
		out[0] = '\0';
		return true;
	}
	for (; *s; s++) {
		char c = *s;
		if (c == '%') {
			int hi = hexval(s[1]), lo = hi >= 0 ? hexval(s[2]) : -1;
			if (hi < 0 || lo < 0)
				return false;
			c = (char)(hi << 4 | lo);
			s += 2;
		}
		if (n >= max)
			return false;
		out[n++] = c;
	}
	out[n] = '\0';
	return text_ok(out, max);
}

static bool parse_i64(const char *s, int64_t *out)
{
	char *end;
	if (!s || !((*s >= '0' && *s <= '9') || *s == '-'))
		return false;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end != '\0')
		return false;
	*out = v;
	return true;
}

static bool parse_float(const char *s, float *out)
{
	char *end;
	if (!s || *s == '\0')
		return false;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end != '\0' || !isfinite(v) || fabs(v) > 1e6)
		return false;
	*out = (float)v;
	return true;
}

static int state_grow(void **arr, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return 0;
	size_t nc = *cap ? *cap * 2 : 16;
	void *p = realloc(*arr, nc * size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = nc;
	return 0;
}

#define BAD(...) do { snprintf(why, whylen, __VA_ARGS__); r = -EBADMSG; goto err_free; } while (0)

int es_state_parse(const uint8_t *buf, size_t len, struct es_state_db **out, char *why, size_t whylen)
{
	struct es_state_db *st = NULL;
	char *body = NULL;
	uint8_t sum[32], want[32];
	int r;

	snprintf(why, whylen, "ok");
	st = es_state_new();
	if (!st)
		return -ENOMEM;

	/* the checksum line comes first: nothing is parsed from a torn file */
	if (len < CHECKSUM_LINE_LEN || len > STATE_MAX_BYTES)
		BAD("%s (%zu bytes)", len > STATE_MAX_BYTES ? "too large" : "truncated", len);
	const uint8_t *cl = buf + len - CHECKSUM_LINE_LEN;
	if (memcmp(cl, "checksum ", 9) != 0 || buf[len - 1] != '\n' ||
	    (len > CHECKSUM_LINE_LEN && cl[-1] != '\n'))
		BAD("no checksum line at the end (truncated?)");
	char hex[65];
	memcpy(hex, cl + 9, 64);
	hex[64] = '\0';
	if (!parse_hex(hex, want, sizeof(want)))
		BAD("malformed checksum line");
	size_t body_len = len - CHECKSUM_LINE_LEN;
	crypto_generichash(sum, sizeof(sum), buf, body_len, NULL, 0);
	if (sodium_memcmp(sum, want, sizeof(sum)) != 0)
		BAD("checksum mismatch (corrupted or torn)");

	int version;
	if (body_len >= strlen(STATE_MAGIC) && memcmp(buf, STATE_MAGIC, strlen(STATE_MAGIC)) == 0)
		version = 2;
	else if (body_len >= strlen(STATE_MAGIC_V1) && memcmp(buf, STATE_MAGIC_V1, strlen(STATE_MAGIC_V1)) == 0)
		version = 1;
	else
		BAD("not an earshot state file of version 1 or 2");
	body = malloc(body_len + 1);
	if (!body) {
		r = -ENOMEM;
		snprintf(why, whylen, "out of memory");
		goto err_free;
	}
	memcpy(body, buf, body_len);
	body[body_len] = '\0';
	if (memchr(body, '\0', body_len))
		BAD("NUL byte in the file");

	char *save = NULL;
	unsigned lineno = 1;
	strtok_r(body, "\n", &save); /* the magic line */
	for (char *line = strtok_r(NULL, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		char *rest = line;
		char *kind = next_field(&rest);
		if (kind && strcmp(kind, "person") == 0) {
			struct es_person p = { 0 };
			char *f_key = next_field(&rest), *f_ts = next_field(&rest), *f_seen = next_field(&rest);
			char *f_x = next_field(&rest), *f_y = next_field(&rest), *f_f = next_field(&rest);
			char *f_desk = next_field(&rest), *f_name = next_field(&rest);
			char *f_flags = version >= 2 ? next_field(&rest) : NULL;
			if (rest)
				BAD("line %u: too many fields", lineno);
			if (version >= 2) {
				if (f_flags && strcmp(f_flags, "admin-muted") == 0)
					p.admin_muted = true;
				else if (!f_flags || strcmp(f_flags, "-") != 0)
					BAD("line %u: malformed person flags", lineno);
			}
			if (!parse_hex(f_key, p.key, ES_STATE_KEY_LEN) || !parse_hex(f_ts, p.last_ts, ES_STATE_TS_LEN) ||
			    !parse_i64(f_seen, &p.last_seen) || !parse_text(f_desk, p.desk, ES_STATE_DESK_MAX) ||
			    !parse_text(f_name, p.name, ES_STATE_NAME_MAX))
				BAD("line %u: malformed person", lineno);
			if (f_x && strcmp(f_x, "-") == 0) {
				if (!f_y || strcmp(f_y, "-") != 0 || !f_f || strcmp(f_f, "-") != 0)
					BAD("line %u: malformed place", lineno);
			} else {
				if (!parse_float(f_x, &p.x) || !parse_float(f_y, &p.y) || !parse_float(f_f, &p.facing))
					BAD("line %u: malformed place", lineno);
				p.has_place = true;
			}
			size_t before = st->n_people;
			r = es_state_put(st, &p);
			sodium_memzero(&p, sizeof(p));
			if (r == -ENOMEM) {
				snprintf(why, whylen, "out of memory");
				goto err_free;
			}
			if (r < 0 || st->n_people != before + 1)
				BAD("line %u: duplicate or invalid person (%s)", lineno, strerror(r < 0 ? -r : EEXIST));
		} else if (kind && strcmp(kind, "invite") == 0) {
			struct es_pending_invite v = { 0 };
			char *f_hash = next_field(&rest), *f_exp = next_field(&rest), *f_name = next_field(&rest);
			if (rest)
				BAD("line %u: too many fields", lineno);
			if (!parse_hex(f_hash, v.hash, sizeof(v.hash)) || !parse_i64(f_exp, &v.expires) ||
			    !parse_text(f_name, v.name, ES_STATE_NAME_MAX) || v.name[0] == '\0')
				BAD("line %u: malformed invite", lineno);
			if (st->n_invites >= ES_STATE_MAX_INVITES)
				BAD("line %u: too many invites", lineno);
			if (state_grow((void **)&st->invites, &st->cap_invites, st->n_invites, sizeof(v)) < 0) {
				r = -ENOMEM;
				snprintf(why, whylen, "out of memory");
				goto err_free;
			}
			st->invites[st->n_invites++] = v;
		} else {
			BAD("line %u: unknown record '%s'", lineno, kind ? kind : "");
		}
	}
	/* strtok_r skips empty lines; the format has none, and the checksum
	 * already vouches for the bytes, so an empty line is a writer bug */
	free(body);
	*out = st;
	return 0;

err_free:
	free(body);
	es_state_free(st);
	return r;
}

/* ---- files --------------------------------------------------------------- */

static int read_file(int dirfd, const char *name, uint8_t **data, size_t *len)
{
	struct stat stt;
	int r;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &stt) < 0) {
		r = -errno;
		goto err_close;
	}
	if (!S_ISREG(stt.st_mode)) {
		r = -EBADMSG;
		goto err_close;
	}
	if ((uint64_t)stt.st_size > STATE_MAX_BYTES) {
		r = -EFBIG;
		goto err_close;
	}
	uint8_t *p = malloc((size_t)stt.st_size + 1);
	if (!p) {
		r = -ENOMEM;
		goto err_close;
	}
	size_t got = 0;
	while (got < (size_t)stt.st_size) {
		ssize_t n = read(fd, p + got, (size_t)stt.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			free(p);
			goto err_close;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	*data = p;
	*len = got;
	return 0;

err_close:
	close(fd);
	return r;
}

/* Load one file: 0, -ENOENT, -EBADMSG (why says more) or another -errno. */
static int load_one(int dirfd, const char *dir, const char *name, struct es_state_db **out, char *why, size_t whylen)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int r = read_file(dirfd, name, &data, &len);
	if (r < 0) {
		snprintf(why, whylen, "%s", strerror(-r));
		return r;
	}
	r = es_state_parse(data, len, out, why, whylen);
	free(data);
	return r;
}

static const char *who_reads(mode_t mode)
{
	return mode & 007 ? "everyone on this machine" : "its group";
}

/*
 * The state files say who is enrolled and which invites are open; the
 * directory also holds the server key and the admin socket.  They are the
 * daemon's alone, however they came to be: made by a `mkdir -p` under a
 * umask of 022 (the quick start did that), copied back from a backup, or
 * made by hand.  So at every load the directory is made 0700 and the state
 * files 0600, and an existing one that was open to others is said in a
 * warning (someone may have read it).  A mode that cannot be changed (not
 * our directory) is a warning too: the daemon still starts, as it did.
 */
static void tighten(int dirfd, const char *dir)
{
	struct stat st;
	if (fstat(dirfd, &st) == 0 && (st.st_mode & 077)) {
		mode_t was = st.st_mode & 07777;
		if (fchmod(dirfd, 0700) == 0)
			es_log_warn("state: %s was mode %04o, open to %s; made it 0700 (it holds the server key, who is "
				    "enrolled and the open invites)", dir, (unsigned)was, who_reads(was));
		else
			es_log_warn("state: %s is mode %04o, open to %s, and cannot be made 0700: %s", dir, (unsigned)was,
				    who_reads(was), strerror(errno));
	}
	const char *files[] = {STATE_FILE, STATE_PREV};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		int fd = openat(dirfd, files[i], O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		if (fd < 0)
			continue; /* missing, or not ours to open: the load says why */
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077)) {
			mode_t was = st.st_mode & 07777;
			if (fchmod(fd, 0600) == 0)
				es_log_warn("state: %s/%s was mode %04o, open to %s; made it 0600", dir, files[i],
					    (unsigned)was, who_reads(was));
			else
				es_log_warn("state: %s/%s is mode %04o, open to %s, and cannot be made 0600: %s", dir,
					    files[i], (unsigned)was, who_reads(was), strerror(errno));
		}
		close(fd);
	}
}

int es_state_load(const char *dir, struct es_state_db **out)
{
	char why[160], why_prev[160];
	struct es_state_db *st = NULL;
	int r, rp;

	/* made here, 0700, so it never exists with the umask's mode */
	bool made = mkdir(dir, 0700) == 0;
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		if (errno != ENOENT) {
			r = -errno;
			es_log_error("state: cannot open %s: %s", dir, strerror(errno));
			return r;
		}
		/* its parent is missing: start empty, and a save says why it cannot write */
		st = es_state_new();
		if (!st)
			return -ENOMEM;
		es_log_info("state: %s does not exist yet; starting with nobody enrolled", dir);
		*out = st;
		return 0;
	}
	if (made)
		es_log_info("state: made %s (mode 0700)", dir);
	tighten(dirfd, dir);

	r = load_one(dirfd, dir, STATE_FILE, &st, why, sizeof(why));
	if (r == 0) {
		close(dirfd);
		*out = st;
		return 0;
	}
	if (r == -ENOMEM || (r < 0 && r != -ENOENT && r != -EBADMSG && r != -EFBIG)) {
		es_log_error("state: cannot read %s/%s: %s", dir, STATE_FILE, why);
		close(dirfd);
		return r;
	}

	rp = load_one(dirfd, dir, STATE_PREV, &st, why_prev, sizeof(why_prev));
	close(dirfd);
	if (rp == 0) {
		if (r == -ENOENT)
			es_log_warn("state: %s/%s is missing (crash during a save?); using %s/%s",
				dir, STATE_FILE, dir, STATE_PREV);
		else
			es_log_warn("state: %s/%s is bad (%s); falling back to the previous good copy %s/%s",
				dir, STATE_FILE, why, dir, STATE_PREV);
		st->keep_prev = r != -ENOENT;
		*out = st;
		return 1;
	}
	if (r == -ENOENT && rp == -ENOENT) {
		st = es_state_new();
		if (!st)
			return -ENOMEM;
		es_log_info("state: no state in %s yet; starting with nobody enrolled", dir);
		*out = st;
		return 0;
	}
	es_log_error("state: %s/%s: %s; %s/%s: %s; refusing to start with an empty state "
		"(move the files away to start afresh)", dir, STATE_FILE, why, dir, STATE_PREV, why_prev);
	return r == -ENOENT ? rp : r;
}

bool es_state_rotate_ok(const struct es_state_db *st)
{
	return !st->keep_prev;
}

int es_state_write(const char *dir, const char *text, size_t len, bool rotate)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	/*
	 * Keep the last good file as state.prev.  Between the two renames
	 * there is no "state", and the loader takes state.prev: the one
	 * window where a crash loses the save in progress, never a complete
	 * earlier one.  If "state" was found bad at load, it is not rotated:
	 * the new file replaces it and state.prev stays the good copy.
	 */
	return es_write_atomic(dir, STATE_FILE, text, len, 0600, rotate ? STATE_PREV : NULL);
}

int es_state_save(const struct es_state_db *st, const char *dir)
{
	size_t len;
	char *text = es_state_format(st, &len);
	if (!text)
		return -ENOMEM;
	int r = es_state_write(dir, text, len, es_state_rotate_ok(st));
	free(text);
	return r;
}

/* ---- people -------------------------------------------------------------- */

size_t es_state_person_count(const struct es_state_db *st)
{
	return st->n_people;
}

void es_state_counts(const struct es_state_db *st, uint64_t *people, uint64_t *invites)
{
	*people = atomic_load_explicit(&st->n_people, memory_order_relaxed);
	*invites = atomic_load_explicit(&st->n_invites, memory_order_relaxed);
}

struct es_person *es_state_person(struct es_state_db *st, size_t i)
{
	return i < st->n_people ? &st->people[i] : NULL;
}

const struct es_person *es_state_person_const(const struct es_state_db *st, size_t i)
{
	return i < st->n_people ? &st->people[i] : NULL;
}

static ssize_t find_key(const struct es_state_db *st, const uint8_t *key)
{
	/* linear: the allowlist is a few thousand keys, looked up a few times
	 * per handshake.  A full constant-time compare of every entry cost
	 * ~40 ns each, 80 us a lookup with 2,000 people and most of a
	 * handshake's time in a join storm.  So the first 8 bytes are compared
	 * plainly and only a match is confirmed in constant time.  These are
	 * public keys: the variable-time part can tell only whether some
	 * enrolled public key starts with the same 64 bits as the one
	 * presented. */
	for (size_t i = 0; i < st->n_people; i++)
		if (memcmp(st->people[i].key, key, 8) == 0 &&
		    sodium_memcmp(st->people[i].key, key, ES_STATE_KEY_LEN) == 0)
			return (ssize_t)i;
	return -1;
}

struct es_person *es_state_find_key(struct es_state_db *st, const uint8_t key[static ES_STATE_KEY_LEN])
{
	ssize_t i = find_key(st, key);
	return i < 0 ? NULL : &st->people[i];
}

struct es_person *es_state_find_name(struct es_state_db *st, const char *name)
{
	for (size_t i = 0; i < st->n_people; i++)
		if (strcmp(st->people[i].name, name) == 0)
			return &st->people[i];
	return NULL;
}

int es_state_put(struct es_state_db *st, const struct es_person *p)
{
	if (!text_ok(p->name, ES_STATE_NAME_MAX) || p->name[0] == '\0' || !text_ok(p->desk, ES_STATE_DESK_MAX))
		return -EINVAL;
	if (p->has_place && (!isfinite(p->x) || !isfinite(p->y) || !isfinite(p->facing) ||
	                     fabsf(p->x) > 1e6f || fabsf(p->y) > 1e6f || fabsf(p->facing) > 1e6f))
		return -EINVAL;
	ssize_t at = find_key(st, p->key);
	for (size_t i = 0; i < st->n_people; i++) {
		if ((ssize_t)i == at)
			continue;
		if (strcmp(st->people[i].name, p->name) == 0)
			return -EEXIST;
		if (p->desk[0] && strcmp(st->people[i].desk, p->desk) == 0)
			return -EADDRINUSE;
	}
	if (at < 0) {
		if (st->n_people >= ES_STATE_MAX_PEOPLE)
			return -E2BIG;
		if (state_grow((void **)&st->people, &st->cap_people, st->n_people, sizeof(*p)) < 0)
			return -ENOMEM;
		at = (ssize_t)st->n_people++;
	}
	if (&st->people[at] != p)
		st->people[at] = *p;
	if (!st->people[at].has_place)
		st->people[at].x = st->people[at].y = st->people[at].facing = 0;
	return 0;
}

int es_state_remove(struct es_state_db *st, const uint8_t key[static ES_STATE_KEY_LEN])
{
	ssize_t i = find_key(st, key);
	if (i < 0)
		return -ENOENT;
	/* keep the order stable: the file is then stable too */
	memmove(&st->people[i], &st->people[i + 1], (st->n_people - (size_t)i - 1) * sizeof(*st->people));
	st->n_people--;
	sodium_memzero(&st->people[st->n_people], sizeof(*st->people));
	return 0;
}

int es_person_bump_timestamp(struct es_person *p, const uint8_t ts[static ES_STATE_TS_LEN])
{
	if (memcmp(ts, p->last_ts, ES_STATE_TS_LEN) <= 0)
		return -EALREADY;
	memcpy(p->last_ts, ts, ES_STATE_TS_LEN);
	return 0;
}

bool es_state_equal(const struct es_state_db *a, const struct es_state_db *b)
{
	if (a->n_people != b->n_people || a->n_invites != b->n_invites)
		return false;
	for (size_t i = 0; i < a->n_people; i++) {
		const struct es_person *p = &a->people[i], *q = &b->people[i];
		if (memcmp(p->key, q->key, ES_STATE_KEY_LEN) || strcmp(p->name, q->name) || strcmp(p->desk, q->desk) ||
		    p->has_place != q->has_place || p->last_seen != q->last_seen || p->admin_muted != q->admin_muted ||
		    memcmp(p->last_ts, q->last_ts, ES_STATE_TS_LEN))
			return false;
		if (p->has_place && (p->x != q->x || p->y != q->y || p->facing != q->facing))
			return false;
	}
	for (size_t i = 0; i < a->n_invites; i++) {
		const struct es_pending_invite *v = &a->invites[i], *w = &b->invites[i];
		if (memcmp(v->hash, w->hash, 32) || strcmp(v->name, w->name) || v->expires != w->expires)
			return false;
	}
	return true;
}

/* ---- invites ------------------------------------------------------------- */

static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

int es_state_invite_hash(const char *code, uint8_t hash[32])
{
	char norm[ES_INVITE_CODE_LEN + 1];
	size_t n = 0;
	for (const char *c = code; *c; c++) {
		if (*c == '-' || *c == ' ')
			continue;
		char u = (*c >= 'a' && *c <= 'z') ? (char)(*c - 'a' + 'A') : *c;
		if (!strchr(b32, u) || u == '\0' || n >= ES_INVITE_CODE_LEN)
			return -ENOENT;
		norm[n++] = u;
	}
	if (n != ES_INVITE_CODE_LEN)
		return -ENOENT;
	crypto_generichash(hash, 32, (const uint8_t *)norm, n, NULL, 0);
	sodium_memzero(norm, sizeof(norm));
	return 0;
}

void es_state_invite_code(const uint8_t secret[static ES_INVITE_SECRET_LEN], char code_out[static ES_INVITE_CODE_LEN + 1])
{
	/* 128 bits -> 26 base32 digits, 5 bits each (the last one has 3) */
	for (unsigned i = 0; i < ES_INVITE_CODE_LEN; i++) {
		unsigned bit = i * 5, byte = bit / 8, off = bit % 8;
		unsigned w = (unsigned)secret[byte] << 8 | (byte + 1 < ES_INVITE_SECRET_LEN ? secret[byte + 1] : 0);
		code_out[i] = b32[(w >> (11 - off)) & 31];
	}
	code_out[ES_INVITE_CODE_LEN] = '\0';
}

int es_state_invite_add(struct es_state_db *st, const char *name, int64_t now, int64_t ttl_s,
	const uint8_t secret[static ES_INVITE_SECRET_LEN])
{
	struct es_pending_invite v = { 0 };
	char code[ES_INVITE_CODE_LEN + 1];

	/* a new name follows the wire's rule (older enrolments load as they are, and are shown escaped) */
	if (!es_name_valid(name, strlen(name)) || ttl_s <= 0)
		return -EINVAL;
	if (es_state_find_name(st, name))
		return -EEXIST;
	es_state_invite_prune(st, now);
	if (st->n_invites >= ES_STATE_MAX_INVITES)
		return -E2BIG;
	if (state_grow((void **)&st->invites, &st->cap_invites, st->n_invites, sizeof(v)) < 0)
		return -ENOMEM;
	es_state_invite_code(secret, code);
	int r = es_state_invite_hash(code, v.hash);
	sodium_memzero(code, sizeof(code));
	if (r < 0)
		return -EIO; /* cannot happen: the code is our own */
	snprintf(v.name, sizeof(v.name), "%s", name);
	v.expires = now + ttl_s;
	st->invites[st->n_invites++] = v;
	return 0;
}

int es_state_invite_create(struct es_state_db *st, const char *name, int64_t now, int64_t ttl_s,
	char code_out[static ES_INVITE_CODE_LEN + 1])
{
	uint8_t rnd[ES_INVITE_SECRET_LEN];
	randombytes_buf(rnd, sizeof(rnd));
	int r = es_state_invite_add(st, name, now, ttl_s, rnd);
	if (r == 0)
		es_state_invite_code(rnd, code_out);
	sodium_memzero(rnd, sizeof(rnd));
	return r;
}

static void invite_remove(struct es_state_db *st, size_t i)
{
	memmove(&st->invites[i], &st->invites[i + 1], (st->n_invites - i - 1) * sizeof(*st->invites));
	st->n_invites--;
}

int es_state_invite_consume(struct es_state_db *st, const char *code, int64_t now,
	char name_out[static ES_STATE_NAME_MAX + 1])
{
	uint8_t h[32];
	if (es_state_invite_hash(code, h) < 0)
		return -ENOENT;
	for (size_t i = 0; i < st->n_invites; i++) {
		if (sodium_memcmp(st->invites[i].hash, h, sizeof(h)) != 0)
			continue;
		bool expired = st->invites[i].expires <= now;
		if (!expired)
			memcpy(name_out, st->invites[i].name, ES_STATE_NAME_MAX + 1);
		invite_remove(st, i);
		return expired ? -ETIMEDOUT : 0;
	}
	return -ENOENT;
}

size_t es_state_invite_prune(struct es_state_db *st, int64_t now)
{
	size_t n = 0;
	for (size_t i = 0; i < st->n_invites;) {
		if (st->invites[i].expires <= now) {
			invite_remove(st, i);
			n++;
		} else {
			i++;
		}
	}
	return n;
}

size_t es_state_invite_count(const struct es_state_db *st)
{
	return st->n_invites;
}

const struct es_pending_invite *es_state_invite(const struct es_state_db *st, size_t i)
{
	return i < st->n_invites ? &st->invites[i] : NULL;
}

int es_state_invite_put(struct es_state_db *st, const struct es_pending_invite *v)
{
	for (size_t i = 0; i < st->n_invites; i++)
		if (sodium_memcmp(st->invites[i].hash, v->hash, sizeof(v->hash)) == 0)
			return 0;
	if (!text_ok(v->name, ES_STATE_NAME_MAX) || v->name[0] == '\0')
		return -EINVAL;
	if (st->n_invites >= ES_STATE_MAX_INVITES)
		return -E2BIG;
	if (state_grow((void **)&st->invites, &st->cap_invites, st->n_invites, sizeof(*v)) < 0)
		return -ENOMEM;
	st->invites[st->n_invites++] = *v;
	return 0;
}

void es_state_invites_replace(struct es_state_db *st, struct es_state_db *from)
{
	struct es_pending_invite *inv = st->invites;
	size_t n = st->n_invites, cap = st->cap_invites;
	st->invites = from->invites;
	st->n_invites = from->n_invites;
	st->cap_invites = from->cap_invites;
	from->invites = inv;
	from->n_invites = n;
	from->cap_invites = cap;
}

/* SPDX-License-Identifier: MIT */
#include "budget.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

_Static_assert(sizeof(struct es_rate) == 12, "struct es_rate has no padding");

#define RATE_MAX_PER_S 100000.0
#define RATE_MIN_COUNT 0.001
#define BURST_MAX 100000u

static const char *skip_space(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/*
 * A plain decimal: digits, at most one '.', at least one digit, no sign,
 * exponent, hex or "inf" (strtod would take those).  Returns the end, or
 * NULL.
 */
static const char *decimal(const char *p, double *out)
{
	char buf[32];
	size_t n = 0, digits = 0;
	bool dot = false;
	for (; (*p >= '0' && *p <= '9') || *p == '.'; p++) {
		if (*p == '.') {
			if (dot)
				return NULL;
			dot = true;
		} else
			digits++;
		if (n + 1 >= sizeof(buf))
			return NULL;
		buf[n++] = *p;
	}
	if (digits == 0)
		return NULL;
	buf[n] = 0;
	*out = strtod(buf, NULL);
	return p;
}

int es_rate_parse(const char *text, struct es_rate *out)
{
	double count, burst = 0;
	uint32_t per;
	if (!text || strlen(text) > ES_RATE_TEXT_MAX)
		return -EINVAL;
	const char *p = decimal(skip_space(text), &count);
	if (!p)
		return -EINVAL;
	p = skip_space(p);
	if (*p++ != '/')
		return -EINVAL;
	p = skip_space(p);
	if (strncmp(p, "min", 3) == 0)
		per = 60, p += 3;
	else if (*p == 's')
		per = 1, p += 1;
	else
		return -EINVAL;
	p = skip_space(p);
	bool has_burst = false;
	if (strncmp(p, "burst", 5) == 0) {
		p = skip_space(p + 5);
		const char *q = p;
		while (*q >= '0' && *q <= '9')
			q++;
		if (q == p || q - p > 6)
			return -EINVAL;
		burst = strtod(p, NULL);
		p = skip_space(q);
		has_burst = true;
	}
	if (*p)
		return -EINVAL;
	float c = (float)count;
	if (!(c >= (float)RATE_MIN_COUNT) || (double)c / per > RATE_MAX_PER_S)
		return -EINVAL;
	if (!has_burst)
		burst = fmin(fmax(ceil((double)c), 1.0), BURST_MAX);
	if (burst < 1.0 || burst > BURST_MAX)
		return -EINVAL;
	*out = (struct es_rate){c, per, (float)burst};
	return 0;
}

int es_rate_format(const struct es_rate *r, char *out, size_t cap)
{
	/* %.9g gives back the same float; counts are >= 0.001, so no exponent */
	int n = snprintf(out, cap, "%.9g/%s burst %.0f", (double)r->count, r->per_s == 60 ? "min" : "s", (double)r->burst);
	return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}

/* Bring b's tokens up to now_ms (priming a new bucket full). */
static void refill(struct es_bucket *b, const struct es_rate *r, int64_t now_ms)
{
	if (!b->primed) {
		b->tokens = r->burst;
		b->at_ms = now_ms;
		b->primed = true;
		return;
	}
	if (now_ms <= b->at_ms)
		return; /* the same millisecond (or a clock that went back): nothing earned */
	double t = (double)b->tokens + (double)(now_ms - b->at_ms) * es_rate_per_ms(r);
	b->tokens = t > (double)r->burst ? r->burst : (float)t;
	b->at_ms = now_ms;
}

bool es_bucket_take(struct es_bucket *b, const struct es_rate *r, int64_t now_ms)
{
	refill(b, r, now_ms);
	if (b->tokens < 1.0f)
		return false;
	b->tokens -= 1.0f;
	return true;
}

struct addr_slot {
	uint32_t addr;
	bool used;
	struct es_bucket b;
};

/*
 * Sets of ES_ADDR_WAYS slots: an address hashes to a set and takes its own
 * slot there (a free one, or one whose bucket is full again, so that
 * nothing is given that a newcomer would not get anyway).  Only when every
 * slot of the set is held by an address still in debt does it share one of
 * theirs.  With 4 ways, the 50 addresses of a 9 a.m. storm (or a few
 * thousand people each on their own address) almost never share.
 */
struct es_addr_buckets {
	unsigned mask; /* sets - 1 */
	uint8_t key[crypto_shorthash_KEYBYTES];
	struct addr_slot slot[];
};

struct es_addr_buckets *es_addr_buckets_new(unsigned sets, const uint8_t key[16])
{
	if (sets == 0 || (sets & (sets - 1)) != 0) {
		errno = EINVAL;
		return NULL;
	}
	_Static_assert(crypto_shorthash_KEYBYTES == 16, "SipHash takes a 16-byte key");
	struct es_addr_buckets *t = calloc(1, sizeof(*t) + (size_t)sets * ES_ADDR_WAYS * sizeof(t->slot[0]));
	if (!t)
		return NULL;
	t->mask = sets - 1;
	memcpy(t->key, key, sizeof(t->key));
	return t;
}

void es_addr_buckets_free(struct es_addr_buckets *t)
{
	if (!t)
		return;
	sodium_memzero(t->key, sizeof(t->key));
	free(t);
}

unsigned es_addr_buckets_set(const struct es_addr_buckets *t, uint32_t ipv4)
{
	/* SipHash under a secret key: which addresses share a set is nobody's choice */
	uint8_t h[crypto_shorthash_BYTES];
	crypto_shorthash(h, (const uint8_t *)&ipv4, sizeof(ipv4), t->key);
	uint32_t v = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
	return v & t->mask;
}

bool es_addr_buckets_take(struct es_addr_buckets *t, uint32_t ipv4, const struct es_rate *r, int64_t now_ms)
{
	struct addr_slot *set = &t->slot[(size_t)es_addr_buckets_set(t, ipv4) * ES_ADDR_WAYS], *e = NULL;
	for (unsigned w = 0; w < ES_ADDR_WAYS && !e; w++)
		if (set[w].used && set[w].addr == ipv4)
			e = &set[w];
	for (unsigned w = 0; w < ES_ADDR_WAYS && !e; w++) {
		if (!set[w].used) {
			e = &set[w];
			*e = (struct addr_slot){.addr = ipv4, .used = true};
			break;
		}
		/*
		 * Someone else's slot.  Once its bucket has filled up again the
		 * holder has nothing left to lose and the slot changes hands as
		 * it is (full, as a newcomer's would be).  Never a fresh bucket
		 * otherwise: alternating between addresses that share a set would
		 * then refill them without end.
		 */
		refill(&set[w].b, r, now_ms);
		if (set[w].b.tokens >= r->burst) {
			e = &set[w];
			e->addr = ipv4;
		}
	}
	if (!e)
		e = &set[ipv4 % ES_ADDR_WAYS]; /* every slot in debt: share one of theirs */
	return es_bucket_take(&e->b, r, now_ms);
}

const char *es_request_name(enum es_request k)
{
	static const char *const names[ES_REQ__COUNT] = {
		[ES_REQ_MOVE] = "move", [ES_REQ_STATE] = "state", [ES_REQ_DOOR] = "door", [ES_REQ_KNOCK] = "knock",
		[ES_REQ_WHISPER] = "whisper", [ES_REQ_VOLUME] = "volume", [ES_REQ_FLOOR_GET] = "floor_get",
	};
	return (unsigned)k < ES_REQ__COUNT ? names[k] : "?";
}

void es_limits_default(struct es_limits *l)
{
	*l = (struct es_limits){
		/* a 9 a.m. storm asks about 2,000 a second; a reply costs ~3 us */
		.cookies = {20000, 1, 20000},
		/* an office behind one NAT address joining at once */
		.handshakes = {20, 1, 60},
		.request = {
			/* walking with a key held: a MOVE per key repeat (~30/s) */
			[ES_REQ_MOVE] = {50, 1, 100},
			[ES_REQ_STATE] = {10, 1, 20},
			/* each change goes to everyone */
			[ES_REQ_DOOR] = {2, 1, 6},
			/* each reaches everyone in the room */
			[ES_REQ_KNOCK] = {1, 1, 3},
			/* each is a notice to someone */
			[ES_REQ_WHISPER] = {4, 1, 8},
			[ES_REQ_VOLUME] = {20, 1, 40},
			[ES_REQ_FLOOR_GET] = {1, 1, 1},
		},
	};
}

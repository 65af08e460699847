/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "strmap.h"

struct es_strmap {
	struct es_strmap_entry **b;
	size_t nb, n;
};

static uint64_t hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	return h ^ (h >> 29);
}

struct es_strmap *es_strmap_new(void)
{
	struct es_strmap *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->nb = 64;
	m->b = calloc(m->nb, sizeof(*m->b));
	if (!m->b) {
		free(m);
		return NULL;
	}
	return m;
}

static void entry_free(struct es_strmap_entry *e)
{
	free(e->key);
	free(e->val);
	free(e);
}

void es_strmap_clear(struct es_strmap *m)
{
	for (size_t i = 0; i < m->nb; i++) {
		struct es_strmap_entry *e = m->b[i];
		while (e) {
			struct es_strmap_entry *next = e->next;
			entry_free(e);
			e = next;
		}
		m->b[i] = NULL;
	}
	m->n = 0;
}

void es_strmap_free(struct es_strmap *m)
{
	if (!m)
		return;
	es_strmap_clear(m);
	free(m->b);
	free(m);
}

size_t es_strmap_count(const struct es_strmap *m)
{
	return m->n;
}

struct es_strmap_entry *es_strmap_get(const struct es_strmap *m, const char *key)
{
	for (struct es_strmap_entry *e = m->b[hash(key) & (m->nb - 1)]; e; e = e->next)
		if (strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

static void grow(struct es_strmap *m)
{
	size_t nb = m->nb * 2;
	struct es_strmap_entry **b = calloc(nb, sizeof(*b));
	if (!b)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < m->nb; i++) {
		struct es_strmap_entry *e = m->b[i];
		while (e) {
			struct es_strmap_entry *next = e->next;
			size_t k = hash(e->key) & (nb - 1);
			e->next = b[k];
			b[k] = e;
			e = next;
		}
	}
	free(m->b);
	m->b = b;
	m->nb = nb;
}

struct es_strmap_entry *es_strmap_put(struct es_strmap *m, const char *key, const char *val, size_t len)
{
	char *v = malloc(len + 1);
	if (!v)
		return NULL;
	memcpy(v, val, len);
	v[len] = 0;
	struct es_strmap_entry *e = es_strmap_get(m, key);
	if (e) {
		free(e->val);
		e->val = v;
		e->val_len = len;
		return e;
	}
	e = calloc(1, sizeof(*e));
	if (!e || !(e->key = strdup(key))) {
		free(e);
		free(v);
		return NULL;
	}
	e->val = v;
	e->val_len = len;
	if (m->n + 1 > m->nb)
		grow(m);
	size_t k = hash(key) & (m->nb - 1);
	e->next = m->b[k];
	m->b[k] = e;
	m->n++;
	return e;
}

bool es_strmap_del(struct es_strmap *m, const char *key)
{
	struct es_strmap_entry **pp = &m->b[hash(key) & (m->nb - 1)];
	for (; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->key, key) == 0) {
			struct es_strmap_entry *e = *pp;
			*pp = e->next;
			entry_free(e);
			m->n--;
			return true;
		}
	}
	return false;
}

struct es_strmap_entry *es_strmap_next(const struct es_strmap *m, size_t *bucket, struct es_strmap_entry *it)
{
	if (it && it->next)
		return it->next;
	size_t i = it ? *bucket + 1 : 0;
	for (; i < m->nb; i++) {
		if (m->b[i]) {
			*bucket = i;
			return m->b[i];
		}
	}
	return NULL;
}

void es_strmap_swap(struct es_strmap *a, struct es_strmap *b)
{
	struct es_strmap t = *a;
	*a = *b;
	*b = t;
}

/* SPDX-License-Identifier: MIT */
/* The relay link's messages (earshot-relay.h): checked reads, one error per cause. */
#include <errno.h>
#include <string.h>

#include "earshot-proto.h"
#include "earshot-relay.h"
#include "wire.h"

_Static_assert(ES_RELAY_MSG_MAX == ES_RELAY_VOICE_HDR + ES_OPUS_MAX, "a relayed frame is at most an uplink frame");

int es_relay_encode(const struct es_relay_msg *m, uint8_t *out, size_t cap)
{
	struct es_wr w;
	es_wr_init(&w, out, cap);
	es_wr_u8(&w, m->type);
	switch (m->type) {
	case ES_RELAY_VOICE: {
		const struct es_relay_voice *v = &m->u.voice;
		if (v->len == 0 || v->len > ES_OPUS_MAX || !v->opus)
			return -EINVAL;
		es_wr_u16(&w, v->speaker);
		es_wr_u32(&w, v->seq);
		es_wr_u8(&w, v->flags);
		es_wr_u8(&w, v->floor);
		es_wr_u32(&w, (uint32_t)v->x_cm);
		es_wr_u32(&w, (uint32_t)v->y_cm);
		es_wr_u16(&w, v->len);
		es_wr_bytes(&w, v->opus, v->len);
		break;
	}
	case ES_RELAY_OFF:
		es_wr_u16(&w, m->u.off.speaker);
		break;
	default:
		return -EINVAL;
	}
	return w.bad ? -ENOSPC : (int)w.len;
}

int es_relay_decode(struct es_relay_msg *m, const uint8_t *buf, size_t len)
{
	struct es_rd r;
	es_rd_init(&r, buf, len);
	memset(m, 0, sizeof(*m));
	m->type = es_rd_u8(&r);
	if (r.bad)
		return -EBADMSG;
	switch (m->type) {
	case ES_RELAY_VOICE: {
		struct es_relay_voice *v = &m->u.voice;
		v->speaker = es_rd_u16(&r);
		v->seq = es_rd_u32(&r);
		v->flags = es_rd_u8(&r);
		v->floor = es_rd_u8(&r);
		v->x_cm = (int32_t)es_rd_u32(&r);
		v->y_cm = (int32_t)es_rd_u32(&r);
		v->len = es_rd_u16(&r);
		if (r.bad || v->len == 0 || v->len > ES_OPUS_MAX)
			return -EBADMSG;
		v->opus = es_rd_take(&r, v->len);
		break;
	}
	case ES_RELAY_OFF:
		m->u.off.speaker = es_rd_u16(&r);
		break;
	default:
		return -EPROTONOSUPPORT;
	}
	return r.bad || r.left ? -EBADMSG : 0;
}

bool es_relay_id_valid(const char *id, size_t len)
{
	if (len == 0 || len > ES_RELAY_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return true;
}

int es_relay_hello_encode(const char *id, uint8_t *out, size_t cap)
{
	size_t n = strnlen(id, ES_RELAY_ID_MAX + 1);
	if (!es_relay_id_valid(id, n))
		return -EINVAL;
	struct es_wr w;
	es_wr_init(&w, out, cap);
	es_wr_u8(&w, ES_RELAY_VERSION);
	es_wr_u8(&w, (uint8_t)n);
	es_wr_bytes(&w, id, n);
	return w.bad ? -ENOSPC : (int)w.len;
}

int es_relay_hello_decode(char id[static ES_RELAY_ID_MAX + 1], const uint8_t *buf, size_t len)
{
	struct es_rd r;
	es_rd_init(&r, buf, len);
	uint8_t version = es_rd_u8(&r);
	uint8_t n = es_rd_u8(&r);
	const uint8_t *p = es_rd_take(&r, n);
	if (r.bad || r.left || version != ES_RELAY_VERSION || !es_relay_id_valid((const char *)p, n))
		return -EBADMSG;
	memcpy(id, p, n);
	id[n] = 0;
	return 0;
}

/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "earshot-proto.h"
#include "wire.h"

const char *es_msg_type_name(uint8_t type)
{
	switch (type) {
	case ES_MSG_HELLO: return "hello";
	case ES_MSG_WELCOME: return "welcome";
	case ES_MSG_BUSY: return "busy";
	case ES_MSG_MOVE: return "move";
	case ES_MSG_STATE: return "state";
	case ES_MSG_PRESENCE: return "presence";
	case ES_MSG_BYE: return "bye";
	case ES_MSG_AUDIO_UP: return "audio-up";
	case ES_MSG_AUDIO_DOWN: return "audio-down";
	case ES_MSG_SERVER_KEY: return "server-key";
	case ES_MSG_HANDSHAKE1: return "handshake1";
	case ES_MSG_HANDSHAKE2: return "handshake2";
	case ES_MSG_REFUSED: return "refused";
	case ES_MSG_ADMIN: return "admin";
	case ES_MSG_SEALED: return "sealed";
	case ES_MSG_FLOOR: return "floor";
	case ES_MSG_DOORS: return "doors";
	case ES_MSG_KNOCK: return "knock";
	case ES_MSG_WHISPER: return "whisper";
	case ES_MSG_VOLUME: return "volume";
	case ES_MSG_FLOOR_GET: return "floor-get";
	case ES_MSG_LINK: return "link";
	case ES_MSG_REDIRECT: return "redirect";
	default: return "unknown";
	}
}

uint16_t es_gain_to_q(float gain)
{
	if (!(gain > 0.0f)) /* also catches NaN */
		return 0;
	float q = gain * 4096.0f + 0.5f;
	return q >= 65535.0f ? 65535 : (uint16_t)q;
}

float es_gain_from_q(uint16_t q)
{
	return (float)q / 4096.0f;
}

static void wr_pos(struct es_wr *w, const struct es_pos *p)
{
	es_wr_u32(w, (uint32_t)p->x_cm);
	es_wr_u32(w, (uint32_t)p->y_cm);
	es_wr_u16(w, p->facing);
}

static void rd_pos(struct es_rd *r, struct es_pos *p)
{
	p->x_cm = (int32_t)es_rd_u32(r);
	p->y_cm = (int32_t)es_rd_u32(r);
	p->facing = es_rd_u16(r);
	if (p->facing >= 3600)
		r->bad = true;
}

/* The one rule for names (name.c). */
static bool name_ok(const char *name, size_t len)
{
	return es_name_valid(name, len);
}

int es_msg_encode(const struct es_msg *m, uint8_t *buf, size_t cap)
{
	struct es_wr w;
	es_wr_init(&w, buf, cap);
	es_wr_u8(&w, m->type);

	switch (m->type) {
	case ES_MSG_HELLO: {
		const struct es_hello *h = &m->u.hello;
		if (!name_ok(h->name, h->name_len) || h->pos.facing >= 3600)
			return -EINVAL;
		es_wr_u16(&w, h->version);
		es_wr_u8(&w, h->flags);
		wr_pos(&w, &h->pos);
		es_wr_u8(&w, h->name_len);
		es_wr_bytes(&w, h->name, h->name_len);
		if (h->version >= 2) {
			if (h->downlink_kbps && (h->downlink_kbps < ES_DOWNLINK_MIN_KBPS || h->downlink_kbps > ES_DOWNLINK_MAX_KBPS))
				return -EINVAL;
			es_wr_u16(&w, h->downlink_kbps);
		}
		break;
	}
	case ES_MSG_WELCOME:
		es_wr_u16(&w, m->u.welcome.version);
		es_wr_u16(&w, m->u.welcome.id);
		wr_pos(&w, &m->u.welcome.pos);
		if (m->u.welcome.has_reset)
			es_wr_bytes(&w, m->u.welcome.reset_token, ES_RESET_TOKEN_LEN);
		break;
	case ES_MSG_BUSY:
		es_wr_u32(&w, m->u.busy.retry_after_ms);
		break;
	case ES_MSG_MOVE:
		if (m->u.move.facing >= 3600)
			return -EINVAL;
		wr_pos(&w, &m->u.move);
		break;
	case ES_MSG_STATE:
		es_wr_u8(&w, m->u.state.flags);
		break;
	case ES_MSG_BYE:
		es_wr_u8(&w, m->u.bye.reason);
		break;
	case ES_MSG_PRESENCE: {
		const struct es_presence *p = &m->u.presence;
		if (p->count > ES_PRESENCE_MAX)
			return -EINVAL;
		es_wr_u8(&w, p->count);
		for (unsigned i = 0; i < p->count; i++) {
			const struct es_presence_entry *e = &p->entry[i];
			es_wr_u16(&w, e->id);
			es_wr_u8(&w, e->kind);
			switch (e->kind) {
			case ES_PRESENCE_JOIN:
				if (!name_ok(e->name, e->name_len))
					return -EINVAL;
				es_wr_u8(&w, e->flags);
				wr_pos(&w, &e->pos);
				es_wr_u8(&w, e->name_len);
				es_wr_bytes(&w, e->name, e->name_len);
				break;
			case ES_PRESENCE_UPDATE:
				es_wr_u8(&w, e->flags);
				wr_pos(&w, &e->pos);
				break;
			case ES_PRESENCE_LEAVE:
				break;
			default:
				return -EINVAL;
			}
		}
		break;
	}
	case ES_MSG_AUDIO_UP:
		if (m->u.up.len == 0 || m->u.up.len > ES_OPUS_MAX)
			return -EINVAL;
		es_wr_u32(&w, m->u.up.seq);
		es_wr_u8(&w, m->u.up.flags);
		es_wr_u16(&w, m->u.up.len);
		es_wr_bytes(&w, m->u.up.opus, m->u.up.len);
		break;
	case ES_MSG_AUDIO_DOWN: {
		const struct es_audio_down *d = &m->u.down;
		if (d->nvoices > ES_BUNDLE_VOICES_MAX || d->mix_len > ES_OPUS_MAX)
			return -EINVAL;
		es_wr_u32(&w, d->tick);
		es_wr_u16(&w, d->seq);
		es_wr_u8(&w, d->nvoices);
		for (unsigned i = 0; i < d->nvoices; i++) {
			const struct es_bundle_voice *v = &d->voice[i];
			if (v->len > ES_OPUS_MAX || v->azimuth < -1800 || v->azimuth > 1800 || (v->flags & ~ES_VOICE_FEC) ||
			    (v->len == 0 && v->flags))
				return -EINVAL;
			es_wr_u16(&w, v->speaker);
			es_wr_u16(&w, v->seq);
			es_wr_u16(&w, v->gain_q);
			es_wr_u16(&w, (uint16_t)v->azimuth);
			es_wr_u16(&w, (uint16_t)(v->len | (v->flags & ES_VOICE_FEC ? 0x8000u : 0)));
			es_wr_bytes(&w, v->opus, v->len);
		}
		es_wr_u32(&w, d->mix_stream);
		es_wr_u8(&w, d->mix_flags);
		es_wr_u16(&w, d->mix_len);
		es_wr_bytes(&w, d->mix, d->mix_len);
		break;
	}
	case ES_MSG_FLOOR: {
		const struct es_floor_chunk *f = &m->u.floor;
		if (f->len == 0 || f->len > ES_FLOOR_CHUNK || f->total > ES_FLOOR_TEXT_MAX || f->offset > f->total ||
		    f->len > f->total - f->offset)
			return -EINVAL;
		es_wr_u32(&w, f->total);
		es_wr_u32(&w, f->offset);
		es_wr_u16(&w, f->len);
		es_wr_bytes(&w, f->data, f->len);
		break;
	}
	case ES_MSG_DOORS:
		if (m->u.doors.count == 0 || m->u.doors.count > ES_DOORS_MAX)
			return -EINVAL;
		es_wr_u16(&w, m->u.doors.count);
		for (unsigned i = 0; i < m->u.doors.count; i++) {
			struct es_door_state d = m->u.doors.door ? m->u.doors.door[i] : es_doors_at(&m->u.doors, i);
			es_wr_u16(&w, d.door);
			es_wr_u8(&w, d.open ? 1 : 0);
		}
		break;
	case ES_MSG_KNOCK:
		es_wr_u16(&w, m->u.knock.room);
		es_wr_u16(&w, m->u.knock.from);
		break;
	case ES_MSG_WHISPER:
		if (m->u.whisper.to < -1 || m->u.whisper.to > 65535)
			return -EINVAL;
		es_wr_u32(&w, (uint32_t)m->u.whisper.to);
		es_wr_u8(&w, m->u.whisper.on ? 1 : 0);
		break;
	case ES_MSG_FLOOR_GET:
		break;
	case ES_MSG_VOLUME:
		if (m->u.volume.gain_q > 4 * 4096)
			return -EINVAL;
		es_wr_u16(&w, m->u.volume.speaker);
		es_wr_u16(&w, m->u.volume.gain_q);
		break;
	case ES_MSG_LINK:
		if (m->u.link.loss_permille > 1000 || m->u.link.frames == 0)
			return -EINVAL;
		es_wr_u16(&w, m->u.link.loss_permille);
		es_wr_u16(&w, m->u.link.frames);
		break;
	case ES_MSG_REDIRECT: {
		const struct es_redirect *rd = &m->u.redirect;
		if (rd->reason < ES_REDIRECT_ELSEWHERE || rd->reason > ES_REDIRECT_WALK || rd->pos.facing >= 3600 ||
		    rd->naddr == 0 || rd->naddr > ES_REDIRECT_ADDRS_MAX)
			return -EINVAL;
		es_wr_u8(&w, rd->reason);
		wr_pos(&w, &rd->pos);
		es_wr_u8(&w, rd->naddr);
		for (unsigned i = 0; i < rd->naddr; i++) {
			size_t n = strnlen(rd->addr[i], ES_REDIRECT_ADDR_MAX + 1);
			if (n == 0 || n > ES_REDIRECT_ADDR_MAX)
				return -EINVAL;
			es_wr_u8(&w, (uint8_t)n);
			es_wr_bytes(&w, rd->addr[i], n);
		}
		break;
	}
	case ES_MSG_SERVER_KEY:
		es_wr_u16(&w, m->u.server_key.version);
		es_wr_bytes(&w, m->u.server_key.key, 32);
		break;
	case ES_MSG_REFUSED:
		es_wr_u8(&w, m->u.refused.reason);
		break;
	case ES_MSG_ADMIN:
		if (m->u.admin.flags & ~(ES_ADMIN_MUTED | ES_ADMIN_MOVED | ES_ADMIN_REFUSED) || m->u.admin.pos.facing >= 3600)
			return -EINVAL;
		es_wr_u8(&w, m->u.admin.flags);
		wr_pos(&w, &m->u.admin.pos);
		break;
	case ES_MSG_HANDSHAKE1:
	case ES_MSG_HANDSHAKE2:
	case ES_MSG_SEALED:
		if (m->u.blob.len == 0 || m->u.blob.len > ES_MSG_MAX - 1)
			return -EINVAL;
		es_wr_bytes(&w, m->u.blob.data, m->u.blob.len);
		break;
	default:
		return -EINVAL;
	}
	return w.bad ? -ENOSPC : (int)w.len;
}

int es_msg_decode(struct es_msg *m, const uint8_t *buf, size_t len)
{
	struct es_rd r;
	es_rd_init(&r, buf, len);
	m->type = es_rd_u8(&r);
	if (r.bad)
		return -EBADMSG;

	switch (m->type) {
	case ES_MSG_HELLO: {
		struct es_hello *h = &m->u.hello;
		h->version = es_rd_u16(&r);
		h->flags = es_rd_u8(&r);
		rd_pos(&r, &h->pos);
		h->name_len = es_rd_u8(&r);
		h->name = (const char *)es_rd_take(&r, h->name_len);
		if (!r.bad && !name_ok(h->name, h->name_len))
			return -EBADMSG;
		h->downlink_kbps = 0;
		if (h->version >= 2) {
			h->downlink_kbps = es_rd_u16(&r);
			if (h->downlink_kbps && (h->downlink_kbps < ES_DOWNLINK_MIN_KBPS || h->downlink_kbps > ES_DOWNLINK_MAX_KBPS))
				return -EBADMSG;
		}
		break;
	}
	case ES_MSG_WELCOME: {
		m->u.welcome.version = es_rd_u16(&r);
		m->u.welcome.id = es_rd_u16(&r);
		rd_pos(&r, &m->u.welcome.pos);
		/* the reset token came later: a WELCOME without it is still one */
		m->u.welcome.has_reset = !r.bad && r.left == ES_RESET_TOKEN_LEN;
		const uint8_t *t = m->u.welcome.has_reset ? es_rd_take(&r, ES_RESET_TOKEN_LEN) : NULL;
		if (t)
			memcpy(m->u.welcome.reset_token, t, ES_RESET_TOKEN_LEN);
		break;
	}
	case ES_MSG_BUSY:
		m->u.busy.retry_after_ms = es_rd_u32(&r);
		break;
	case ES_MSG_MOVE:
		rd_pos(&r, &m->u.move);
		break;
	case ES_MSG_STATE:
		m->u.state.flags = es_rd_u8(&r);
		break;
	case ES_MSG_BYE:
		m->u.bye.reason = es_rd_u8(&r);
		break;
	case ES_MSG_PRESENCE: {
		struct es_presence *p = &m->u.presence;
		p->count = es_rd_u8(&r);
		if (p->count > ES_PRESENCE_MAX)
			return -EBADMSG;
		for (unsigned i = 0; i < p->count && !r.bad; i++) {
			struct es_presence_entry *e = &p->entry[i];
			e->id = es_rd_u16(&r);
			e->kind = es_rd_u8(&r);
			e->name_len = 0;
			e->name = NULL;
			switch (e->kind) {
			case ES_PRESENCE_JOIN:
				e->flags = es_rd_u8(&r);
				rd_pos(&r, &e->pos);
				e->name_len = es_rd_u8(&r);
				e->name = (const char *)es_rd_take(&r, e->name_len);
				if (!r.bad && !name_ok(e->name, e->name_len))
					return -EBADMSG;
				break;
			case ES_PRESENCE_UPDATE:
				e->flags = es_rd_u8(&r);
				rd_pos(&r, &e->pos);
				break;
			case ES_PRESENCE_LEAVE:
				e->flags = 0;
				e->pos = (struct es_pos){0, 0, 0};
				break;
			default:
				return -EBADMSG;
			}
		}
		break;
	}
	case ES_MSG_AUDIO_UP: {
		struct es_audio_up *u = &m->u.up;
		u->seq = es_rd_u32(&r);
		u->flags = es_rd_u8(&r);
		u->len = es_rd_u16(&r);
		if (u->len == 0 || u->len > ES_OPUS_MAX)
			return -EBADMSG;
		u->opus = es_rd_take(&r, u->len);
		break;
	}
	case ES_MSG_AUDIO_DOWN: {
		struct es_audio_down *d = &m->u.down;
		d->tick = es_rd_u32(&r);
		d->seq = es_rd_u16(&r);
		d->nvoices = es_rd_u8(&r);
		if (d->nvoices > ES_BUNDLE_VOICES_MAX)
			return -EBADMSG;
		for (unsigned i = 0; i < d->nvoices && !r.bad; i++) {
			struct es_bundle_voice *v = &d->voice[i];
			v->speaker = es_rd_u16(&r);
			v->seq = es_rd_u16(&r);
			v->gain_q = es_rd_u16(&r);
			v->azimuth = (int16_t)es_rd_u16(&r);
			uint16_t lf = es_rd_u16(&r);
			v->flags = lf & 0x8000u ? ES_VOICE_FEC : 0;
			v->len = lf & 0x7fffu;
			if (v->len > ES_OPUS_MAX || v->azimuth < -1800 || v->azimuth > 1800 || (v->len == 0 && v->flags))
				return -EBADMSG;
			v->opus = v->len ? es_rd_take(&r, v->len) : NULL;
		}
		d->mix_stream = es_rd_u32(&r);
		d->mix_flags = es_rd_u8(&r);
		d->mix_len = es_rd_u16(&r);
		if (d->mix_len > ES_OPUS_MAX || (d->mix_flags & ~ES_MIX_MIRROR))
			return -EBADMSG;
		d->mix = d->mix_len ? es_rd_take(&r, d->mix_len) : NULL;
		break;
	}
	case ES_MSG_FLOOR: {
		struct es_floor_chunk *f = &m->u.floor;
		f->total = es_rd_u32(&r);
		f->offset = es_rd_u32(&r);
		f->len = es_rd_u16(&r);
		if (r.bad || f->len == 0 || f->len > ES_FLOOR_CHUNK || f->total > ES_FLOOR_TEXT_MAX || f->offset > f->total ||
		    f->len > f->total - f->offset)
			return -EBADMSG;
		f->data = es_rd_take(&r, f->len);
		break;
	}
	case ES_MSG_DOORS: {
		struct es_doors *ds = &m->u.doors;
		ds->count = es_rd_u16(&r);
		if (r.bad || ds->count == 0 || ds->count > ES_DOORS_MAX)
			return -EBADMSG;
		ds->door = NULL;
		ds->raw = es_rd_take(&r, 3u * ds->count);
		for (unsigned i = 0; ds->raw && i < ds->count; i++)
			if (ds->raw[3 * i + 2] > 1)
				return -EBADMSG;
		break;
	}
	case ES_MSG_KNOCK:
		m->u.knock.room = es_rd_u16(&r);
		m->u.knock.from = es_rd_u16(&r);
		break;
	case ES_MSG_WHISPER: {
		uint32_t to = es_rd_u32(&r);
		m->u.whisper.on = es_rd_u8(&r);
		if ((to > 65535 && to != UINT32_MAX) || m->u.whisper.on > 1)
			return -EBADMSG;
		m->u.whisper.to = (int32_t)to;
		break;
	}
	case ES_MSG_FLOOR_GET:
		break;
	case ES_MSG_VOLUME:
		m->u.volume.speaker = es_rd_u16(&r);
		m->u.volume.gain_q = es_rd_u16(&r);
		if (m->u.volume.gain_q > 4 * 4096)
			return -EBADMSG;
		break;
	case ES_MSG_LINK:
		m->u.link.loss_permille = es_rd_u16(&r);
		m->u.link.frames = es_rd_u16(&r);
		if (m->u.link.loss_permille > 1000 || m->u.link.frames == 0)
			return -EBADMSG;
		break;
	case ES_MSG_REDIRECT: {
		struct es_redirect *rd = &m->u.redirect;
		rd->reason = es_rd_u8(&r);
		rd_pos(&r, &rd->pos);
		rd->naddr = es_rd_u8(&r);
		if (r.bad || rd->reason < ES_REDIRECT_ELSEWHERE || rd->reason > ES_REDIRECT_WALK ||
		    rd->pos.facing >= 3600 || rd->naddr == 0 || rd->naddr > ES_REDIRECT_ADDRS_MAX)
			return -EBADMSG;
		for (unsigned i = 0; i < rd->naddr; i++) {
			uint8_t n = es_rd_u8(&r);
			const uint8_t *a = es_rd_take(&r, n);
			if (r.bad || n == 0 || n > ES_REDIRECT_ADDR_MAX || memchr(a, 0, n))
				return -EBADMSG;
			for (unsigned k = 0; k < n; k++)
				if (a[k] < 0x21 || a[k] > 0x7e) /* printable, no space: a host:port */
					return -EBADMSG;
			memcpy(rd->addr[i], a, n);
			rd->addr[i][n] = 0;
		}
		break;
	}
	case ES_MSG_SERVER_KEY: {
		m->u.server_key.version = es_rd_u16(&r);
		const uint8_t *k = es_rd_take(&r, 32);
		if (k)
			memcpy(m->u.server_key.key, k, 32);
		break;
	}
	case ES_MSG_REFUSED:
		m->u.refused.reason = es_rd_u8(&r);
		break;
	case ES_MSG_ADMIN:
		m->u.admin.flags = es_rd_u8(&r);
		if (m->u.admin.flags & ~(ES_ADMIN_MUTED | ES_ADMIN_MOVED | ES_ADMIN_REFUSED))
			r.bad = true;
		rd_pos(&r, &m->u.admin.pos);
		break;
	case ES_MSG_HANDSHAKE1:
	case ES_MSG_HANDSHAKE2:
	case ES_MSG_SEALED:
		if (r.left == 0 || r.left > ES_MSG_MAX - 1)
			return -EBADMSG;
		m->u.blob.len = (uint16_t)r.left;
		m->u.blob.data = es_rd_take(&r, r.left);
		break;
	default:
		return -EPROTONOSUPPORT;
	}
	if (r.bad || r.left != 0)
		return -EBADMSG;
	return (int)len;
}

int es_msg_is_plain(uint8_t type)
{
	switch (type) {
	case ES_MSG_SERVER_KEY:
	case ES_MSG_HANDSHAKE1:
	case ES_MSG_HANDSHAKE2:
	case ES_MSG_REFUSED:
	case ES_MSG_BUSY:
	case ES_MSG_SEALED:
		return 1;
	default:
		return 0;
	}
}

int es_join_payload_encode(const struct es_join_payload *p, uint8_t *buf, size_t cap)
{
	uint8_t hello[64];
	struct es_msg m = {.type = ES_MSG_HELLO, .u.hello = p->hello};
	int n = es_msg_encode(&m, hello, sizeof(hello));
	if (n < 0)
		return n;
	struct es_wr w;
	es_wr_init(&w, buf, cap);
	es_wr_u8(&w, (uint8_t)n);
	es_wr_bytes(&w, hello, (size_t)n);
	es_wr_u8(&w, p->has_secret ? ES_INVITE_SECRET_BYTES : 0);
	if (p->has_secret)
		es_wr_bytes(&w, p->secret, ES_INVITE_SECRET_BYTES);
	return w.bad ? -ENOSPC : (int)w.len;
}

int es_join_payload_decode(struct es_join_payload *p, const uint8_t *buf, size_t len)
{
	struct es_rd r;
	es_rd_init(&r, buf, len);
	uint8_t hl = es_rd_u8(&r);
	const uint8_t *h = es_rd_take(&r, hl);
	uint8_t sl = es_rd_u8(&r);
	if (r.bad || (sl != 0 && sl != ES_INVITE_SECRET_BYTES))
		return -EBADMSG;
	const uint8_t *sec = es_rd_take(&r, sl);
	if (r.bad || r.left != 0)
		return -EBADMSG;
	struct es_msg m;
	if (es_msg_decode(&m, h, hl) < 0 || m.type != ES_MSG_HELLO)
		return -EBADMSG;
	p->hello = m.u.hello;
	p->has_secret = sl != 0;
	if (sl)
		memcpy(p->secret, sec, sl);
	return 0;
}

struct es_door_state es_doors_at(const struct es_doors *d, unsigned i)
{
	const uint8_t *p = d->raw + 3 * i;
	return (struct es_door_state){(uint16_t)(p[0] | p[1] << 8), p[2]};
}

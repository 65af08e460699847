/* SPDX-License-Identifier: MIT */
/*
 * The server's side of the company-wide stage (stage.h): the tap on
 * uplink frames from stage rooms, and remote stage voices in the engine
 * under ids max_people .. max_people + ES_SERVER_STAGE_VOICES - 1.
 * Tick thread only.
 */
#include <errno.h>

#include "server-private.h"
#include "stage.h"

void es_server_set_stage_tap(struct es_server *s, const struct es_stage_tap *t)
{
	if (t && t->voice)
		s->stage = *t;
	else
		s->stage = (struct es_stage_tap){.fd = -1};
}

static bool in_stage_room(const struct es_server *s, const struct es_pos *pos)
{
	const struct es_floor *f = s->cfg.floor;
	int room = f ? es_floor_room_at(f, pos_x(pos), pos_y(pos)) : -1;
	return room >= 0 && es_floor_room_kind(f, (unsigned)room) == ES_ROOM_STAGE;
}

bool es_server_on_stage(const struct es_server *s, unsigned id, struct es_pos *pos)
{
	if (id >= s->cfg.max_people || !s->people[id].used)
		return false;
	*pos = s->people[id].pos;
	return in_stage_room(s, pos);
}

void srv_stage_tap(struct es_server *s, unsigned id, const struct es_audio_up *up)
{
	const struct person *q = &s->people[id];
	if (s->stage.voice && in_stage_room(s, &q->pos))
		s->stage.voice(s->stage.ud, id, &q->pos, up);
}

int es_server_stage_voice_add(struct es_server *s, unsigned slot, float x, float y)
{
	if (slot >= ES_SERVER_STAGE_VOICES)
		return -EINVAL;
	unsigned id = s->cfg.max_people + slot;
	int r = es_engine_add(s->engine, id, x, y, 0.0f);
	if (r < 0)
		return r;
	r = es_engine_set_flags(s->engine, id, ES_ENGINE_STAGE | ES_ENGINE_DEAF);
	if (r < 0)
		es_engine_remove(s->engine, id);
	return r;
}

int es_server_stage_voice_push(struct es_server *s, unsigned slot, uint32_t seq, unsigned flags, const uint8_t *opus,
			       size_t len)
{
	if (slot >= ES_SERVER_STAGE_VOICES)
		return -EINVAL;
	int32_t frac = es_jitter_frac(es_now_ns() - (s->deadline_ns - TICK_NS), TICK_NS);
	return es_engine_push(s->engine, s->cfg.max_people + slot, seq, opus, len, flags, frac);
}

void es_server_stage_voice_remove(struct es_server *s, unsigned slot)
{
	if (slot < ES_SERVER_STAGE_VOICES)
		es_engine_remove(s->engine, s->cfg.max_people + slot);
}

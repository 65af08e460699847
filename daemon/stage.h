/* SPDX-License-Identifier: MIT */
/*
 * The company-wide stage (docs/CLUSTER.md, "The company-wide stage
 * relay"): whoever speaks on a stage of a floor this daemon hosts is heard
 * on every floor of every other daemon of the company, as on this one.
 *
 * Out: every uplink frame the engine takes from someone standing in a
 * stage room goes, the moment it arrives, to every other daemon over the
 * relay links (relay.h), as the speaker's own Opus frame: never decoded,
 * never re-encoded.  When they step off the stage or leave, an
 * ES_RELAY_OFF follows.  Nothing is sent while nobody talks on a stage.
 *
 * In: each remote stage speaker becomes a voice of this daemon's engine
 * (ids above max_people, ES_SERVER_STAGE_VOICES of them): a voice only,
 * never a listener (ES_ENGINE_DEAF), on stage (ES_ENGINE_STAGE) and placed
 * where they stand on the same stage of the first floor hosted here.  The
 * engine's stage rule then makes everyone here hear it across every floor
 * (except inside closed rooms), forwarded as the speaker's own frame like
 * a local voice.  It ends on ES_RELAY_OFF, when its link goes down, or
 * after ES_STAGE_IDLE_MS without a frame.  Relayed voices are never
 * relayed again (only client uplinks are tapped), so nothing loops.
 *
 * Threads: es_stage_new and es_stage_free on the main thread (with the
 * company); everything else on the tick thread.
 */
#ifndef EARSHOT_STAGE_H
#define EARSHOT_STAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "earshot-proto.h"

#define ES_STAGE_IDLE_MS 2000

struct es_stage;
struct es_server;
struct es_cluster;

struct es_stage_stats {
	unsigned links_up;         /* relay links to other daemons now */
	unsigned voices_in;        /* remote stage voices heard here now */
	uint64_t frames_out;       /* frames relayed (one per frame per daemon it went to) */
	uint64_t frames_in;        /* relayed frames taken into the engine */
	uint64_t offs_out, offs_in;
	uint64_t drop_auth, drop_seal, drop_malformed, drop_unknown, timeouts;
	uint64_t drop_no_slot;     /* remote voices refused: every slot taken, or no floor hosted here */
	uint64_t drop_late;        /* relayed frames the jitter buffer refused (late, duplicate) */
};

/*
 * Open the relay host for daemon id: [cluster] relay (cfg->cluster_relay):
 * "" the client port + 1 (any free port if that one is taken), "0" any
 * free port, or "IPv4:PORT".  Writes to
 * publish the address other daemons reach it at (the host of
 * client_address, or the relay's own host when it names one).  nfloors
 * floors of floor_h_m each, stacked as company.h says.  NULL with errno
 * (logged).
 */
struct es_stage *es_stage_new(const struct es_config *cfg, const char *id, const char *client_address, unsigned nfloors,
			      float floor_h_m, char *publish, size_t cap);
/* The server it tapped must be gone (or untapped) first, as earshotd.c frees them.  NULL: no-op. */
void es_stage_free(struct es_stage *st);

/*
 * Every tick: hand over the company key (once), tap the server (once),
 * follow the company's daemons, take in what arrived, end idle voices.
 * hosted[k]: floor k is hosted here.  server may be NULL (not yet).
 */
void es_stage_tick(struct es_stage *st, struct es_server *server, const uint8_t key_priv[static 32],
		   struct es_cluster *cl, const bool *hosted);

void es_stage_get_stats(const struct es_stage *st, struct es_stage_stats *out);
/* Its counters into the metrics snapshot (metrics.h). */
struct es_metrics_snapshot;
void es_stage_metrics(const struct es_stage *st, struct es_metrics_snapshot *m);
/* One line for earshotctl cluster: "stage relay: ..." */
size_t es_stage_describe(const struct es_stage *st, char *out, size_t cap);

/* ---- the server's side (stage-srv.c) ------------------------------------ */

#define ES_SERVER_STAGE_VOICES 16

/* What the stage asks of the server; every call on the tick thread. */
struct es_stage_tap {
	void *ud;
	/* someone standing in a stage room sent a frame the engine took */
	void (*voice)(void *ud, unsigned id, const struct es_pos *pos, const struct es_audio_up *up);
	int fd;                /* waited on between ticks with the server's socket; -1 none */
	void (*ready)(void *ud); /* fd is readable */
};

/* Tap the server (t copied), or untap it (NULL). */
void es_server_set_stage_tap(struct es_server *s, const struct es_stage_tap *t);
/* Is person id in a stage room now?  Their place in *pos. */
bool es_server_on_stage(const struct es_server *s, unsigned id, struct es_pos *pos);

/* Remote stage voice slot 0..ES_SERVER_STAGE_VOICES-1: add at (x, y) metres, feed, remove.  -errno. */
__attribute__((warn_unused_result)) int es_server_stage_voice_add(struct es_server *s, unsigned slot, float x, float y);
/* flags: ES_ENGINE_UP_*.  The frame is timed like a client's (how far into the coming tick it came). */
__attribute__((warn_unused_result)) int es_server_stage_voice_push(struct es_server *s, unsigned slot, uint32_t seq,
								  unsigned flags, const uint8_t *opus, size_t len);
void es_server_stage_voice_remove(struct es_server *s, unsigned slot);

#endif

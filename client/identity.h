/* SPDX-License-Identifier: MIT */
/*
 * The client's identity and what it trusts, under its configuration
 * directory ($XDG_CONFIG_HOME/earshot, else ~/.config/earshot, mode 0700):
 *   identity.key   our X25519 private key, 64 hex digits, mode 0600
 *   known_servers  one "HOST:PORT HEXKEY" line per server we pinned
 *   earshot.conf   defaults (INI; earshot(1) FILES):
 *                    [client] server, name, thin
 *                    [audio]  input-device, output-device, echo-cancellation
 *                    [keys]   push-to-talk
 */
#ifndef EARSHOT_IDENTITY_H
#define EARSHOT_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "earshot-crypto.h"

/* The directory, created if missing.  0 or -errno. */
__attribute__((warn_unused_result)) int es_identity_dir(char *out, size_t cap);

/* Load our key pair, making and saving a new one on first use. */
__attribute__((warn_unused_result)) int es_identity_load(const char *dir, struct es_keypair *kp);

/* The key pinned for server ("HOST:PORT"): 0, -ENOENT if none, -EBADMSG if the file is damaged. */
__attribute__((warn_unused_result)) int es_known_server_get(const char *dir, const char *server, uint8_t pub[static 32]);

/* Pin (or re-pin) server's key, rewriting the file atomically. */
__attribute__((warn_unused_result)) int es_known_server_set(const char *dir, const char *server, const uint8_t pub[static 32]);

/* Forget server's pin.  0, -ENOENT. */
__attribute__((warn_unused_result)) int es_known_server_forget(const char *dir, const char *server);

/*
 * Defaults from earshot.conf; fields left as they were where not set.
 * 0 (also when there is no file) or -errno; every bad line is reported on
 * stderr as "FILE:LINE: [section] key: why" and makes it -EINVAL.
 * Booleans: -1 not set, 0 no, 1 yes.
 */
struct es_client_defaults {
	char server[800]; /* HOST:PORT, or up to 8 of them separated by commas */
	char name[64];
	char input_device[128], output_device[128];
	int aec, ptt, thin;
	int downlink; /* [client] downlink, kbit/s; 0 not set */
};
/* A downlink budget in kbit/s (ES_DOWNLINK_MIN_KBPS..MAX), or -EINVAL. */
int es_downlink_parse(const char *v);
/* The same from a string (tests, fuzzing); `name` labels the messages. */
__attribute__((warn_unused_result)) int es_defaults_parse(const char *name, const char *text, struct es_client_defaults *d);
__attribute__((warn_unused_result)) int es_defaults_load(const char *dir, struct es_client_defaults *d);
/* Write d back (what is set), replacing the file atomically. */
__attribute__((warn_unused_result)) int es_defaults_save(const char *dir, const struct es_client_defaults *d);

#endif

/*
 * Typed messages between the master and each worker over a socketpair. A frame is a 4-byte
 * big-endian length followed by a msgpack array [version, type, generation, payload]; unknown
 * versions are rejected so that master and worker can never misread each other.
 */
#ifndef TG_CHANNEL_H
#define TG_CHANNEL_H

#include <stdint.h>

#include "shared/tg_config.h"

struct evbuffer;

#define TG_CHANNEL_VERSION 1
#define TG_CHANNEL_MAX_FRAME (64 * 1024 * 1024)

typedef enum {
    TG_MSG_CONFIG = 1, /* master -> worker: compile and switch to this source (payload: files) */
    TG_MSG_CONFIG_ACK, /* worker -> master: switched (text NULL) or refused (text = reason) */
    TG_MSG_QUIT,       /* master -> worker: drain and exit (generation = deadline in ms) */
    TG_MSG_READY,      /* worker -> master: listening and serving */
    TG_MSG_PROVIDER_KEY, /* master -> worker: provider name (name) gets a new key (text) */
} tg_msg_type_t;

typedef struct {
    tg_msg_type_t type;
    uint64_t generation;
    tg_config_source_t source; /* TG_MSG_CONFIG: owned by the message after recv */
    char *text;                /* optional string payload, owned */
    char *name;                /* TG_MSG_PROVIDER_KEY: the provider, owned */
} tg_msg_t;

/** Append one framed message to out. Returns 0 or -1 (out of memory). */
int tg_msg_write(struct evbuffer *out, const tg_msg_t *msg);

/**
 * Take one complete message from the front of in.
 * Returns 1 with *msg filled (free with tg_msg_clear), 0 when more bytes are needed, -1 on a
 * malformed frame (the channel must then be closed).
 */
int tg_msg_read(struct evbuffer *in, tg_msg_t *msg);

/** Free what a received message owns. */
void tg_msg_clear(tg_msg_t *msg);

#endif

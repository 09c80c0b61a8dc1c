/*
 * Listening sockets, bound by the master before any worker exists. Each worker slot gets its
 * own SO_REUSEPORT socket per address, so the kernel spreads connections across workers without
 * a thundering herd, and a respawned worker takes over its predecessor's accept queue.
 */
#ifndef TG_MASTER_LISTEN_H
#define TG_MASTER_LISTEN_H

/**
 * Bind one socket for addr ("host:port", "[v6]:port" or "port"). Returns the fd, or -1 with a
 * reason in err.
 */
int tg_listen_bind(const char *addr, char *err, size_t errlen);

#endif

/*
 * A worker process: its own event loop serving HTTP on the inherited listening sockets and
 * calling providers through libcurl, steered by the master over one channel.
 */
#ifndef TG_WORKER_WORKER_H
#define TG_WORKER_WORKER_H

#include "shared/tg_config.h"

/**
 * Run worker number slot until told to quit; never returns (exits the process).
 * cf is the configuration inherited from the master at fork; channel is this worker's end of
 * the socketpair; fds are the listening sockets this worker accepts on.
 */
void tg_worker_main(tg_config_t *cf, int slot, int channel, const int *fds, int nfds)
    __attribute__((noreturn));

#endif

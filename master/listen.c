/*
 * Binding listeners (see listen.h). Addresses are resolved numerically only: a listener that
 * needs DNS at start-up is a listener that fails to start when DNS is down.
 */
#include <stddef.h>

#include "master/listen.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int tg_listen_bind(const char *addr, char *err, size_t errlen)
{
    char host[256], port[16];
    const char *colon = strrchr(addr, ':');
    struct addrinfo hints, *res = NULL;
    int fd = -1, one = 1, rc;

    if (colon == NULL) {
        snprintf(host, sizeof(host), "0.0.0.0");
        snprintf(port, sizeof(port), "%s", addr);
    } else {
        size_t hl = (size_t)(colon - addr);
        if (hl >= sizeof(host))
            hl = sizeof(host) - 1;
        memcpy(host, addr, hl);
        host[hl] = '\0';
        if (host[0] == '[' && hl >= 2 && host[hl - 1] == ']') {
            memmove(host, host + 1, hl - 2);
            host[hl - 2] = '\0';
        }
        if (strcmp(host, "*") == 0 || host[0] == '\0')
            snprintf(host, sizeof(host), "0.0.0.0");
        if (strcmp(host, "localhost") == 0)
            snprintf(host, sizeof(host), "127.0.0.1");
        snprintf(port, sizeof(port), "%s", colon + 1);
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
        snprintf(err, errlen, "listen %s: %s", addr, gai_strerror(rc));
        return -1;
    }
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1)
        goto fail;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1)
        goto fail;
    if (bind(fd, res->ai_addr, res->ai_addrlen) == -1 || listen(fd, 1024) == -1)
        goto fail;
    freeaddrinfo(res);
    return fd;
fail:
    snprintf(err, errlen, "listen %s: %s", addr, strerror(errno));
    if (fd != -1)
        close(fd);
    freeaddrinfo(res);
    return -1;
}

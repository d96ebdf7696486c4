/* The `listen` address: "127.0.0.1:8060", "[::1]:8060" or ":8060" (every
 * IPv4 address). Numeric only: herald binds before it resolves anything. */
#ifndef HERALD_LISTEN_H
#define HERALD_LISTEN_H

#include <stddef.h>
#include <sys/socket.h>

/* Fills addr (AF_INET or AF_INET6). Returns 0, or -1 with err saying what
 * is wrong (without the key's name: the caller knows where it came from). */
int listen_parse(const char *listen, struct sockaddr_storage *addr, char *err, size_t err_cap);
/* Whether addr is a loopback address. */
int listen_is_loopback(const struct sockaddr_storage *addr);

#endif

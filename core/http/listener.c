#include "http/server_internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include "config/listen.h"
#include "util/error.h"
#include "util/log.h"

int listener_prepare(http_server *srv, const char *listen, const config *c, listener *out,
                     char *err, size_t err_cap)
{
    char why[256];
    if (listen_parse(listen, &out->addr, why, sizeof why))
        return fail(err, err_cap, "listen: %s", why);
    out->port = ntohs(out->addr.ss_family == AF_INET
                          ? ((struct sockaddr_in *)&out->addr)->sin_port
                          : ((struct sockaddr_in6 *)&out->addr)->sin6_port);
    out->flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                 MHD_ALLOW_SUSPEND_RESUME;
    if (out->addr.ss_family == AF_INET6)
        out->flags |= MHD_USE_IPv6;
    out->tls_options[0] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    if (!c->tls_cert_file)
        return 0;
    /* The configuration checked the files but keeps no key in memory
     * (every reload would hold another copy): read them for the
     * listener, which keeps them for its life. */
    if (tls_read(c->tls_cert_file, c->tls_key_file, &srv->tls, err, err_cap))
        return -1;
    out->flags |= MHD_USE_TLS;
    out->tls_options[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, srv->tls.cert_pem};
    out->tls_options[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, srv->tls.key_pem};
    out->tls_options[2] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    return 0;
}

void listener_report(const listener *l, const char *listen, const config *c)
{
    int loopback = listen_is_loopback(&l->addr);
    if (c->tls_cert_file)
        log_info("tls", "serving HTTPS with %s (%s)", c->tls_cert_file, c->tls_summary);
    if (!loopback && !auth_required(&c->auth))
        log_warn("http", "serving on %s without auth: anyone who can reach it can post alerts, "
                         "read the history and drop dead letters; set auth in %s",
                 listen, c->path);
    else if (!loopback && !c->tls_cert_file)
        log_warn("http", "serving on %s without tls: the credentials of auth cross the network "
                         "in clear text; set tls in %s",
                 listen, c->path);
}

/* Routing: the route script decides, per alert, which receivers get it. */
#ifndef HERALD_ROUTE_H
#define HERALD_ROUTE_H

#include "alert/alert.h"
#include "config/conf.h"
#include "pipeline/escalate.h"
#include "pipeline/script.h"

typedef struct route_target {
    const receiver *receiver;
    mention_set mentions;  /* extra mentions for this alert at this receiver */
    escalation escalate;   /* who is told if it goes on unacknowledged */
} route_target;

typedef struct route_result {
    route_target *items;
    size_t len;            /* 0: the script muted the alert */
} route_result;

/* How the alert came in, the route's 4th argument `request`:
 * { endpoint = "webhook" | "dingtalk" | "alerts", receiver = the receiver
 * the path names, or nil }. */
typedef struct route_request {
    const char *endpoint;
    const char *receiver;  /* named in the path, or NULL */
} route_request;

/* Calls route(alert, default_receiver, receivers, request), where receivers
 * maps every configured receiver name to its channel; request NULL is
 * { endpoint = "webhook" } (the CLI's and the self-check's view). The script returns nil (the
 * default receiver), or a list whose items are receiver names or tables
 * {receiver = "ops", mobiles = {...}, user_ids = {...}, all = bool,
 * escalate = ... (pipeline/escalate.h)}.
 * Returns 0, or -1 with "file:line: message" in err and out empty. */
int route_alert(script_state *s, const alert *a, const receiver *default_receiver,
                const route_request *request, route_result *out, char *err, size_t err_cap);
void route_result_free(route_result *r);

#endif

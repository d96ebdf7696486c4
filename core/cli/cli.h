/* The command line: what main() parsed, and one entry point per command
 * family. Every command returns the process's exit status. */
#ifndef HERALD_CLI_H
#define HERALD_CLI_H

#include <stddef.h>

#include "alert/alert.h"
#include "alert/mention.h"
#include "config/generation.h"
#include "pipeline/script.h"
#include "util/strbuf.h"

#define EXIT_INVALID 1
#define EXIT_USAGE 2
/* In the help texts, where the default for -c goes: the installed
 * configuration, or conf/herald.lua from a build tree (config/layout.h). */
#define DEFAULT_CONFIG "{default config}"

typedef struct cli {
    const char *command;
    const char *config;
    const char *listen;
    const char *receiver;
    const char *payload;
    const char *args[2];     /* queue and history: action and id (or receiver) */
    size_t args_len;
    int dead;
    const char *alertname;
    const char *status;
    const char *since;
    const char *until;
    const char *limit;
    const char *by;
    const char *filter;      /* alerts: label matchers */
    int json;                /* -o json: the API's JSON instead of a table */
    const char *reason;      /* queue drop --reason */
    const char *from;        /* store copy: the source data_dir */
    const char *to;          /* store copy: the destination DSN (a secret) */
    const char *to_env;      /* store copy: the variable holding it */
    const char *duration;    /* silence add */
    const char *comment;     /* silence add */
    const char *author;      /* silence add; NULL: the Unix user */
    int all;                 /* silence list --all */
} cli;

/* Parses argv; returns -1 to go on with the command, or the exit status
 * (help, version, or a usage error already printed). */
int cli_parse(int argc, char **argv, cli *c);
/* Prints "herald COMMAND: <fmt with arg>" and the command's usage to
 * stderr; returns EXIT_USAGE. */
int usage_error(const char *command, const char *fmt, const char *arg);

/* render, route (cli/preview.c) and send-test (cli/send_test.c) */
int cmd_render(const cli *c, generation *g);
int cmd_route(const cli *c, generation *g);
int cmd_send_test(const cli *c, generation *g);
/* Shared by them: the receiver named by --receiver (NULL, having said why,
 * when there is none), and the payload read, parsed and a script state
 * opened on g (0, or an exit status having said why). */
const receiver *find_receiver(const generation *g, const char *name);
int open_payload(const char *path, generation *g, strbuf *body, alert_batch *batch,
                 script_state *s);

/* plugins (cli/plugins.c), queue (cli/queue.c) and history (cli/history.c) */
int cmd_plugins(const cli *c);
int cmd_queue(const cli *c);
int cmd_history(const cli *c);
/* alerts (cli/alerts.c) */
int cmd_alerts(const cli *c);
/* store copy (cli/store_copy.c) */
int cmd_store(const cli *c);
/* replicas (cli/replicas.c) */
int cmd_replicas(const cli *c);
/* silence add|list|expire (cli/silence.c) */
int cmd_silence(const cli *c);
/* action-key rotate (cli/action_key.c) */
int cmd_action_key(const cli *c);

#endif

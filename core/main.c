/* herald: the command line entry point. It only picks the command; each
 * lives in cli/ (serve in daemon/). */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "cli/cli.h"
#include "daemon/daemon.h"
#include "daemon/last_good.h"
#include "pipeline/check.h"
#include "store/store.h"

/* Commands that read the store or list plugins need no checked generation. */
static int run_without_generation(const cli *c, int *rc)
{
    if (strcmp(c->command, "plugins") == 0)
        *rc = cmd_plugins(c);
    else if (strcmp(c->command, "queue") == 0)
        *rc = cmd_queue(c);
    else if (strcmp(c->command, "history") == 0)
        *rc = cmd_history(c);
    else if (strcmp(c->command, "alerts") == 0)
        *rc = cmd_alerts(c);
    else if (strcmp(c->command, "store") == 0)
        *rc = cmd_store(c);
    else if (strcmp(c->command, "replicas") == 0)
        *rc = cmd_replicas(c);
    else if (strcmp(c->command, "silence") == 0)
        *rc = cmd_silence(c);
    else if (strcmp(c->command, "action-key") == 0)
        *rc = cmd_action_key(c);
    else
        return 0;
    return 1;
}

int main(int argc, char **argv)
{
    cli c;
    int rc = cli_parse(argc, argv, &c);
    if (rc >= 0 || run_without_generation(&c, &rc))
        return rc;

    int is_serve = strcmp(c.command, "serve") == 0;
    /* Every thread started from here on inherits these blocked signals;
     * serve's main thread takes them with sigwait. */
    if (is_serve) {
        sigset_t signals;
        sigemptyset(&signals);
        sigaddset(&signals, SIGHUP);
        sigaddset(&signals, SIGTERM);
        sigaddset(&signals, SIGINT);
        pthread_sigmask(SIG_BLOCK, &signals, NULL);
    }
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    strbuf report = STRBUF_INIT;
    char err[1024];
    int is_check = strcmp(c.command, "check") == 0;
    generation *g = generation_build(c.config, is_check ? &report : NULL, err, sizeof err);
    if (!g)
        fprintf(stderr, "herald: %s\n", err);
    if (!g && is_serve) { /* rather than down in a restart loop after a bad edit */
        char why[1024];
        if (!(g = last_good_build(c.config, err, why, sizeof why)))
            fprintf(stderr, "herald: %s\n", why);
    }
    if (!g) {
        rc = EXIT_INVALID;
    } else if (is_serve) {
        rc = daemon_serve(c.config, c.listen, g); /* takes over g */
    } else {
        if (is_check) {
            /* a store on a server is reached, as serve will reach it */
            rc = store_describe(&(store_location){g->conf.data_dir, g->conf.store_dsn}, &report,
                                err, sizeof err);
            if (rc) {
                fprintf(stderr, "herald: %s\n", err);
                rc = EXIT_INVALID;
            } else {
                fputs(sb_str(&report), stdout);
            }
        } else if (strcmp(c.command, "render") == 0) {
            rc = cmd_render(&c, g);
        } else if (strcmp(c.command, "route") == 0) {
            rc = cmd_route(&c, g);
        } else {
            rc = cmd_send_test(&c, g);
        }
        generation_unref(g);
    }
    sb_free(&report);
    curl_global_cleanup();
    return rc;
}

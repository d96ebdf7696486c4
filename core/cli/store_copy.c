/* store copy: a stopped herald's SQLite store into PostgreSQL
 * (store/transfer.h). The DSN is a secret: what is printed names the
 * server and database, never who logs in with what. */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>

#include "store/transfer.h"

int cmd_store(const cli *c)
{
    const char *dsn = c->to;
    if (c->to_env) {
        dsn = getenv(c->to_env);
        if (!dsn || !*dsn) {
            fprintf(stderr, "herald store copy: --to-env: the environment variable %s is %s\n",
                    c->to_env, dsn ? "empty" : "not set");
            return EXIT_INVALID;
        }
    }
    store_location from = {.data_dir = c->from}, to = {.dsn = dsn};
    store_copy_counts counts;
    char err[1024];
    if (store_copy(&from, &to, &counts, err, sizeof err)) {
        fprintf(stderr, "herald store copy: %s; nothing was copied\n", err);
        return EXIT_INVALID;
    }
    strbuf summary = STRBUF_INIT;
    char shown[256];
    store_location_describe(&to, shown, sizeof shown);
    store_copy_summary(&counts, &summary);
    printf("copied %s into %s: %s\n", c->from, shown, sb_str(&summary));
    sb_free(&summary);
    return 0;
}

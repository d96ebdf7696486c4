/* herald: command line entry point. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "alert/ingest.h"
#include "alert/samples.h"
#include "config/generation.h"
#include "delivery/dispatch.h"
#include "delivery/outbox.h"
#include "http/api.h"
#include "http/server.h"
#include "pipeline/check.h"
#include "pipeline/pipeline.h"
#include "pipeline/render.h"
#include "pipeline/route.h"
#include "pipeline/script.h"
#include "plugin/host.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/units.h"

#define EXIT_INVALID 1
#define EXIT_USAGE 2
#define DEFAULT_CONFIG "conf/herald.lua"

typedef struct cli {
    const char *command;
    const char *config;
    const char *listen;
    const char *receiver;
    const char *payload;
    const char *args[2];     /* queue and history: action and id */
    size_t args_len;
    int dead;
    const char *alertname;
    const char *status;
    const char *since;
    const char *until;
    const char *limit;
    const char *by;
} cli;

static const char *const usage_text =
    "usage: herald COMMAND [options]\n"
    "\n"
    "commands:\n"
    "  serve     receive alerts over HTTP and deliver them\n"
    "  check     load and test the configuration, scripts, templates and plugins\n"
    "  render    preview a receiver's message and request for a payload, without sending\n"
    "  send-test send a receiver one test message now and print the service's answer\n"
    "  route     show which receivers each alert of a payload goes to\n"
    "  plugins   list the loaded channel plugins and their options\n"
    "  queue     list, show, retry or drop queued notifications and dead letters\n"
    "  history   show the alert history and its most frequent alerts\n"
    "\n"
    "Run 'herald COMMAND --help' for the options of a command.\n";

static const struct {
    const char *name;
    const char *usage;
} command_help[] = {
    {"serve", "usage: herald serve [-c FILE] [--listen ADDR:PORT]\n"
              "\n"
              "Receive alerts over HTTP and deliver them. SIGHUP or POST /-/reload reloads\n"
              "the configuration, scripts and templates; SIGTERM stops after finishing the\n"
              "deliveries in flight (up to shutdown_timeout); the rest stays in the store.\n"
              "\n"
              "  -c, --config FILE      configuration file (default " DEFAULT_CONFIG ")\n"
              "  -l, --listen ADDR:PORT listen here instead of the configuration's listen\n"},
    {"check", "usage: herald check [-c FILE]\n"
              "\n"
              "Load the configuration, every plugin, the route script and every template;\n"
              "render each receiver's template against built-in firing and resolved samples\n"
              "and have its channel prepare them. Exit 1 on the first problem.\n"
              "\n"
              "  -c, --config FILE      configuration file (default " DEFAULT_CONFIG ")\n"},
    {"render", "usage: herald render [-c FILE] --receiver NAME --payload FILE.json\n"
               "\n"
               "Render the payload's alerts with the receiver's template and print the message\n"
               "and the exact request its channel would send (secrets in the URL redacted).\n"
               "Nothing is sent. The payload is an Alertmanager webhook body or a Prometheus\n"
               "alert list.\n"
               "\n"
               "  -c, --config FILE      configuration file (default " DEFAULT_CONFIG ")\n"
               "  -r, --receiver NAME    receiver whose template and channel to use\n"
               "  -p, --payload FILE     JSON payload to render\n"},
    {"send-test", "usage: herald send-test [-c FILE] --receiver NAME [--payload FILE.json]\n"
                  "\n"
                  "Render the payload (default: a built-in firing sample of two alerts) with the\n"
                  "receiver's template and send it once, now, through the receiver's channel;\n"
                  "the route script is not run and nothing is stored. Exit 0 when the service\n"
                  "took it, 1 when it refused it or could not be reached (the log says why).\n"
                  "The running herald does not see this send in the robot's rate window.\n"
                  "\n"
                  "  -c, --config FILE      configuration file (default " DEFAULT_CONFIG ")\n"
                  "  -r, --receiver NAME    receiver to test\n"
                  "  -p, --payload FILE     JSON payload to send instead of the sample\n"},
    {"route", "usage: herald route [-c FILE] --payload FILE.json [--receiver NAME]\n"
              "\n"
              "Run the route script on every alert of the payload and print where each goes.\n"
              "\n"
              "  -c, --config FILE      configuration file (default " DEFAULT_CONFIG ")\n"
              "  -p, --payload FILE     JSON payload to route\n"
              "  -r, --receiver NAME    default receiver, as /webhook/NAME would give\n"},
    {"queue", "usage: herald queue list [--dead] [--limit N] [-c FILE]\n"
              "       herald queue show ID | retry ID | drop ID [-c FILE]\n"
              "\n"
              "Work on the store in the configuration's data_dir, also while herald serves.\n"
              "  list          notifications waiting for delivery (--dead: dead letters)\n"
              "  show ID       one notification with its text, state, attempts, last error\n"
              "  retry ID      deliver a dead letter again (after fixing what failed)\n"
              "  drop ID       forget a dead letter\n"
              "\n"
              "  -c, --config FILE      configuration file (default " DEFAULT_CONFIG ")\n"},
    {"history", "usage: herald history [--alertname A] [--receiver R] [--status firing|resolved]\n"
                "                      [--since 24h] [--until TIME] [--limit N] [-c FILE]\n"
                "       herald history top [--by alertname|instance|severity|receiver] [--since 24h]\n"
                "\n"
                "One row per alert per notification, newest first; `top` counts firing alerts.\n"
                "Times are durations ago (\"24h\"), RFC 3339 or epoch milliseconds.\n"
                "\n"
                "  -c, --config FILE      configuration file (default " DEFAULT_CONFIG ")\n"},
    {"plugins", "usage: herald plugins [-c FILE]\n"
                "\n"
                "List the plugins in the configuration's plugin_dir with their channels,\n"
                "limits and receiver options.\n"
                "\n"
                "  -c, --config FILE      configuration file (default " DEFAULT_CONFIG ")\n"},
};

static const char *help_for(const char *command)
{
    for (size_t i = 0; i < sizeof command_help / sizeof command_help[0]; i++)
        if (strcmp(command_help[i].name, command) == 0)
            return command_help[i].usage;
    return NULL;
}

static int usage_error(const char *command, const char *fmt, const char *arg)
{
    fprintf(stderr, "herald%s%s: ", command ? " " : "", command ? command : "");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n\n%s", command && help_for(command) ? help_for(command) : usage_text);
    return EXIT_USAGE;
}

/* Returns -1 to go on, or the exit code. */
static int parse_args(int argc, char **argv, cli *c)
{
    memset(c, 0, sizeof *c);
    c->config = DEFAULT_CONFIG;
    if (argc < 2)
        return usage_error(NULL, "%s", "missing command");
    c->command = argv[1];
    if (strcmp(c->command, "--help") == 0 || strcmp(c->command, "-h") == 0 ||
        strcmp(c->command, "help") == 0) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (strcmp(c->command, "--version") == 0) {
        printf("herald %s (plugin ABI %d.%d)\n", HERALD_VERSION, HERALD_ABI_MAJOR, HERALD_ABI_MINOR);
        return 0;
    }
    if (!help_for(c->command))
        return usage_error(NULL, "unknown command \"%s\"", c->command);
    enum { OPT_DEAD = 256, OPT_ALERTNAME, OPT_STATUS, OPT_SINCE, OPT_UNTIL, OPT_LIMIT, OPT_BY };
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},   {"listen", required_argument, NULL, 'l'},
        {"receiver", required_argument, NULL, 'r'}, {"payload", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},           {"dead", no_argument, NULL, OPT_DEAD},
        {"alertname", required_argument, NULL, OPT_ALERTNAME},
        {"status", required_argument, NULL, OPT_STATUS},
        {"since", required_argument, NULL, OPT_SINCE},
        {"until", required_argument, NULL, OPT_UNTIL},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"by", required_argument, NULL, OPT_BY},
        {NULL, 0, NULL, 0},
    };
    optind = 2;
    opterr = 0;
    int opt;
    int is_queue = strcmp(c->command, "queue") == 0;
    int is_history = strcmp(c->command, "history") == 0;
    /* "+": stop at the first positional, which queue and history take. */
    while (optind < argc) {
        opt = getopt_long(argc, argv, "+:c:l:r:p:h", options, NULL);
        if (opt == -1) {
            if (!(is_queue || is_history) || c->args_len == 2)
                break;
            c->args[c->args_len++] = argv[optind++];
            continue;
        }
        switch (opt) {
        case 'c': c->config = optarg; break;
        case 'l': c->listen = optarg; break;
        case 'r': c->receiver = optarg; break;
        case 'p': c->payload = optarg; break;
        case 'h': fputs(help_for(c->command), stdout); return 0;
        case OPT_DEAD: c->dead = 1; break;
        case OPT_ALERTNAME: c->alertname = optarg; break;
        case OPT_STATUS: c->status = optarg; break;
        case OPT_SINCE: c->since = optarg; break;
        case OPT_UNTIL: c->until = optarg; break;
        case OPT_LIMIT: c->limit = optarg; break;
        case OPT_BY: c->by = optarg; break;
        case ':': return usage_error(c->command, "option %s needs a value", argv[optind - 1]);
        default: return usage_error(c->command, "unknown option %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error(c->command, "unexpected argument \"%s\"", argv[optind]);
    int is_serve = strcmp(c->command, "serve") == 0;
    int is_render = strcmp(c->command, "render") == 0;
    int is_send_test = strcmp(c->command, "send-test") == 0;
    int is_route = strcmp(c->command, "route") == 0;
    if ((c->dead || c->alertname || c->status || c->since || c->until || c->limit || c->by) &&
        !is_queue && !is_history)
        return usage_error(c->command, "%s", "that option is only for queue and history");
    if (c->listen && !is_serve)
        return usage_error(c->command, "%s", "--listen is only for serve");
    if (c->receiver && !is_render && !is_route && !is_history && !is_send_test)
        return usage_error(c->command, "%s",
                           "--receiver is only for render, send-test, route and history");
    if (c->payload && !is_render && !is_route && !is_send_test)
        return usage_error(c->command, "%s", "--payload is only for render, send-test and route");
    if (is_queue && (c->args_len == 0 || (strcmp(c->args[0], "list") == 0) != (c->args_len == 1)))
        return usage_error(c->command, "%s", "expected list, or show|retry|drop and an id");
    if (is_history && c->args_len && (strcmp(c->args[0], "top") != 0 || c->args_len > 1))
        return usage_error(c->command, "%s", "the only subcommand is top");
    if ((is_render || is_route) && !c->payload)
        return usage_error(c->command, "%s", "--payload FILE is required");
    if ((is_render || is_send_test) && !c->receiver)
        return usage_error(c->command, "%s", "--receiver NAME is required");
    return -1;
}

/* ---- shared by render and route ----------------------------------------- */

/* The payload (its text kept in `body`, which batch->source points at)
 * and a script state, for render and route. Returns 0 or an exit code. */
static int open_payload(const char *path, generation *g, strbuf *body, alert_batch *batch,
                        script_state *s)
{
    if (sb_read_file(body, path)) {
        fprintf(stderr, "herald: --payload %s: %s\n", path, strerror(errno));
        return EXIT_INVALID;
    }
    char err[1024];
    if (ingest_any(sb_str(body), body->len, (double)time(NULL), batch, err, sizeof err)) {
        fprintf(stderr, "herald: %s: %s\n", path, err);
        return EXIT_INVALID;
    }
    batch->source = sb_str(body);
    batch->source_len = body->len;
    if (script_open(s, g, err, sizeof err)) {
        fprintf(stderr, "herald: %s\n", err);
        alert_batch_free(batch);
        return EXIT_INVALID;
    }
    return 0;
}

static const receiver *find_receiver(const generation *g, const char *name)
{
    const receiver *r = config_receiver(&g->conf, name);
    if (!r) {
        fprintf(stderr, "herald: --receiver: no receiver named \"%s\" in %s (have:", name,
                g->conf.path);
        for (size_t i = 0; i < g->conf.receivers_len; i++)
            fprintf(stderr, " %s", g->conf.receivers[i].name);
        fprintf(stderr, ")\n");
    }
    return r;
}

static void print_mentions(const mention_set *m)
{
    for (size_t i = 0; i < m->mobiles_len; i++)
        printf(" @%s", m->mobiles[i]);
    for (size_t i = 0; i < m->user_ids_len; i++)
        printf(" @%s", m->user_ids[i]);
    if (m->all)
        printf(" @all");
}

static const char *format_name(herald_format f)
{
    switch (f) {
    case HERALD_FORMAT_TEXT: return "text";
    case HERALD_FORMAT_MARKDOWN: return "markdown";
    case HERALD_FORMAT_HTML: return "html";
    case HERALD_FORMAT_NATIVE: return "native";
    }
    return "?";
}

/* ---- commands ----------------------------------------------------------- */

static int print_render(script_state *s, const receiver *r, const alert_batch *batch,
                        const alert **alerts, size_t len)
{
    mention_set mentions = {0};
    mention_set_merge(&mentions, &r->mentions);
    render_input in = {r, batch, alerts, len, &mentions};
    rendered msg;
    char err[1024];
    int rc = render_template(s, &in, &msg, err, sizeof err);
    mention_set_free(&mentions);
    if (rc) {
        fprintf(stderr, "herald: template %s: %s\n", r->template_name, err);
        return EXIT_INVALID;
    }
    printf("--- message: receiver %s, channel %s, template %s ---\n", r->name, r->channel_name,
           r->template_name);
    printf("format: %s\ntitle: %s\nmentions:", format_name(msg.format), msg.title);
    print_mentions(&msg.mentions);
    printf("\n\n%s\n", msg.text);
    herald_message m;
    rendered_as_message(&msg, r->name, render_status(alerts, len), len, &m);
    if (channel_needs_payload(r->channel, r->instance)) {
        m.payload = batch->source;
        m.payload_len = batch->source_len;
    }
    herald_request req;
    request_init(&req);
    rc = r->channel->prepare(r->instance, &m, &req, err, sizeof err);
    if (rc == 0) {
        char *url = request_redacted_url(&req);
        printf("\n--- request (%zu bytes; secrets in the URL redacted) ---\n%s %s\n", req.body.len,
               req.method ? req.method : "POST", url);
        if (req.mail_from)
            printf("MAIL FROM: %s\n", req.mail_from);
        for (size_t i = 0; i < req.recipients_len; i++)
            printf("RCPT TO: %s\n", req.recipients[i]);
        free(url);
        /* Header values may be secrets (an Authorization a receiver sets):
         * only the content type is shown. */
        for (size_t i = 0; i < req.headers_len; i++) {
            const char *colon = strchr(req.headers[i], ':');
            int shown = colon && strncasecmp(req.headers[i], "Content-Type:", 13) == 0;
            if (shown || !colon)
                printf("%s\n", req.headers[i]);
            else
                printf("%.*s: …\n", (int)(colon - req.headers[i]), req.headers[i]);
        }
        printf("\n%s\n", sb_str(&req.body));
    } else {
        fprintf(stderr, "herald: channel %s cannot prepare this message: %s\n", r->channel_name, err);
    }
    request_free(&req);
    rendered_free(&msg);
    return rc ? EXIT_INVALID : 0;
}

static int cmd_render(const cli *c, generation *g)
{
    const receiver *r = find_receiver(g, c->receiver);
    strbuf body = STRBUF_INIT;
    alert_batch batch;
    script_state s;
    if (!r || open_payload(c->payload, g, &body, &batch, &s)) {
        sb_free(&body);
        return EXIT_INVALID;
    }
    const alert **alerts = xcalloc(batch.len ? batch.len : 1, sizeof *alerts);
    for (size_t i = 0; i < batch.len; i++)
        alerts[i] = &batch.alerts[i];
    int rc = 0;
    if (r->split_per_alert)
        for (size_t i = 0; i < batch.len && rc == 0; i++)
            rc = print_render(&s, r, &batch, &alerts[i], 1);
    else
        rc = print_render(&s, r, &batch, alerts, batch.len);
    free(alerts);
    script_close(&s);
    alert_batch_free(&batch);
    sb_free(&body);
    return rc;
}

static void ignore_put_result(void *ctx, outbox_put_result result, size_t duplicates,
                              const char *error)
{
    /* Without a store the outbox takes everything at once. */
    (void)ctx;
    (void)result;
    (void)duplicates;
    (void)error;
}

/* Through the real dispatcher and channel, with an outbox of its own (no
 * store) and no retries: the first verdict is the answer. */
static int cmd_send_test(const cli *c, generation *g)
{
    const receiver *r = find_receiver(g, c->receiver);
    if (!r)
        return EXIT_INVALID;
    strbuf body = STRBUF_INIT;
    alert_batch batch;
    script_state s;
    char err[1024];
    if (c->payload) {
        if (open_payload(c->payload, g, &body, &batch, &s)) {
            sb_free(&body);
            return EXIT_INVALID;
        }
    } else {
        sample_batch(0, &batch);
        if (script_open(&s, g, err, sizeof err)) {
            fprintf(stderr, "herald: %s\n", err);
            alert_batch_free(&batch);
            return EXIT_INVALID;
        }
    }
    pipeline_output out;
    pipeline_stats stats;
    pipeline_render_for(&s, &batch, r, &out, &stats);
    script_close(&s);
    alert_batch_free(&batch);
    sb_free(&body);
    if (stats.template_errors || out.len == 0) {
        fprintf(stderr, "herald: send-test: %s; nothing was sent\n",
                out.len ? "the template failed (above)" : "the payload has no alerts");
        pipeline_output_free(&out);
        return EXIT_INVALID;
    }
    size_t messages = out.len;
    generation_install(generation_ref(g));
    outbox *box = outbox_new(messages, NULL);
    rate_limits *limits = rate_limits_new();
    dispatcher *d = dispatcher_start(box, limits);
    int rc = EXIT_INVALID;
    if (!d) {
        fprintf(stderr, "herald: send-test: cannot start the dispatcher\n");
        pipeline_output_free(&out);
    } else {
        unsigned long long retries = metrics_get(METRIC_DELIVERY_RETRIES);
        outbox_put(box, out.items, messages, ignore_put_result, NULL);
        free(out.items);
        /* Past the request timeout the dispatcher has given its verdict. */
        int64_t deadline = wall_ms() + g->conf.delivery.request_timeout_ms + 5000;
        outbox_stats st = outbox_get_stats(box);
        while (st.delivered + st.dead_letters < messages &&
               metrics_get(METRIC_DELIVERY_RETRIES) == retries && wall_ms() < deadline) {
            struct timespec pause = {0, 20 * 1000 * 1000};
            nanosleep(&pause, NULL);
            st = outbox_get_stats(box);
        }
        dispatcher_stop(d, 0);
        st = outbox_get_stats(box);
        if (st.delivered == messages) {
            printf("delivered: %zu message%s to receiver %s (channel %s)\n", messages,
                   messages == 1 ? "" : "s", r->name, r->channel_name);
            rc = 0;
        } else {
            fprintf(stderr, "herald: send-test: %llu of %zu message%s delivered to receiver %s; "
                    "the log above says why\n", (unsigned long long)st.delivered, messages,
                    messages == 1 ? "" : "s", r->name);
        }
    }
    outbox_free(box);
    generation_install(NULL);
    return rc;
}

static int cmd_route(const cli *c, generation *g)
{
    const receiver *def = config_receiver(&g->conf, g->conf.default_receiver);
    if (c->receiver && !(def = find_receiver(g, c->receiver)))
        return EXIT_INVALID;
    strbuf body = STRBUF_INIT;
    alert_batch batch;
    script_state s;
    if (open_payload(c->payload, g, &body, &batch, &s)) {
        sb_free(&body);
        return EXIT_INVALID;
    }
    char err[1024];
    int rc = 0;
    for (size_t i = 0; i < batch.len; i++) {
        const alert *a = &batch.alerts[i];
        printf("%s %s {", a->fingerprint, alert_status_name(a->status));
        for (size_t l = 0; l < a->labels.len; l++)
            printf("%s%s=\"%s\"", l ? ", " : "", a->labels.items[l].name, a->labels.items[l].value);
        printf("}\n");
        route_result routes;
        if (route_alert(&s, a, def, &routes, err, sizeof err)) {
            printf("  -> %s (route error: %s)\n", def->name, err);
            rc = EXIT_INVALID;
            continue;
        }
        if (routes.len == 0)
            printf("  -> muted (no receiver)\n");
        for (size_t t = 0; t < routes.len; t++) {
            const route_target *target = &routes.items[t];
            mention_set all = {0};
            mention_set_merge(&all, &target->receiver->mentions);
            mention_set_merge(&all, &target->mentions);
            printf("  -> %s (channel %s)", target->receiver->name, target->receiver->channel_name);
            if (all.mobiles_len || all.user_ids_len || all.all) {
                printf(" mentions");
                print_mentions(&all);
            }
            printf("\n");
            mention_set_free(&all);
        }
        route_result_free(&routes);
    }
    script_close(&s);
    alert_batch_free(&batch);
    sb_free(&body);
    return rc;
}

static const char *option_type_label(herald_option_type t)
{
    switch (t) {
    case HERALD_OPTION_STRING: return "string";
    case HERALD_OPTION_INTEGER: return "integer";
    case HERALD_OPTION_BOOLEAN: return "boolean";
    case HERALD_OPTION_STRING_LIST: return "list";
    }
    return "?";
}

/* ---- queue and history -------------------------------------------------- */

static char *configured_data_dir(const cli *c)
{
    char *dir = NULL;
    char err[1024];
    if (config_data_dir(c->config, &dir, err, sizeof err))
        fprintf(stderr, "herald: %s\n", err);
    return dir;
}

static void format_ms(const cJSON *item, char *out, size_t cap)
{
    if (!cJSON_IsNumber(item)) {
        snprintf(out, cap, "-");
        return;
    }
    time_t seconds = (time_t)(item->valuedouble / 1000);
    struct tm tm;
    localtime_r(&seconds, &tm);
    strftime(out, cap, "%Y-%m-%d %H:%M:%S", &tm);
}

static const char *text_of(const cJSON *row, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(row, key);
    return cJSON_IsString(item) ? item->valuestring : "";
}

static long number_of(const cJSON *row, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(row, key);
    return cJSON_IsNumber(item) ? (long)item->valuedouble : 0;
}

static void print_queue_table(const char *json, int dead)
{
    cJSON *rows = json_parse(json, strlen(json));
    printf("%-8s %-16s %-9s %6s %8s  %-19s  %s\n", "ID", "RECEIVER", "STATUS", "ALERTS", "ATTEMPTS",
           dead ? "GAVE UP" : "NEXT ATTEMPT", dead ? "REASON" : "LAST ERROR");
    const cJSON *row;
    cJSON_ArrayForEach(row, rows)
    {
        char when[32];
        format_ms(cJSON_GetObjectItemCaseSensitive(row, dead ? "finished_ms" : "next_attempt_ms"), when,
                  sizeof when);
        printf("%-8ld %-16s %-9s %6ld %8ld  %-19s  %s\n", number_of(row, "id"), text_of(row, "receiver"),
               text_of(row, "status"), number_of(row, "alerts"), number_of(row, "attempts"), when,
               text_of(row, "last_error"));
    }
    if (cJSON_GetArraySize(rows) == 0)
        printf("(none)\n");
    cJSON_Delete(rows);
}

static int cmd_queue(const cli *c)
{
    int limit = 100;
    if (c->limit && parse_limit(c->limit, &limit))
        return usage_error(c->command, "%s", "--limit: expected a number from 1 to 10000");
    char *data_dir = configured_data_dir(c);
    if (!data_dir)
        return EXIT_INVALID;
    const char *action = c->args[0];
    strbuf out = STRBUF_INIT;
    char err[512];
    int rc;
    if (strcmp(action, "list") == 0) {
        rc = store_list(data_dir, c->dead ? QUEUE_DEAD : QUEUE_PENDING, limit, &out, err,
                        sizeof err);
        if (rc == 0)
            print_queue_table(sb_str(&out), c->dead);
    } else {
        char *end;
        unsigned long long id = strtoull(c->args[1], &end, 10);
        if (*end || end == c->args[1]) {
            free(data_dir);
            return usage_error(c->command, "\"%s\" is not a notification id", c->args[1]);
        }
        if (strcmp(action, "show") == 0)
            rc = store_show(data_dir, id, &out, err, sizeof err);
        else if (strcmp(action, "retry") == 0)
            rc = store_requeue(data_dir, id, err, sizeof err);
        else if (strcmp(action, "drop") == 0)
            rc = store_drop(data_dir, id, err, sizeof err);
        else {
            free(data_dir);
            return usage_error(c->command, "unknown action \"%s\"", action);
        }
        if (rc == 1)
            snprintf(err, sizeof err, "%s %llu: no such %s", action, id,
                     strcmp(action, "show") == 0 ? "notification" : "dead letter");
        else if (rc == 0 && strcmp(action, "show") == 0)
            printf("%s\n", sb_str(&out));
        else if (rc == 0)
            printf("%s %llu: %s\n", action, id,
                   strcmp(action, "retry") == 0
                       ? "requeued; the running herald delivers it within a second (or at its next start)"
                       : "dropped");
    }
    if (rc)
        fprintf(stderr, "herald: queue %s\n", err);
    sb_free(&out);
    free(data_dir);
    return rc ? EXIT_INVALID : 0;
}

static int cmd_history(const cli *c)
{
    history_filter f = {.alertname = c->alertname, .receiver = c->receiver, .status = c->status,
                        .limit = 100};
    if (c->limit && parse_limit(c->limit, &f.limit))
        return usage_error(c->command, "%s", "--limit: expected a number from 1 to 10000");
    if (c->status && strcmp(c->status, "firing") != 0 && strcmp(c->status, "resolved") != 0)
        return usage_error(c->command, "%s", "--status: expected firing or resolved");
    if (c->by && strcmp(c->by, "alertname") != 0 && strcmp(c->by, "instance") != 0 &&
        strcmp(c->by, "severity") != 0 && strcmp(c->by, "receiver") != 0)
        return usage_error(c->command, "%s",
                           "--by: expected alertname, instance, severity or receiver");
    int64_t now = (int64_t)time(NULL) * 1000;
    if ((c->since && parse_time_ms(c->since, now, &f.since_ms)) ||
        (c->until && parse_time_ms(c->until, now, &f.until_ms)))
        return usage_error(c->command, "%s", "--since/--until: expected a duration with its unit "
                                             "such as 24h, an RFC 3339 time or epoch milliseconds");
    char *data_dir = configured_data_dir(c);
    if (!data_dir)
        return EXIT_INVALID;
    strbuf out = STRBUF_INIT;
    char err[512];
    int rc;
    if (c->args_len) {
        if (!c->since)
            f.since_ms = now - 24LL * 3600 * 1000;
        rc = store_history_top(data_dir, c->by ? c->by : "alertname", f.since_ms, f.limit, &out, err,
                               sizeof err);
    } else {
        rc = store_history(data_dir, &f, &out, err, sizeof err);
    }
    if (rc == 0)
        printf("%s\n", sb_str(&out));
    else
        fprintf(stderr, "herald: history: %s\n", err);
    sb_free(&out);
    free(data_dir);
    return rc ? EXIT_INVALID : 0;
}

static int cmd_plugins(const cli *c)
{
    config conf;
    char err[1024];
    if (config_load(c->config, &conf, err, sizeof err)) {
        fprintf(stderr, "herald: %s\n", err);
        return EXIT_INVALID;
    }
    printf("plugin directory %s (herald plugin ABI %d.%d)\n", conf.plugin_dir, HERALD_ABI_MAJOR,
           HERALD_ABI_MINOR);
    for (size_t p = 0; p < conf.plugins.len; p++) {
        const loaded_plugin *lp = &conf.plugins.items[p];
        printf("\n%s %s (ABI %u.%u) %s\n", lp->plugin->name, lp->plugin->version,
               lp->plugin->abi.major, lp->plugin->abi.minor, lp->path);
        for (size_t i = 0; i < lp->plugin->channels_len; i++) {
            const herald_channel *ch = lp->plugin->channels[i];
            printf("  channel %s: %s\n", ch->name, ch->description ? ch->description : "");
            printf("    formats:");
            for (unsigned f = HERALD_FORMAT_TEXT; f <= HERALD_FORMAT_NATIVE; f <<= 1)
                if (ch->formats & f)
                    printf(" %s", format_name((herald_format)f));
            printf("; max body %zu bytes%s; rate %u/min%s", ch->max_body_bytes,
                   ch->max_body_bytes ? "" : " (no limit)", ch->rate_per_minute,
                   ch->rate_per_minute ? "" : " (no limit)");
            if (channel_rate_per_second(ch))
                printf(", %u/s", channel_rate_per_second(ch));
            printf("; default template %s\n", ch->default_template ? ch->default_template : "-");
            for (size_t o = 0; o < ch->options_len; o++) {
                const herald_option_spec *spec = &ch->options[o];
                printf("    option %-10s %-7s %s%s\n", spec->name, option_type_label(spec->type),
                       spec->required ? "required" : "optional", spec->secret ? ", secret" : "");
                if (spec->help)
                    printf("      %s\n", spec->help);
            }
        }
    }
    config_free(&conf);
    return 0;
}

/* ---- serve -------------------------------------------------------------- */

typedef struct serve_state {
    const char *config_path;
    const char *listen;   /* what the server bound; a reload cannot move it */
    int listen_from_command_line;
    const config *started; /* the start-only settings in force (see conf/README.md) */
    pthread_mutex_t reload_lock;
} serve_state;

static int same_optional_text(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* Settings read once at start: a reload that changes them says it does
 * not apply them, rather than answering success silently. */
static void warn_start_only_changes(const config *now, const config *started)
{
    if (now->queue_capacity != started->queue_capacity)
        log_warn("reload", "queue_capacity changed to %zu; %zu stays until a restart",
                 now->queue_capacity, started->queue_capacity);
    if (now->http_threads != started->http_threads)
        log_warn("reload", "http_threads changed to %u; %u stay until a restart", now->http_threads,
                 started->http_threads);
    if (strcmp(now->data_dir, started->data_dir) != 0)
        log_warn("reload", "data_dir changed to %s; %s stays until a restart", now->data_dir,
                 started->data_dir);
    if (now->dedup_window_ms != started->dedup_window_ms)
        log_warn("reload", "dedup_window changed; the old one stays until a restart");
    if (now->retention_ms != started->retention_ms)
        log_warn("reload", "retention changed; the old one stays until a restart");
    if (now->shutdown_timeout_ms != started->shutdown_timeout_ms)
        log_warn("reload", "shutdown_timeout changed; the old one stays until a restart");
    /* A renewed certificate usually keeps its file names: compare what
     * the files hold too. */
    if (!same_optional_text(now->tls_cert_file, started->tls_cert_file) ||
        !same_optional_text(now->tls_key_file, started->tls_key_file) ||
        strcmp(now->tls_summary, started->tls_summary) != 0)
        log_warn("reload", "tls changed (%s); the listener keeps what it started with until a "
                           "restart",
                 now->tls_cert_file ? now->tls_summary : "now off");
}

/* Builds and installs a generation; the caller holds reload_lock. */
static int reload_locked(serve_state *st, char *err, size_t err_cap)
{
    generation *g = generation_build(st->config_path, NULL, err, err_cap);
    if (!g) {
        metrics_count(METRIC_RELOADS_FAILED);
        log_error("reload", "refused, the previous configuration keeps serving: %s", err);
        return -1;
    }
    log_set_level((herald_log_level)g->conf.log_level);
    /* --listen overrides the file's listen, whatever a reload finds there. */
    if (!st->listen_from_command_line && strcmp(g->conf.listen, st->listen) != 0)
        log_warn("reload", "listen changed to %s; still serving on %s until a restart", g->conf.listen,
                 st->listen);
    warn_start_only_changes(&g->conf, st->started);
    unsigned number = g->number;
    generation_install(g);
    metrics_count(METRIC_RELOADS_OK);
    log_info("reload", "generation %u of %s is serving", number, st->config_path);
    return 0;
}

/* POST /-/reload: an HTTP thread must not wait behind a reload already
 * running while alerts arrive; that reload reads the same file anyway. */
static int reload_unless_busy(void *ctx, char *err, size_t err_cap)
{
    serve_state *st = ctx;
    if (pthread_mutex_trylock(&st->reload_lock) != 0)
        return RELOAD_BUSY;
    int rc = reload_locked(st, err, err_cap);
    pthread_mutex_unlock(&st->reload_lock);
    return rc;
}

/* SIGHUP: the signal thread may wait. */
static int reload_after_others(serve_state *st, char *err, size_t err_cap)
{
    pthread_mutex_lock(&st->reload_lock);
    int rc = reload_locked(st, err, err_cap);
    pthread_mutex_unlock(&st->reload_lock);
    return rc;
}

static void schedule_stored(void *ctx, notification *n) { outbox_restore(ctx, n); }

static size_t recovered_count;

/* After a restart everything pending is due at once, in arrival order:
 * the backoffs of the last run are not kept, and the order is. What the
 * targets' limits and pauses allow is (restore_send, restore_pause). */
static void schedule_recovered(void *ctx, notification *n)
{
    recovered_count++;
    n->next_attempt_ms = 0;
    outbox_restore(ctx, n);
}

typedef struct restored_targets {
    rate_limits *limits;
    size_t sends, pauses;
} restored_targets;

static void restore_send(void *ctx, const char *target, int64_t at_ms)
{
    restored_targets *r = ctx;
    rate_restore_send(r->limits, target, at_ms);
    r->sends++;
}

static void restore_pause(void *ctx, const char *target, int64_t until_ms)
{
    restored_targets *r = ctx;
    rate_restore_pause(r->limits, target, until_ms);
    r->pauses++;
}

/* Blocks until SIGTERM or SIGINT; SIGHUP reloads. */
static void wait_for_stop(serve_state *st, const char *config_path)
{
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGHUP);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    char err[1024];
    for (;;) {
        int sig;
        if (sigwait(&signals, &sig) != 0)
            continue;
        if (sig != SIGHUP) {
            log_info("herald", "%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            return;
        }
        log_info("reload", "SIGHUP: reloading %s", config_path);
        reload_after_others(st, err, sizeof err);
    }
}

static int cmd_serve(const cli *c, generation *g)
{
    serve_state st = {.config_path = c->config};
    pthread_mutex_init(&st.reload_lock, NULL);
    char *listen = xstrdup(c->listen ? c->listen : g->conf.listen);
    st.listen = listen;
    st.listen_from_command_line = c->listen != NULL;
    /* Fixed for the life of the process: a reload does not move them. */
    size_t capacity = g->conf.queue_capacity;
    unsigned threads = g->conf.http_threads;
    int64_t shutdown_ms = g->conf.shutdown_timeout_ms;
    store_settings settings = {g->conf.dedup_window_ms, g->conf.retention_ms};
    char *data_dir = xstrdup(g->conf.data_dir);
    /* Kept whole, so a reload compares with every start-only setting. */
    generation *started = generation_ref(g);
    st.started = &started->conf;
    size_t receivers = g->conf.receivers_len;
    unsigned number = g->number;
    log_set_level((herald_log_level)g->conf.log_level);
    generation_install(g); /* from here a reload may free g at any time */

    char err[1024] = "";
    int rc = EXIT_INVALID;
    outbox *box = NULL;
    dispatcher *disp = NULL;
    http_server *srv = NULL;
    store *db = store_open(data_dir, &settings, err, sizeof err);
    if (!db)
        goto done;
    box = outbox_new(capacity, db);
    if (store_load_pending(db, schedule_recovered, box, err, sizeof err))
        goto done;
    if (recovered_count)
        log_info("store", "resuming %zu undelivered notification%s from %s", recovered_count,
                 recovered_count == 1 ? "" : "s", data_dir);
    int64_t now = wall_ms();
    restored_targets targets = {.limits = rate_limits_new()};
    if (store_load_targets(db, now - RATE_WINDOW_MS - RATE_SAFETY_MS, now, restore_send,
                           restore_pause, &targets, err, sizeof err)) {
        rate_limits_free(targets.limits);
        goto done;
    }
    if (targets.sends || targets.pauses)
        log_info("store", "rate limits resume with %zu send%s of the last minute and %zu target%s "
                 "paused by their service", targets.sends, targets.sends == 1 ? "" : "s",
                 targets.pauses, targets.pauses == 1 ? "" : "s");
    if (store_start(db, schedule_stored, box)) {
        snprintf(err, sizeof err, "cannot start the store's writer");
        goto done;
    }
    if (!(disp = dispatcher_start(box, targets.limits))) {
        snprintf(err, sizeof err, "cannot start the dispatcher");
        goto done;
    }
    if (!(srv = http_start(listen, threads, box, data_dir, reload_unless_busy, &st, err, sizeof err)))
        goto done;
    log_info("herald", "herald %s serving on %s://%s (%zu receivers, generation %u, store %s)",
             HERALD_VERSION, http_is_tls(srv) ? "https" : "http", listen, receivers, number, data_dir);

    wait_for_stop(&st, c->config);
    log_info("herald", "finishing deliveries in flight for up to %lld ms", (long long)shutdown_ms);
    http_stop_accepting(srv);
    size_t left = dispatcher_stop(disp, shutdown_ms);
    disp = NULL;
    if (left)
        log_info("herald", "%zu notification%s kept in the store for the next start", left,
                 left == 1 ? "" : "s");
    rc = 0;
done:
    if (rc && c->listen && strncmp(err, "listen: ", 8) == 0)
        fprintf(stderr, "herald: --listen %s: %s\n", c->listen, err + 8);
    else if (rc)
        fprintf(stderr, "herald: %s: %s\n", c->config, err);
    if (disp)
        dispatcher_stop(disp, 0);
    if (srv)
        http_stop(srv);
    store_close(db); /* after the dispatcher: its last results are written */
    outbox_free(box);
    generation_install(NULL);
    generation_unref(started);
    free(listen);
    free(data_dir);
    pthread_mutex_destroy(&st.reload_lock);
    if (rc == 0)
        log_info("herald", "stopped");
    return rc;
}

int main(int argc, char **argv)
{
    cli c;
    int rc = parse_args(argc, argv, &c);
    if (rc >= 0)
        return rc;

    if (strcmp(c.command, "plugins") == 0)
        return cmd_plugins(&c);
    if (strcmp(c.command, "queue") == 0)
        return cmd_queue(&c);
    if (strcmp(c.command, "history") == 0)
        return cmd_history(&c);

    /* Every thread started from here on inherits these blocked signals;
     * serve's main thread takes them with sigwait. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGHUP);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    if (strcmp(c.command, "serve") == 0)
        pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    strbuf report = STRBUF_INIT;
    char err[1024];
    int is_check = strcmp(c.command, "check") == 0;
    generation *g = generation_build(c.config, is_check ? &report : NULL, err, sizeof err);
    if (!g) {
        fprintf(stderr, "herald: %s\n", err);
        rc = EXIT_INVALID;
    } else if (is_check) {
        fputs(sb_str(&report), stdout);
        generation_unref(g);
        rc = 0;
    } else if (strcmp(c.command, "render") == 0) {
        rc = cmd_render(&c, g);
        generation_unref(g);
    } else if (strcmp(c.command, "route") == 0) {
        rc = cmd_route(&c, g);
        generation_unref(g);
    } else if (strcmp(c.command, "send-test") == 0) {
        rc = cmd_send_test(&c, g);
        generation_unref(g);
    } else {
        rc = cmd_serve(&c, g); /* takes over g */
    }
    sb_free(&report);
    curl_global_cleanup();
    return rc;
}

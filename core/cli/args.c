#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "config/layout.h"
#include "herald/plugin.h"

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
    "  queue     list, show, retry, send now or drop notifications; unpause a receiver\n"
    "  history   show the alert history and its most frequent alerts\n"
    "  alerts    show what is firing now (and what resolved lately)\n"
    "  store     copy a stopped herald's SQLite store into PostgreSQL\n"
    "  replicas  show the heralds serving from the store and the configuration each serves\n"
    "  silence   add, list or expire silences: alerts they match are recorded, not delivered\n"
    "  action-key rotate the key that signs action links\n"
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
              "       herald queue show ID | retry ID | send-now ID [-c FILE]\n"
              "       herald queue drop ID [--reason TEXT] | unpause RECEIVER [-c FILE]\n"
              "\n"
              "Work on the store in the configuration's data_dir, also while herald serves\n"
              "(which applies a change within a second, or at its next start).\n"
              "  list          notifications waiting for delivery (--dead: dead letters)\n"
              "  show ID       one notification with its text, state and each attempt\n"
              "  retry ID      deliver a dead letter again (after fixing what failed)\n"
              "  send-now ID   attempt a waiting notification at once, past its backoff and\n"
              "                its robot's pause, within the robot's rate limit\n"
              "  drop ID       never deliver a waiting notification: kept as dropped with the\n"
              "                reason (default \"dropped by operator\"); a dead letter is forgotten\n"
              "  unpause RECEIVER  clear the pauses of the receiver's robots: send at once\n"
              "\n"
              "list and show print a table, times in the configuration's timezone;\n"
              "-o json prints what GET /api/v1/queue, /deadletters or /queue/ID answers.\n"
              "\n"
              "  -c, --config FILE      configuration file (default " DEFAULT_CONFIG ")\n"
              "  -o, --output FORMAT    table (default) or json\n"},
    {"history", "usage: herald history [--alertname A] [--receiver R] [--status firing|resolved]\n"
                "                      [--since 24h] [--until TIME] [--limit N] [-c FILE]\n"
                "       herald history top [--by LABEL|receiver] [--since 24h] [--limit N]\n"
                "\n"
                "One row per alert per notification, newest first. `top` counts firings by a\n"
                "label (any name; alertname by default) or by receiver: an alert once each\n"
                "time it started firing (its startsAt), however many receivers it went to and\n"
                "however often it was sent again; by receiver, once for each receiver. Alerts\n"
                "without the label are not counted.\n"
                "Times are durations ago (\"24h\"), RFC 3339 or epoch milliseconds. A table\n"
                "shows times in the configuration's timezone; -o json prints what\n"
                "GET /api/v1/history (or /history/top) answers.\n"
                "\n"
                "  -c, --config FILE      configuration file (default " DEFAULT_CONFIG ")\n"
                "  -o, --output FORMAT    table (default) or json\n"},
    {"alerts", "usage: herald alerts [--filter MATCHERS] [--receiver R] [--status firing|resolved]\n"
               "                     [--limit N] [-c FILE]\n"
               "       herald alerts ack FINGERPRINT [--author NAME] [--comment TEXT] [-c FILE]\n"
               "\n"
               "The alert state: every alert herald was sent that is firing, or resolved\n"
               "within resolved_retention, oldest start first, with the receivers told of\n"
               "it and when, and who acknowledged it. MATCHERS are Alertmanager's:\n"
               "'project=wms,severity=~crit.*' (=, !=, =~, !~). --receiver: alerts that\n"
               "receiver was told of. A table shows times in the configuration's timezone;\n"
               "-o json prints what GET /api/v1/alerts answers.\n"
               "  ack FINGERPRINT  acknowledge a firing alert (the fingerprint from -o json):\n"
               "                   no repeats and no escalations of it until it resolves or\n"
               "                   fires anew\n"
               "\n"
               "  --author NAME          ack: who (default: the Unix user)\n"
               "  --comment TEXT         ack: why, or what is being done\n"
               "  -c, --config FILE      configuration file (default " DEFAULT_CONFIG ")\n"
               "  -o, --output FORMAT    table (default) or json\n"},
    {"store", "usage: herald store copy --from DATA_DIR (--to-env NAME | --to DSN)\n"
              "\n"
              "Copy the SQLite store in DATA_DIR into an empty PostgreSQL database: pending\n"
              "notifications with their attempts and next attempt, dead letters, requeued\n"
              "and dropped ones, each attempt, the history, the alert state and the robots'\n"
              "recent sends and pauses, with their ids; all in one transaction, so a failure\n"
              "copies nothing. The herald serving DATA_DIR must be stopped first, and the\n"
              "database must hold no notifications, history or alert state (the schema is\n"
              "made if missing). The DSN is never printed; --to-env keeps it out of ps.\n"
              "\n"
              "  --from DATA_DIR        the data_dir of the SQLite store to copy\n"
              "  --to-env NAME          the environment variable holding the libpq DSN\n"
              "  --to DSN               the libpq DSN (connection string or URI)\n"},
    {"replicas", "usage: herald replicas [-c FILE] [-o table|json]\n"
                 "\n"
                 "The herald replicas serving from the configured PostgreSQL store, as their\n"
                 "heartbeats left them: id (host:pid:random), version, the digest of the\n"
                 "configuration each serves, and live or gone. -o json prints what\n"
                 "GET /api/v1/replicas answers.\n"
                 "\n"
                 "  -c, --config FILE      configuration file (default " DEFAULT_CONFIG ")\n"
                 "  -o, --output FORMAT    table (default) or json\n"},
    {"silence", "usage: herald silence add MATCHERS (--duration D | --until TIME) [--comment TEXT]\n"
                "                         [--author NAME] [-c FILE]\n"
                "       herald silence list [--all] [-o table|json] [-c FILE]\n"
                "       herald silence expire ID [-c FILE]\n"
                "\n"
                "Alerts a silence matches while it is active are recorded (the alert state,\n"
                "and the history as silenced) but go to no receiver, firing or resolved.\n"
                "For alerts posted to herald directly (Prometheus, Grafana, scripts);\n"
                "Alertmanager's own silences act before herald hears of an alert. A running\n"
                "herald (every replica on a shared store) applies a change within a second.\n"
                "  add MATCHERS  Alertmanager's matchers: 'alertname=\"HostDown\", instance=~\"10.0.0.*\"'\n"
                "                (=, !=, =~, !~; a regular expression matches the whole value);\n"
                "                at least one must need a label to be there. Prints the id.\n"
                "  list          the active silences (--all: the ended ones too)\n"
                "  expire ID     end a silence now\n"
                "\n"
                "  --duration D           how long it lasts: 90m, 2h, 1d (at most a year)\n"
                "  --until TIME           or until when: RFC 3339, 2026-11-21T18:00:00+08:00\n"
                "  --comment TEXT         why\n"
                "  --author NAME          who (default: the Unix user)\n"
                "  -c, --config FILE      configuration file (default " DEFAULT_CONFIG ")\n"
                "  -o, --output FORMAT    table (default) or json: what GET /api/v1/silences answers\n"},
    {"action-key", "usage: herald action-key rotate [-c FILE]\n"
                   "\n"
                   "Make a new key to sign action links with (the store keeps it; every\n"
                   "replica on a shared store uses it). Links signed with the previous key stay\n"
                   "valid until they expire (30 days at most); a running herald signs with the\n"
                   "new key after its next reload.\n"
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

/* A help text with this binary's default configuration in it. */
static void print_help(FILE *out, const char *text)
{
    const char *mark;
    while ((mark = strstr(text, DEFAULT_CONFIG))) {
        fprintf(out, "%.*s%s", (int)(mark - text), text, install_layout_get()->config);
        text = mark + strlen(DEFAULT_CONFIG);
    }
    fputs(text, out);
}

int usage_error(const char *command, const char *fmt, const char *arg)
{
    fprintf(stderr, "herald%s%s: ", command ? " " : "", command ? command : "");
    fprintf(stderr, fmt, arg);
    fputs("\n\n", stderr);
    print_help(stderr, command && help_for(command) ? help_for(command) : usage_text);
    return EXIT_USAGE;
}

int cli_parse(int argc, char **argv, cli *c)
{
    memset(c, 0, sizeof *c);
    c->config = install_layout_get()->config;
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
    enum { OPT_DEAD = 256, OPT_ALERTNAME, OPT_STATUS, OPT_SINCE, OPT_UNTIL, OPT_LIMIT, OPT_BY,
           OPT_FILTER, OPT_REASON, OPT_FROM, OPT_TO, OPT_TO_ENV, OPT_DURATION, OPT_COMMENT,
           OPT_AUTHOR, OPT_ALL };
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
        {"filter", required_argument, NULL, OPT_FILTER},
        {"output", required_argument, NULL, 'o'},
        {"reason", required_argument, NULL, OPT_REASON},
        {"from", required_argument, NULL, OPT_FROM},
        {"to", required_argument, NULL, OPT_TO},
        {"to-env", required_argument, NULL, OPT_TO_ENV},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"comment", required_argument, NULL, OPT_COMMENT},
        {"author", required_argument, NULL, OPT_AUTHOR},
        {"all", no_argument, NULL, OPT_ALL},
        {NULL, 0, NULL, 0},
    };
    optind = 2;
    opterr = 0;
    int opt;
    const char *output = NULL;
    /* An option given twice would keep its last value alone: refused. */
    unsigned char given[OPT_ALL + 1] = {0};
    int is_queue = strcmp(c->command, "queue") == 0;
    int is_history = strcmp(c->command, "history") == 0;
    int is_store = strcmp(c->command, "store") == 0;
    int is_silence = strcmp(c->command, "silence") == 0;
    int is_action_key = strcmp(c->command, "action-key") == 0;
    int is_alerts = strcmp(c->command, "alerts") == 0;
    /* "+": stop at the first positional, which queue and history take. */
    while (optind < argc) {
        opt = getopt_long(argc, argv, "+:c:l:r:p:o:h", options, NULL);
        if (opt == -1) {
            if (!(is_queue || is_history || is_store || is_silence || is_alerts ||
                  is_action_key) ||
                c->args_len == 2)
                break;
            c->args[c->args_len++] = argv[optind++];
            continue;
        }
        if (opt != ':' && opt != '?' && opt != 'h' && given[opt]++) {
            for (const struct option *o = options; o->name; o++)
                if (o->val == opt)
                    return usage_error(c->command, "--%s is given more than once", o->name);
        }
        switch (opt) {
        case 'c': c->config = optarg; break;
        case 'l': c->listen = optarg; break;
        case 'r': c->receiver = optarg; break;
        case 'p': c->payload = optarg; break;
        case 'o':
            if (strcmp(optarg, "table") != 0 && strcmp(optarg, "json") != 0)
                return usage_error(c->command,
                                   "--output: expected table or json, got \"%s\"", optarg);
            output = optarg;
            c->json = strcmp(optarg, "json") == 0;
            break;
        case 'h': print_help(stdout, help_for(c->command)); return 0;
        case OPT_DEAD: c->dead = 1; break;
        case OPT_ALERTNAME: c->alertname = optarg; break;
        case OPT_STATUS: c->status = optarg; break;
        case OPT_SINCE: c->since = optarg; break;
        case OPT_UNTIL: c->until = optarg; break;
        case OPT_LIMIT: c->limit = optarg; break;
        case OPT_BY: c->by = optarg; break;
        case OPT_FILTER: c->filter = optarg; break;
        case OPT_REASON: c->reason = optarg; break;
        case OPT_FROM: c->from = optarg; break;
        case OPT_TO: c->to = optarg; break;
        case OPT_TO_ENV: c->to_env = optarg; break;
        case OPT_DURATION: c->duration = optarg; break;
        case OPT_COMMENT: c->comment = optarg; break;
        case OPT_AUTHOR: c->author = optarg; break;
        case OPT_ALL: c->all = 1; break;
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
    int is_replicas = strcmp(c->command, "replicas") == 0;
    if (is_alerts && (c->dead || c->alertname || c->since || c->until || c->by))
        return usage_error(c->command, "%s",
                           "alerts takes --filter, --receiver, --status, --limit and -o");
    if (c->filter && !is_alerts)
        return usage_error(c->command, "%s", "--filter is only for alerts");
    int alerts_ack = is_alerts && c->args_len;
    if (alerts_ack && (strcmp(c->args[0], "ack") != 0 || c->args_len != 2))
        return usage_error(c->command, "%s", "the only subcommand is ack and a fingerprint");
    if (alerts_ack && (c->filter || c->receiver || c->status || c->limit || c->json))
        return usage_error(c->command, "%s", "alerts ack takes --author, --comment and -c");
    const char *action = is_silence && c->args_len ? c->args[0] : "";
    int silence_add = strcmp(action, "add") == 0;
    if (is_silence && !((silence_add || strcmp(action, "expire") == 0) ? c->args_len == 2
                        : strcmp(action, "list") == 0                    ? c->args_len == 1
                                                                         : 0))
        return usage_error(c->command, "%s",
                           "expected add and the matchers, list, or expire and an id");
    if (is_action_key && (c->args_len != 1 || strcmp(c->args[0], "rotate") != 0))
        return usage_error(c->command, "%s", "the only subcommand is rotate");
    if ((c->comment || c->author) && !silence_add && !alerts_ack)
        return usage_error(c->command, "%s",
                           "--comment and --author are only for silence add and alerts ack");
    if ((c->duration || (is_silence && c->until)) && !silence_add)
        return usage_error(c->command, "%s", "--duration and --until are only for silence add");
    if (c->all && !(is_silence && strcmp(action, "list") == 0))
        return usage_error(c->command, "%s", "--all is only for silence list");
    if ((c->dead || c->alertname || c->status || c->since || (c->until && !is_silence) ||
         c->limit || c->by) &&
        !is_queue && !is_history && !is_alerts)
        return usage_error(c->command, "%s", "that option is only for queue, history and alerts");
    if (c->listen && !is_serve)
        return usage_error(c->command, "%s", "--listen is only for serve");
    if (c->receiver && !is_render && !is_route && !is_history && !is_send_test && !is_alerts)
        return usage_error(c->command, "%s",
                           "--receiver is only for render, send-test, route, history and alerts");
    if (c->payload && !is_render && !is_route && !is_send_test)
        return usage_error(c->command, "%s", "--payload is only for render, send-test and route");
    if (is_queue && (c->args_len == 0 || (strcmp(c->args[0], "list") == 0) != (c->args_len == 1)))
        return usage_error(c->command, "%s",
                           "expected list, show|retry|send-now|drop and an id, or unpause and "
                           "a receiver");
    if (c->reason && !(is_queue && strcmp(c->args[0], "drop") == 0))
        return usage_error(c->command, "%s", "--reason is only for queue drop");
    if (is_history && c->args_len && (strcmp(c->args[0], "top") != 0 || c->args_len > 1))
        return usage_error(c->command, "%s", "the only subcommand is top");
    if (output && !is_history && !is_alerts && !is_replicas && !silence_add &&
        !(is_silence && strcmp(action, "list") == 0) &&
        !(is_queue && c->args_len && (strcmp(c->args[0], "list") == 0 ||
                                      strcmp(c->args[0], "show") == 0)))
        return usage_error(c->command, "%s",
                           "--output is only for queue list, queue show, history, alerts, "
                           "replicas, silence add and silence list");
    if ((c->from || c->to || c->to_env) && !is_store)
        return usage_error(c->command, "%s", "--from, --to and --to-env are only for store copy");
    if (is_store && (c->args_len != 1 || strcmp(c->args[0], "copy") != 0))
        return usage_error(c->command, "%s", "the only subcommand is copy");
    if (is_store && !c->from)
        return usage_error(c->command, "%s", "--from DATA_DIR is required");
    if (is_store && !c->to == !c->to_env)
        return usage_error(c->command, "%s", "give the destination by --to-env NAME or --to DSN");
    if (is_store && c->to && !*c->to)
        return usage_error(c->command, "%s", "--to: the DSN is empty");
    if ((is_render || is_route) && !c->payload)
        return usage_error(c->command, "%s", "--payload FILE is required");
    if ((is_render || is_send_test) && !c->receiver)
        return usage_error(c->command, "%s", "--receiver NAME is required");
    return -1;
}

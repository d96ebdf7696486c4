#include "cli/cli.h"

#include <stdio.h>

#include "config/conf.h"
#include "notification/rendered.h"
#include "plugin/loader.h"

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

int cmd_plugins(const cli *c)
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

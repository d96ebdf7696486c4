#include "plugin/loader.h"

#include <stddef.h>

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/error.h"
#include "util/strbuf.h"

/* Checks one ABI header; `what` names the struct for the message ("" for
 * the plugin itself, `channel "x" ` for a channel). `has_1_0_fields`: the
 * struct is long enough for every field of 1.0, which this core reads
 * without asking; later fields are read through HERALD_HAS_FIELD. */
static int check_abi(const char *path, const char *what, const herald_abi_header *abi,
                     int has_1_0_fields, char *err, size_t err_cap)
{
    if (abi->major != HERALD_ABI_MAJOR || abi->minor > HERALD_ABI_MINOR)
        return fail(err, err_cap,
                    "%s: %sbuilt for plugin ABI %u.%u, this herald speaks %d.%d; "
                    "rebuild it against this herald's SDK",
                    path, what, (unsigned)abi->major, (unsigned)abi->minor, HERALD_ABI_MAJOR,
                    HERALD_ABI_MINOR);
    if (!has_1_0_fields)
        return fail(err, err_cap, "%s: %sdeclares a %u-byte descriptor, too short for plugin ABI %d.0",
                    path, what, (unsigned)abi->size, HERALD_ABI_MAJOR);
    return 0;
}

static int check_channel(const loaded_plugin *candidate, const herald_channel *channel,
                         char *err, size_t err_cap)
{
    const char *path = candidate->path;
    if (!channel || !channel->name || !*channel->name)
        return fail(err, err_cap, "%s: a channel has no name", path);
    char what[128];
    snprintf(what, sizeof what, "channel \"%s\" ", channel->name);
    if (check_abi(path, what, &channel->abi, HERALD_HAS_FIELD(herald_channel, channel, destroy),
                  err, err_cap) != 0)
        return -1;
    if (!channel->configure || !channel->prepare || !channel->classify || !channel->destroy)
        return fail(err, err_cap, "%s: %slacks one of configure, prepare, classify, destroy",
                    path, what);
    if (channel->options_len > 0 && !channel->options)
        return fail(err, err_cap, "%s: %sdeclares %zu options but no option list", path, what,
                    channel->options_len);
    for (size_t i = 0; i < channel->options_len; i++) {
        const herald_option_spec *option = &channel->options[i];
        if (!option->name || option->type < HERALD_OPTION_STRING ||
            option->type > HERALD_OPTION_STRING_LIST)
            return fail(err, err_cap, "%s: %soption %zu has no name or an unknown type", path,
                        what, i + 1);
    }
    return 0;
}

/* A channel name must be unique across everything loaded, including the
 * candidate's own earlier channels. */
static int check_unique_names(const plugin_set *set, const loaded_plugin *candidate,
                              char *err, size_t err_cap)
{
    const herald_plugin *plugin = candidate->plugin;
    for (size_t i = 0; i < plugin->channels_len; i++) {
        const char *name = plugin->channels[i]->name;
        const loaded_plugin *owner = NULL;
        if (plugins_find_channel(set, name, &owner))
            return fail(err, err_cap, "channel \"%s\" is defined by both %s and %s", name,
                        owner->path, candidate->path);
        for (size_t j = 0; j < i; j++)
            if (strcmp(plugin->channels[j]->name, name) == 0)
                return fail(err, err_cap, "%s: channel \"%s\" is defined twice",
                            candidate->path, name);
    }
    return 0;
}

static int validate(const plugin_set *set, const loaded_plugin *candidate, char *err,
                    size_t err_cap)
{
    const herald_plugin *plugin = candidate->plugin;
    if (!plugin)
        return fail(err, err_cap, "%s: " HERALD_PLUGIN_ENTRY_NAME " returned no plugin",
                    candidate->path);
    if (check_abi(candidate->path, "", &plugin->abi,
                  HERALD_HAS_FIELD(herald_plugin, plugin, channels_len), err, err_cap) != 0)
        return -1;
    if (!plugin->name || (plugin->channels_len > 0 && !plugin->channels))
        return fail(err, err_cap, "%s: the plugin descriptor has no name or no channel list",
                    candidate->path);
    for (size_t i = 0; i < plugin->channels_len; i++)
        if (check_channel(candidate, plugin->channels[i], err, err_cap) != 0)
            return -1;
    return check_unique_names(set, candidate, err, err_cap);
}

/* Calls the entry of the opened candidate and checks what it returns. */
static int read_descriptor(const plugin_set *set, loaded_plugin *candidate, char *err,
                           size_t err_cap)
{
    dlerror();
    void *symbol = dlsym(candidate->handle, HERALD_PLUGIN_ENTRY_NAME);
    if (!symbol) {
        const char *why = dlerror();
        return fail(err, err_cap,
                    "%s: not a herald plugin, it has no " HERALD_PLUGIN_ENTRY_NAME " symbol (%s)",
                    candidate->path, why ? why : "symbol is NULL");
    }
    /* POSIX guarantees a dlsym result converts to a function pointer; the
     * copy keeps ISO C's object/function pointer distinction quiet. */
    herald_plugin_entry_fn entry;
    memcpy(&entry, &symbol, sizeof entry);
    candidate->plugin = entry();
    return validate(set, candidate, err, err_cap);
}

int plugins_load_file(plugin_set *set, const char *path, char *err, size_t err_cap)
{
    loaded_plugin candidate = {.path = xstrdup(path)};
    candidate.handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    int rc = candidate.handle ? read_descriptor(set, &candidate, err, err_cap)
                              : fail(err, err_cap, "%s: cannot load: %s", path, dlerror());
    if (rc != 0) {
        if (candidate.handle)
            dlclose(candidate.handle);
        free(candidate.path);
        return -1;
    }
    set->items = xrealloc(set->items, (set->len + 1) * sizeof *set->items);
    set->items[set->len++] = candidate;
    return 0;
}

static int compare_paths(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct path_list {
    char **items;
    size_t len;
} path_list;

static void path_list_free(path_list *list)
{
    for (size_t i = 0; i < list->len; i++)
        free(list->items[i]);
    free(list->items);
}

static int has_so_suffix(const char *name)
{
    size_t len = strlen(name);
    return len > 3 && strcmp(name + len - 3, ".so") == 0;
}

/* Adds the *.so regular files of dir to list; with `descend`, also those of
 * its immediate subdirectories. Hidden entries are skipped. */
static int collect(path_list *list, const char *dir, int descend, char *err, size_t err_cap)
{
    DIR *d = opendir(dir);
    if (!d) {
        return fail_errno(err, err_cap, errno, "%s: cannot read plugin directory", dir);
    }
    int rc = 0;
    struct dirent *entry;
    while (rc == 0 && (entry = readdir(d)) != NULL) {
        if (entry->d_name[0] == '.')
            continue;
        strbuf path = STRBUF_INIT;
        sb_printf(&path, "%s/%s", dir, entry->d_name);
        struct stat st;
        if (stat(path.data, &st) != 0) {
            sb_free(&path);
            continue;
        }
        if (S_ISREG(st.st_mode) && has_so_suffix(entry->d_name)) {
            list->items = xrealloc(list->items, (list->len + 1) * sizeof *list->items);
            list->items[list->len++] = sb_take(&path);
        } else if (S_ISDIR(st.st_mode) && descend) {
            rc = collect(list, path.data, 0, err, err_cap);
        }
        sb_free(&path);
    }
    closedir(d);
    return rc;
}

int plugins_load_dir(plugin_set *set, const char *dir, char *err, size_t err_cap)
{
    path_list list = {NULL, 0};
    int rc = collect(&list, dir, 1, err, err_cap);
    if (rc == 0 && list.len) { /* qsort takes no NULL, even for nothing */
        /* Name order makes "which plugin won" questions reproducible. */
        qsort(list.items, list.len, sizeof *list.items, compare_paths);
        for (size_t i = 0; rc == 0 && i < list.len; i++)
            rc = plugins_load_file(set, list.items[i], err, err_cap);
    }
    path_list_free(&list);
    return rc;
}

const herald_channel *plugins_find_channel(const plugin_set *set, const char *name,
                                           const loaded_plugin **from)
{
    for (size_t i = 0; i < set->len; i++) {
        const herald_plugin *plugin = set->items[i].plugin;
        for (size_t j = 0; j < plugin->channels_len; j++) {
            if (strcmp(plugin->channels[j]->name, name) == 0) {
                if (from)
                    *from = &set->items[i];
                return plugin->channels[j];
            }
        }
    }
    return NULL;
}

void plugins_free(plugin_set *set)
{
    for (size_t i = 0; i < set->len; i++) {
        dlclose(set->items[i].handle);
        free(set->items[i].path);
    }
    free(set->items);
    set->items = NULL;
    set->len = 0;
}

/* The fields below came after 1.0; a plugin built against an older header
 * has a shorter herald_channel, and the comment of each field in plugin.h
 * names what its absence means. */

int channel_needs_payload(const herald_channel *ch, void *instance)
{
    if (!HERALD_HAS_FIELD(herald_channel, ch, needs_payload) || !ch->needs_payload)
        return 0;
    return !HERALD_HAS_FIELD(herald_channel, ch, instance_needs_payload) ||
           !ch->instance_needs_payload || ch->instance_needs_payload(instance);
}

size_t channel_targets(const herald_channel *ch, void *instance)
{
    size_t n = HERALD_HAS_FIELD(herald_channel, ch, targets) && ch->targets ? ch->targets(instance)
                                                                            : 1;
    return n ? n : 1;
}

void channel_target_key(const herald_channel *ch, void *instance, const char *receiver,
                        size_t index, char *out, size_t cap)
{
    if (HERALD_HAS_FIELD(herald_channel, ch, target_key) && ch->target_key)
        ch->target_key(instance, index, out, cap);
    else
        snprintf(out, cap, "%s#%zu", receiver, index);
}

size_t channel_text_budget(const herald_channel *ch, void *instance)
{
    if (HERALD_HAS_FIELD(herald_channel, ch, text_budget) && ch->text_budget)
        return ch->text_budget(instance);
    return ch->max_body_bytes / 4 * 3;
}

unsigned channel_rate_per_second(const herald_channel *ch)
{
    return HERALD_HAS_FIELD(herald_channel, ch, rate_per_second) ? ch->rate_per_second : 0;
}

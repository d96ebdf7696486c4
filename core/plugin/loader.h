/* Loading channel plugins with dlopen and checking their ABI version. */
#ifndef HERALD_PLUGINS_H
#define HERALD_PLUGINS_H

#include <stddef.h>

#include "herald/plugin.h"

typedef struct loaded_plugin {
    char *path;
    void *handle;                 /* dlopen handle */
    const herald_plugin *plugin;
} loaded_plugin;

typedef struct plugin_set {
    loaded_plugin *items;
    size_t len;
} plugin_set;

/* Loads every *.so directly in `dir` and in its immediate subdirectories,
 * in name order. Returns 0, or -1 with a message naming the file (an ABI
 * mismatch names both versions; two plugins defining one channel name
 * the channel and both files). */
int plugins_load_dir(plugin_set *set, const char *dir, char *err, size_t err_cap);
/* Loads one file; same errors as above. */
int plugins_load_file(plugin_set *set, const char *path, char *err, size_t err_cap);
/* Finds a channel by name, or NULL; *from receives its plugin if non-NULL. */
const herald_channel *plugins_find_channel(const plugin_set *set, const char *name,
                                           const loaded_plugin **from);
void plugins_free(plugin_set *set);

/* The channel fields added after 1.0, read through HERALD_HAS_FIELD: a
 * plugin built against an older header gets the default plugin.h names. */
int channel_needs_payload(const herald_channel *ch, void *instance);
size_t channel_targets(const herald_channel *ch, void *instance);
/* The target's key; without the plugin's, "<receiver>#<index>". */
void channel_target_key(const herald_channel *ch, void *instance, const char *receiver,
                        size_t index, char *out, size_t cap);
/* 0: no limit. */
size_t channel_text_budget(const herald_channel *ch, void *instance);
/* The channel's per-second limit per target; 0 for none (or an older plugin). */
unsigned channel_rate_per_second(const herald_channel *ch);

#endif

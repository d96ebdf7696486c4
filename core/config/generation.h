/* A generation is one consistent, checked set of configuration, plugins,
 * route script and templates. Reload builds a new one off to the side and
 * swaps it in; requests and deliveries hold a reference to the generation
 * they started with, so nothing changes under them. */
#ifndef HERALD_GENERATION_H
#define HERALD_GENERATION_H

#include <stdatomic.h>
#include <stddef.h>

#include "config/conf.h"
#include "util/hash.h"
#include "util/strbuf.h"

typedef struct source_file {
    char *name;    /* template name, or "route" */
    char *path;
    char *text;
    size_t len;
} source_file;

#define CONFIG_DIGEST_SIZE SHA256_HEX128_SIZE

typedef struct generation {
    atomic_int refs;
    unsigned number;
    config conf;
    source_file config_text; /* the configuration file as it was read */
    source_file route;
    source_file *templates;
    size_t templates_len;
    /* Set before install when this is not what the files say now (the
     * last good configuration, served because they do not load); /-/ready
     * shows it. NULL normally. */
    char *stale_note;
    /* What the configuration says, whatever folder it is in: replicas
     * serving the same files have the same digest (generation_digest). */
    char config_digest[CONFIG_DIGEST_SIZE];
} generation;

/* Loads the configuration, plugins, route script and templates. Returns a
 * generation with one reference, not yet numbered, or NULL with err naming
 * the file and the problem. Serving uses generation_build (pipeline/
 * check.h), which also runs the self-check. base_dir: see config_load_in
 * (NULL: the file's folder). */
generation *generation_load(const char *config_path, const char *base_dir, char *err,
                            size_t err_cap);
/* SHA-256 (128 bits, in hex) of the configuration text, the route
 * script and each template's name and text: their contents, never their
 * paths. Each part is hashed with its length, so no two different sets
 * of files run together into the same bytes. */
void generation_digest(const generation *g, char out[CONFIG_DIGEST_SIZE]);
/* Removes templates[index] (one no receiver uses that fails to load). */
void generation_drop_template(generation *g, size_t index);
/* Gives a checked generation the next number, for logs and /-/reload. */
void generation_number(generation *g);
/* Appends the human summary `herald check` prints. */
void generation_describe(const generation *g, strbuf *report);
generation *generation_ref(generation *g);
void generation_unref(generation *g);
const source_file *generation_template(const generation *g, const char *name);

/* The generation serving now. acquire returns a new reference (or NULL
 * before the first install); install takes over the caller's reference
 * and drops the one on the generation it replaces. */
generation *generation_acquire(void);
void generation_install(generation *g);

#endif

/* Where herald finds what it ships: the default configuration, the
 * plugins, and the bundled templates and route script. An installed
 * binary (one that runs from the bindir it was built for) finds them in
 * the installed folders; one that runs from the build tree keeps the
 * source checkout's conf/herald.lua and ships nothing beyond it, so the
 * checkout's own files are the only ones a build-tree herald reads. */
#ifndef HERALD_CONFIG_LAYOUT_H
#define HERALD_CONFIG_LAYOUT_H

typedef struct install_layout {
    int installed;
    const char *config;          /* the default for -c */
    const char *plugin_dir;      /* the default plugin_dir */
    /* The shipped folders searched after the configuration's own (NULL
     * when not installed). */
    const char *templates_dir;
    const char *scripts_dir;
} install_layout;

/* Found once from /proc/self/exe. A binary at ROOT + bindir (a `meson
 * install --destdir ROOT` tree) reads every installed path under ROOT
 * as well, so an install can be tried before it is packaged. */
const install_layout *install_layout_get(void);

#endif

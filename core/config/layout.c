#include "config/layout.h"

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/strbuf.h"

#if !defined(HERALD_BINDIR) || !defined(HERALD_SYSCONFDIR) || !defined(HERALD_DATADIR) || \
    !defined(HERALD_PLUGIN_INSTALL_DIR)
#error "the build defines HERALD_BINDIR, HERALD_SYSCONFDIR, HERALD_DATADIR and HERALD_PLUGIN_INSTALL_DIR"
#endif

/* The source checkout's configuration, relative to where herald runs. */
#define CHECKOUT_CONFIG "conf/herald.lua"

static install_layout layout;
static pthread_once_t layout_once = PTHREAD_ONCE_INIT;

static const char *under(const char *root, const char *path)
{
    strbuf sb = STRBUF_INIT;
    sb_printf(&sb, "%s%s", root, path);
    return sb_take(&sb);
}

/* The folder the executable runs from, or "" when /proc cannot say. */
static void executable_dir(char *out, size_t cap)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    out[0] = '\0';
    if (n <= 0)
        return;
    exe[n] = '\0';
    snprintf(out, cap, "%s", dirname(exe));
}

/* The root an installed binary runs under: "" for the bindir itself,
 * ROOT for ROOT + bindir; NULL when it does not run from a bindir. */
static const char *install_root(const char *exe_dir, char *root, size_t cap)
{
    size_t dir_len = strlen(exe_dir), bin_len = strlen(HERALD_BINDIR);
    if (dir_len < bin_len || strcmp(exe_dir + dir_len - bin_len, HERALD_BINDIR) != 0)
        return NULL;
    snprintf(root, cap, "%.*s", (int)(dir_len - bin_len), exe_dir);
    return root;
}

static void find_layout(void)
{
    char exe_dir[PATH_MAX], root_buf[PATH_MAX];
    executable_dir(exe_dir, sizeof exe_dir);
    const char *root = exe_dir[0] ? install_root(exe_dir, root_buf, sizeof root_buf) : NULL;
    if (root) {
        layout.installed = 1;
        layout.config = under(root, HERALD_SYSCONFDIR "/herald/herald.lua");
        layout.plugin_dir = under(root, HERALD_PLUGIN_INSTALL_DIR);
        layout.templates_dir = under(root, HERALD_DATADIR "/templates");
        layout.scripts_dir = under(root, HERALD_DATADIR "/scripts");
        return;
    }
    layout.config = CHECKOUT_CONFIG;
    /* The build tree: its plugins/ sits beside the executable. */
    strbuf built = STRBUF_INIT;
    sb_printf(&built, "%s/plugins", exe_dir);
    struct stat st;
    if (exe_dir[0] && stat(sb_str(&built), &st) == 0 && S_ISDIR(st.st_mode)) {
        layout.plugin_dir = sb_take(&built);
        return;
    }
    sb_free(&built);
    layout.plugin_dir = HERALD_PLUGIN_INSTALL_DIR;
}

const install_layout *install_layout_get(void)
{
    pthread_once(&layout_once, find_layout);
    return &layout;
}

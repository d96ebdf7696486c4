#include "config/paths.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"
#include "util/strbuf.h"

#ifndef HERALD_PLUGIN_INSTALL_DIR
#error "the build defines HERALD_PLUGIN_INSTALL_DIR"
#endif

static int strcmp_indirect(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *default_plugin_dir(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        strbuf candidate = STRBUF_INIT;
        sb_printf(&candidate, "%s/plugins", dirname(exe));
        struct stat st;
        if (stat(sb_str(&candidate), &st) == 0 && S_ISDIR(st.st_mode))
            return sb_take(&candidate);
        sb_free(&candidate);
    }
    return xstrdup(HERALD_PLUGIN_INSTALL_DIR);
}

/* dir/path unless path is absolute. */
static void make_absolute(const char *dir, char **path)
{
    if ((*path)[0] == '/')
        return;
    strbuf sb = STRBUF_INIT;
    sb_printf(&sb, "%s/%s", dir, *path);
    free(*path);
    *path = sb_take(&sb);
}

int resolve_path(conf_reader *rd, const char *key, char **path, int want_dir)
{
    make_absolute(rd->conf->dir, path);
    struct stat st;
    char why[ERRNO_TEXT_SIZE];
    if (stat(*path, &st) != 0)
        return fail_at(rd, key, "%s: %s", *path, errno_text(errno, why, sizeof why));
    if (want_dir && !S_ISDIR(st.st_mode))
        return fail_at(rd, key, "%s: expected a directory", *path);
    if (!want_dir && !S_ISREG(st.st_mode))
        return fail_at(rd, key, "%s: expected a file", *path);
    char *canonical = realpath(*path, NULL);
    if (canonical) {
        free(*path);
        *path = canonical;
    }
    return 0;
}

void resolve_data_dir(config *c)
{
    /* "conf/../data" reads better as "/srv/herald/data". */
    make_absolute(c->dir, &c->data_dir);
    char *copy = xstrdup(c->data_dir);
    char *parent = realpath(dirname(copy), NULL);
    free(copy);
    if (!parent)
        return;
    copy = xstrdup(c->data_dir);
    strbuf dir = STRBUF_INIT;
    sb_printf(&dir, "%s/%s", strcmp(parent, "/") ? parent : "", basename(copy));
    free(copy);
    free(parent);
    free(c->data_dir);
    c->data_dir = sb_take(&dir);
}

/* The store creates data_dir at start: without this check `herald check`
 * would pass what serve refuses. */
int check_data_dir(conf_reader *rd)
{
    const char *data_dir = rd->conf->data_dir;
    char why[ERRNO_TEXT_SIZE];
    struct stat st;
    if (stat(data_dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return fail_at(rd, "data_dir", "%s: not a directory", data_dir);
        if (access(data_dir, W_OK | X_OK) != 0)
            return fail_at(rd, "data_dir", "%s: not writable by this user (%s)", data_dir,
                           errno_text(errno, why, sizeof why));
        return 0;
    }
    if (errno != ENOENT)
        return fail_at(rd, "data_dir", "%s: %s", data_dir, errno_text(errno, why, sizeof why));
    char *copy = xstrdup(data_dir);
    const char *parent = dirname(copy);
    int rc = 0;
    if (access(parent, W_OK | X_OK) != 0)
        rc = fail_at(rd, "data_dir", "%s: cannot be created: %s: %s", data_dir, parent,
                     errno_text(errno, why, sizeof why));
    free(copy);
    return rc;
}

int read_template_names(conf_reader *rd)
{
    config *c = rd->conf;
    DIR *d = opendir(c->templates_dir);
    char why[ERRNO_TEXT_SIZE];
    if (!d)
        return fail_at(rd, "templates", "%s: %s", c->templates_dir,
                       errno_text(errno, why, sizeof why));
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".lua") == 0 && e->d_name[0] != '.') {
            c->template_names = xrealloc(c->template_names,
                                         (c->template_names_len + 1) * sizeof(char *));
            c->template_names[c->template_names_len++] = xstrndup(e->d_name, len - 4);
        }
    }
    closedir(d);
    qsort(c->template_names, c->template_names_len, sizeof(char *), strcmp_indirect);
    return 0;
}

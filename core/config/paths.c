#include "config/paths.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/layout.h"
#include "util/error.h"
#include "util/strbuf.h"

char *default_plugin_dir(void)
{
    return xstrdup(install_layout_get()->plugin_dir);
}

void make_absolute(const char *dir, char **path)
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


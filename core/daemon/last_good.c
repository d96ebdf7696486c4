#include "daemon/last_good.h"

#include <errno.h>
#include <ftw.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pipeline/check.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strbuf.h"

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return (type == FTW_DP ? rmdir(path) : unlink(path)) != 0 && errno != ENOENT ? -1 : 0;
}

static int remove_tree(const char *path)
{
    return nftw(path, remove_entry, 8, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT ? -1 : 0;
}

/* 0600: a configuration may hold what should stay private. */
static int write_file(const char *path, const char *text, size_t len, const char *tail)
{
    FILE *f = fopen(path, "wx");
    if (!f)
        return -1;
    chmod(path, 0600);
    int ok = fwrite(text, 1, len, f) == len && (!tail || fputs(tail, f) >= 0);
    return fclose(f) == 0 && ok ? 0 : -1;
}

static int write_copy(const generation *g, const char *tmp, const char *final)
{
    strbuf path = STRBUF_INIT, tail = STRBUF_INIT;
    /* Read as the original (see last_good_build), but with these two. */
    sb_printf(&tail, "\n-- herald: the route and templates saved with this copy\n"
                     "route = [==[%s/route.lua]==]\ntemplates = [==[%s/templates]==]\n",
              final, final);
    int rc = mkdir(tmp, 0700);
    sb_printf(&path, "%s/templates", tmp);
    rc = rc || mkdir(sb_str(&path), 0700);
    sb_reset(&path);
    sb_printf(&path, "%s/herald.lua", tmp);
    rc = rc || write_file(sb_str(&path), g->config_text.text, g->config_text.len, sb_str(&tail));
    sb_reset(&path);
    sb_printf(&path, "%s/route.lua", tmp);
    rc = rc || write_file(sb_str(&path), g->route.text, g->route.len, NULL);
    for (size_t i = 0; i < g->templates_len && !rc; i++) {
        sb_reset(&path);
        sb_printf(&path, "%s/templates/%s.lua", tmp, g->templates[i].name);
        rc = write_file(sb_str(&path), g->templates[i].text, g->templates[i].len, NULL);
    }
    sb_free(&path);
    sb_free(&tail);
    return rc;
}

void last_good_save(const generation *g)
{
    strbuf final = STRBUF_INIT, tmp = STRBUF_INIT, old = STRBUF_INIT;
    sb_printf(&final, "%s/last-good", g->conf.data_dir);
    sb_printf(&tmp, "%s/last-good.new", g->conf.data_dir);
    sb_printf(&old, "%s/last-good.old", g->conf.data_dir);
    int rc = remove_tree(sb_str(&tmp)) || remove_tree(sb_str(&old)) ||
             write_copy(g, sb_str(&tmp), sb_str(&final)) ||
             (rename(sb_str(&final), sb_str(&old)) != 0 && errno != ENOENT) ||
             rename(sb_str(&tmp), sb_str(&final)) != 0;
    if (rc) {
        char why[ERRNO_TEXT_SIZE];
        log_warn("config", "cannot save the configuration that serves in %s (%s): a start whose "
                 "files do not load will have no copy to serve", sb_str(&final),
                 errno_text(errno, why, sizeof why));
    }
    remove_tree(sb_str(&old));
    sb_free(&final);
    sb_free(&tmp);
    sb_free(&old);
}

generation *last_good_build(const char *config_path, const char *why_not_files, char *err,
                            size_t err_cap)
{
    char *data_dir = NULL;
    char why[1024];
    if (config_data_dir(config_path, &data_dir, why, sizeof why)) {
        fail(err, err_cap, "no last good configuration to serve: its data_dir cannot be read "
             "from %s", config_path);
        return NULL;
    }
    strbuf copy = STRBUF_INIT;
    sb_printf(&copy, "%s/last-good/herald.lua", data_dir);
    free(data_dir);
    generation *g = NULL;
    struct stat st;
    if (stat(sb_str(&copy), &st) != 0) {
        fail(err, err_cap, "no last good configuration to serve: none saved as %s", sb_str(&copy));
        goto done;
    }
    char *folder = xstrdup(config_path);
    g = generation_build_in(sb_str(&copy), dirname(folder), NULL, why, sizeof why);
    free(folder);
    if (!g) {
        fail(err, err_cap, "the last good configuration does not load either: %s", why);
        goto done;
    }
    char saved[32];
    struct tm tm;
    strftime(saved, sizeof saved, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&st.st_mtime, &tm));
    strbuf note = STRBUF_INIT;
    sb_printf(&note, "serving the last good configuration (saved %s as %s) because %s does not "
                     "load: %s; a reload of good files ends this", saved, sb_str(&copy),
              config_path, why_not_files);
    g->stale_note = sb_take(&note);
done:
    sb_free(&copy);
    return g;
}

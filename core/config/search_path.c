#include "config/search_path.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lua.h>

#include "config/layout.h"
#include "config/paths.h"
#include "util/error.h"
#include "util/strbuf.h"

typedef struct found_template {
    char *name;
    char *path;
} found_template;

typedef struct template_list {
    found_template *items;
    size_t len;
} template_list;

static int by_name(const void *a, const void *b)
{
    return strcmp(((const found_template *)a)->name, ((const found_template *)b)->name);
}

static int listed(const template_list *list, const char *name, size_t name_len)
{
    for (size_t i = 0; i < list->len; i++)
        if (strlen(list->items[i].name) == name_len &&
            strncmp(list->items[i].name, name, name_len) == 0)
            return 1;
    return 0;
}

/* Adds every *.lua in dir whose name is not listed yet. */
static int add_folder(conf_reader *rd, const char *dir, template_list *list)
{
    char why[ERRNO_TEXT_SIZE];
    DIR *d = opendir(dir);
    if (!d)
        return fail_at(rd, "templates", "%s: %s", dir, errno_text(errno, why, sizeof why));
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len <= 4 || strcmp(e->d_name + len - 4, ".lua") != 0 || e->d_name[0] == '.' ||
            listed(list, e->d_name, len - 4))
            continue;
        list->items = xrealloc(list->items, (list->len + 1) * sizeof *list->items);
        strbuf path = STRBUF_INIT;
        sb_printf(&path, "%s/%s", dir, e->d_name);
        list->items[list->len].name = xstrndup(e->d_name, len - 4);
        list->items[list->len].path = sb_take(&path);
        list->len++;
    }
    closedir(d);
    return 0;
}

static int is_folder(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* path as the configuration names it, relative to its folder dir. */
static int is_folder_in(const char *dir, const char *path)
{
    char *absolute = xstrdup(path);
    make_absolute(dir, &absolute);
    int folder = is_folder(absolute);
    free(absolute);
    return folder;
}

static int same_folder(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* Whether the file's table (at the top of the stack) sets key. */
static int key_is_set(conf_reader *rd, const char *key)
{
    lua_getfield(rd->L, -1, key);
    int set = !lua_isnil(rd->L, -1);
    lua_pop(rd->L, 1);
    return set;
}

int find_templates(conf_reader *rd)
{
    config *c = rd->conf;
    const char *shipped = install_layout_get()->templates_dir;
    template_list list = {NULL, 0};
    int rc = 0;
    /* Installed, a configuration need not have templates of its own. */
    if (!shipped || key_is_set(rd, "templates") || is_folder_in(c->dir, c->templates_dir))
        rc = resolve_path(rd, "templates", &c->templates_dir, 1) ||
             add_folder(rd, c->templates_dir, &list);
    else
        make_absolute(c->dir, &c->templates_dir); /* named in messages */
    if (!rc && shipped && is_folder(shipped) && !same_folder(shipped, c->templates_dir)) {
        c->shipped_templates_dir = xstrdup(shipped);
        rc = add_folder(rd, shipped, &list);
    }
    if (list.len) /* qsort's array must not be NULL, even empty */
        qsort(list.items, list.len, sizeof *list.items, by_name);
    c->template_names = xcalloc(list.len ? list.len : 1, sizeof *c->template_names);
    c->template_paths = xcalloc(list.len ? list.len : 1, sizeof *c->template_paths);
    for (size_t i = 0; i < list.len; i++) {
        c->template_names[i] = list.items[i].name;
        c->template_paths[i] = list.items[i].path;
    }
    c->template_names_len = list.len;
    free(list.items);
    return rc ? -1 : 0;
}

int find_route(conf_reader *rd)
{
    config *c = rd->conf;
    const char *shipped = install_layout_get()->scripts_dir;
    char *own = xstrdup(c->route_path);
    make_absolute(c->dir, &own);
    struct stat st;
    if (!shipped || stat(own, &st) == 0 || errno != ENOENT) {
        free(own);
        return resolve_path(rd, "route", &c->route_path, 0);
    }
    char *copy = xstrdup(own);
    strbuf candidate = STRBUF_INIT;
    sb_printf(&candidate, "%s/%s", shipped, basename(copy));
    free(copy);
    int rc = 0;
    if (stat(sb_str(&candidate), &st) == 0) {
        free(c->route_path);
        c->route_path = sb_take(&candidate);
        rc = resolve_path(rd, "route", &c->route_path, 0);
    } else {
        rc = fail_at(rd, "route", "%s: no such file, nor is there a shipped %s", own,
                     sb_str(&candidate));
    }
    sb_free(&candidate);
    free(own);
    return rc;
}

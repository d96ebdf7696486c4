/* Helpers for core tests: temporary directories and files. */
#ifndef HERALD_TESTUTIL_H
#define HERALD_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/strbuf.h"

/* A fresh directory under /tmp; the caller frees the returned path. */
static inline char *test_tmpdir(void)
{
    char *dir = xstrdup("/tmp/herald-test-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        abort();
    }
    return dir;
}

/* Writes dir/name and returns its path (caller frees). */
static inline char *test_write(const char *dir, const char *name, const char *content)
{
    strbuf path = STRBUF_INIT;
    sb_printf(&path, "%s/%s", dir, name);
    FILE *f = fopen(sb_str(&path), "w");
    if (!f) {
        perror(sb_str(&path));
        abort();
    }
    fputs(content, f);
    fclose(f);
    return sb_take(&path);
}

static inline char *test_read(const char *path, size_t *len)
{
    strbuf sb = STRBUF_INIT;
    if (sb_read_file(&sb, path)) {
        perror(path);
        abort();
    }
    if (len)
        *len = sb.len;
    return sb_take(&sb);
}

static inline void test_rmtree(const char *dir)
{
    strbuf cmd = STRBUF_INIT;
    sb_printf(&cmd, "rm -rf '%s'", dir);
    if (system(sb_str(&cmd)) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    sb_free(&cmd);
}

#endif

#include "config/env_file.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"
#include "util/strbuf.h"

/* Opened first and checked through the descriptor, so the file judged is
 * the file read. */
static int open_checked(const char *path, char *err, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return fail_errno(err, cap, errno, "%s", path);
    struct stat st;
    const char *wrong = NULL;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return fail_errno(err, cap, e, "%s", path);
    }
    if (!S_ISREG(st.st_mode))
        wrong = "not a regular file";
    else if (st.st_uid != 0 && st.st_uid != geteuid())
        wrong = "owned by another user than root or the one herald runs as";
    else if (st.st_mode & S_IROTH)
        wrong = "readable by every user: chmod o-r it";
    else if (st.st_mode & (S_IWGRP | S_IWOTH))
        wrong = "writable by other users: chmod go-w it";
    if (wrong) {
        close(fd);
        return fail(err, cap, "%s: %s (it holds secrets; mode %04o)", path, wrong,
                    (unsigned)(st.st_mode & 07777));
    }
    return fd;
}

static int valid_name(const char *s, size_t n)
{
    if (n == 0 || isdigit((unsigned char)s[0]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_')
            return 0;
    return 1;
}

/* The value after '=' up to `end`: quoted or trimmed. Returns 0, or -1
 * with the reason (never the value) in *why. */
static int parse_value(const char *p, const char *end, strbuf *out, const char **why)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        end--;
    if (p == end || (*p != '"' && *p != '\'')) {
        sb_append(out, p, (size_t)(end - p));
        return 0;
    }
    char quote = *p++;
    for (; p < end && *p != quote; p++) {
        if (quote == '"' && *p == '\\' && p + 1 < end) {
            p++;
            sb_putc(out, *p == 'n' ? '\n' : *p == 't' ? '\t' : *p);
        } else {
            sb_putc(out, *p);
        }
    }
    if (p == end) {
        *why = "the quoted value has no closing quote";
        return -1;
    }
    if (p + 1 != end) {
        *why = "text after the closing quote";
        return -1;
    }
    return 0;
}

static void put(env_file *f, const char *name, size_t name_len, strbuf *value)
{
    for (size_t i = 0; i < f->len; i++)
        if (strlen(f->names[i]) == name_len && memcmp(f->names[i], name, name_len) == 0) {
            free(f->values[i]);
            f->values[i] = sb_take(value);
            return;
        }
    f->names = xrealloc(f->names, (f->len + 1) * sizeof *f->names);
    f->values = xrealloc(f->values, (f->len + 1) * sizeof *f->values);
    f->names[f->len] = xstrndup(name, name_len);
    f->values[f->len++] = sb_take(value);
}

static int parse_line(env_file *f, const char *line, const char *end, size_t number, char *err,
                      size_t cap)
{
    while (line < end && isspace((unsigned char)*line))
        line++;
    if (line == end || *line == '#' || *line == ';')
        return 0;
    if ((size_t)(end - line) > 7 && strncmp(line, "export ", 7) == 0)
        line += 7;
    const char *eq = memchr(line, '=', (size_t)(end - line));
    if (!eq)
        return fail(err, cap, "%s:%zu: expected NAME=VALUE", f->path, number);
    const char *name_end = eq;
    while (name_end > line && (name_end[-1] == ' ' || name_end[-1] == '\t'))
        name_end--;
    if (!valid_name(line, (size_t)(name_end - line)))
        return fail(err, cap, "%s:%zu: \"%.*s\" is not a variable name (letters, digits, _)",
                    f->path, number, (int)(name_end - line > 64 ? 64 : name_end - line), line);
    strbuf value = STRBUF_INIT;
    const char *why = NULL;
    if (parse_value(eq + 1, end, &value, &why)) {
        sb_free(&value);
        return fail(err, cap, "%s:%zu: %.*s: %s", f->path, number, (int)(name_end - line), line,
                    why);
    }
    put(f, line, (size_t)(name_end - line), &value);
    return 0;
}

int env_file_read(const char *path, env_file *out, char *err, size_t err_cap)
{
    memset(out, 0, sizeof *out);
    out->path = xstrdup(path);
    int fd = open_checked(path, err, err_cap);
    if (fd < 0) {
        env_file_free(out);
        return -1;
    }
    strbuf text = STRBUF_INIT;
    char chunk[4096];
    ssize_t got;
    while ((got = read(fd, chunk, sizeof chunk)) > 0)
        sb_append(&text, chunk, (size_t)got);
    int read_errno = got < 0 ? errno : 0;
    close(fd);
    int rc = read_errno ? fail_errno(err, err_cap, read_errno, "%s", path) : 0;
    const char *p = sb_str(&text), *end = p + text.len;
    for (size_t number = 1; rc == 0 && p < end; number++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        rc = parse_line(out, p, line_end, number, err, err_cap);
        p = nl ? nl + 1 : end;
    }
    sb_free(&text);
    if (rc)
        env_file_free(out);
    return rc;
}

const char *env_file_get(const env_file *f, const char *name)
{
    for (size_t i = 0; i < f->len; i++)
        if (strcmp(f->names[i], name) == 0)
            return f->values[i];
    return NULL;
}

void env_file_free(env_file *f)
{
    for (size_t i = 0; i < f->len; i++) {
        free(f->names[i]);
        free(f->values[i]);
    }
    free(f->names);
    free(f->values);
    free(f->path);
    memset(f, 0, sizeof *f);
}

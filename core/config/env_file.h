/* The configuration's env_file: NAME=VALUE lines that env() reads before
 * the process environment, read again at every load so a reload picks up
 * rotated secrets (systemd reads an EnvironmentFile only at start).
 *
 * The format is systemd's EnvironmentFile, minus line continuations:
 * blank lines and lines starting with # or ; are skipped, "export " before
 * a name is allowed, a value may be in '…' (as is) or "…" (\" \\ \n \t
 * escapes), an unquoted value is trimmed. Since it holds secrets, the file
 * must be a regular file owned by root or by the user herald runs as, and
 * neither readable by everyone nor writable by anyone else. Messages never
 * show a value. */
#ifndef HERALD_CONFIG_ENV_FILE_H
#define HERALD_CONFIG_ENV_FILE_H

#include <stddef.h>

typedef struct env_file {
    char *path;
    char **names;
    char **values;
    size_t len;
} env_file;

/* Reads `path` into out (a name given twice: the last wins, as in a
 * shell). Returns 0, or -1 with "PATH[:LINE]: what is wrong" in err. */
int env_file_read(const char *path, env_file *out, char *err, size_t err_cap);
/* The value of `name`, or NULL. */
const char *env_file_get(const env_file *f, const char *name);
void env_file_free(env_file *f);

#endif

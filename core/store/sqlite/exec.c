#include "store/sqlite/private.h"

#include "util/error.h"

int sqlite_exec(sqlite3 *db, const char *sql, char *err, size_t err_cap)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    fail(err, err_cap, "%s", msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return -1;
}

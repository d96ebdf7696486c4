/* Time zones from the system's TZif files (/usr/share/zoneinfo), so the
 * configured zone is used without touching the process-wide TZ. */
#ifndef HERALD_TZ_H
#define HERALD_TZ_H

#include <stddef.h>
#include <stdint.h>

typedef struct tz_zone tz_zone;

/* Accepts an IANA name ("Asia/Shanghai"), "UTC", "Local" (the system's
 * /etc/localtime; UTC when there is none, as in libc) or a fixed offset
 * "+08:00"/"-0530"/"+8". Names with ".." or a leading "/" are refused.
 * Only TZif version 2+ files are read; instants after the last transition
 * follow the file's POSIX TZ footer. Returns NULL with a message in err
 * when unknown or unreadable. */
tz_zone *tz_load(const char *name, char *err, size_t err_cap);
void tz_free(tz_zone *zone);
const char *tz_name(const tz_zone *zone);
/* A NULL zone means UTC in the three functions below. */
/* Seconds east of UTC at that instant, and the abbreviation ("CST"),
 * valid as long as the zone. */
int32_t tz_offset(const tz_zone *zone, int64_t epoch_s, const char **abbrev);
/* strftime in the zone; %z and %Z give the zone's offset and abbreviation.
 * Returns the length written, or 0 with out = "" when the result does not
 * fit in cap (or is empty). */
size_t tz_format(const tz_zone *zone, int64_t epoch_s, const char *fmt, char *out, size_t cap);

#endif

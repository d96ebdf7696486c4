#include "alert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "strbuf.h"

const char *alert_status_name(alert_status status)
{
    return status == ALERT_FIRING ? "firing" : "resolved";
}

static size_t labelset_find(const labelset *set, const char *name, int *found)
{
    size_t lo = 0, hi = set->len;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(set->items[mid].name, name);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

void labelset_set(labelset *set, const char *name, const char *value)
{
    int found;
    size_t at = labelset_find(set, name, &found);
    if (found) {
        free(set->items[at].value);
        set->items[at].value = xstrdup(value);
        return;
    }
    set->items = xrealloc(set->items, (set->len + 1) * sizeof *set->items);
    memmove(set->items + at + 1, set->items + at, (set->len - at) * sizeof *set->items);
    set->items[at].name = xstrdup(name);
    set->items[at].value = xstrdup(value);
    set->len++;
}

const char *labelset_get(const labelset *set, const char *name)
{
    int found;
    size_t at = labelset_find(set, name, &found);
    return found ? set->items[at].value : NULL;
}

void labelset_free(labelset *set)
{
    for (size_t i = 0; i < set->len; i++) {
        free(set->items[i].name);
        free(set->items[i].value);
    }
    free(set->items);
    set->items = NULL;
    set->len = 0;
}

void labelset_common(labelset *out, const alert *alerts, size_t len, int annotations)
{
    if (len == 0)
        return;
    const labelset *first = annotations ? &alerts[0].annotations : &alerts[0].labels;
    for (size_t i = 0; i < first->len; i++) {
        const label *l = &first->items[i];
        int shared = 1;
        for (size_t a = 1; a < len && shared; a++) {
            const labelset *other = annotations ? &alerts[a].annotations : &alerts[a].labels;
            const char *v = labelset_get(other, l->name);
            shared = v && strcmp(v, l->value) == 0;
        }
        if (shared)
            labelset_set(out, l->name, l->value);
    }
}

void alert_fingerprint(const labelset *labels, char out[17])
{
    /* Same hash as Prometheus' LabelSet.Fingerprint, so fingerprints herald
     * computes for Prometheus-style alerts match Alertmanager's. */
    const uint64_t offset = 14695981039346656037ULL, prime = 1099511628211ULL;
    uint64_t h = offset;
    for (size_t i = 0; i < labels->len; i++) {
        const char *parts[2] = {labels->items[i].name, labels->items[i].value};
        for (int p = 0; p < 2; p++) {
            for (const unsigned char *c = (const unsigned char *)parts[p]; *c; c++) {
                h ^= *c;
                h *= prime;
            }
            h ^= 0xff;
            h *= prime;
        }
    }
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

void labelset_to_json(const labelset *set, strbuf *out)
{
    sb_putc(out, '{');
    for (size_t i = 0; i < set->len; i++) {
        if (i)
            sb_putc(out, ',');
        sb_json_string(out, set->items[i].name, strlen(set->items[i].name));
        sb_putc(out, ':');
        sb_json_string(out, set->items[i].value, strlen(set->items[i].value));
    }
    sb_putc(out, '}');
}

void alert_free(alert *a)
{
    labelset_free(&a->labels);
    labelset_free(&a->annotations);
    free(a->generator_url);
    a->generator_url = NULL;
}

void alert_batch_free(alert_batch *batch)
{
    for (size_t i = 0; i < batch->len; i++)
        alert_free(&batch->alerts[i]);
    free(batch->alerts);
    labelset_free(&batch->group_labels);
    labelset_free(&batch->common_labels);
    labelset_free(&batch->common_annotations);
    free(batch->am_receiver);
    free(batch->external_url);
    free(batch->group_key);
    memset(batch, 0, sizeof *batch);
}

static int parse_digits(const char **p, int count, int *out)
{
    int v = 0;
    for (int i = 0; i < count; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9')
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += count;
    *out = v;
    return 0;
}

int parse_rfc3339(const char *text, double *epoch)
{
    const char *p = text;
    int year, mon, day, hour, min, sec;
    if (parse_digits(&p, 4, &year) || *p++ != '-' || parse_digits(&p, 2, &mon) ||
        *p++ != '-' || parse_digits(&p, 2, &day) || (*p != 'T' && *p != 't' && *p != ' '))
        return -1;
    p++;
    if (parse_digits(&p, 2, &hour) || *p++ != ':' || parse_digits(&p, 2, &min) ||
        *p++ != ':' || parse_digits(&p, 2, &sec))
        return -1;
    static const int month_days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (mon < 1 || mon > 12 || day < 1 || day > month_days[mon - 1] ||
        (mon == 2 && day == 29 && !leap) || hour > 23 || min > 59 || sec > 60)
        return -1;
    double fraction = 0, scale = 0.1;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        while (*p >= '0' && *p <= '9') {
            fraction += (*p - '0') * scale;
            scale /= 10;
            p++;
        }
    }
    long offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om;
        p++;
        if (parse_digits(&p, 2, &oh) || *p++ != ':' || parse_digits(&p, 2, &om) || oh > 23 ||
            om > 59)
            return -1;
        offset = sign * (oh * 3600L + om * 60L);
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    if (year == 1) { /* Go's zero time: Alertmanager's "no end yet" */
        *epoch = 0;
        return 0;
    }
    struct tm tm = {.tm_year = year - 1900, .tm_mon = mon - 1, .tm_mday = day,
                    .tm_hour = hour, .tm_min = min, .tm_sec = sec};
    *epoch = (double)timegm(&tm) - (double)offset + fraction;
    return 0;
}

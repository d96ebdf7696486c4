#include "alert/alert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/strbuf.h"

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

/* A label's name and value in one block, the name first: reading an
 * alert's labels made two allocations per label, and their frees. */
static label label_new(const char *name, const char *value)
{
    char *copies[2];
    xstrdups_in_block((const char *const[]){name, value}, 2, copies);
    return (label){copies[0], copies[1], strlen(copies[0]), strlen(copies[1])};
}

/* Whether a label's text is in the set's strings, not a block of its own. */
static int in_strings(const labelset *set, const char *text)
{
    uintptr_t at = (uintptr_t)text, start = (uintptr_t)set->strings;
    return set->strings && at >= start && at - start < set->strings_size;
}

static void label_free(const labelset *set, label *l)
{
    if (!in_strings(set, l->name))
        free(l->name);
}

void labelset_set(labelset *set, const char *name, const char *value)
{
    int found;
    size_t at = labelset_find(set, name, &found);
    if (found) {
        /* made before the old one is freed: value may point into it */
        label old = set->items[at];
        set->items[at] = label_new(old.name, value);
        label_free(set, &old);
        return;
    }
    if (set->len >= set->cap) {
        /* an alert has a dozen labels: grown one by one, each was a realloc */
        set->cap = set->len < 4 ? 8 : 2 * set->len;
        set->items = xrealloc(set->items, set->cap * sizeof *set->items);
    }
    memmove(set->items + at + 1, set->items + at, (set->len - at) * sizeof *set->items);
    set->items[at] = label_new(name, value);
    set->len++;
}

const char *labelset_get(const labelset *set, const char *name)
{
    int found;
    size_t at = labelset_find(set, name, &found);
    return found ? set->items[at].value : NULL;
}

static int compare_labels(const void *a, const void *b)
{
    return strcmp(((const label *)a)->name, ((const label *)b)->name);
}

void labelset_fill(labelset *set, const char *const *pairs, size_t n)
{
    if (n == 0)
        return;
    size_t size = 0;
    for (size_t i = 0; i < 2 * n; i++)
        size += strlen(pairs[i]) + 1;
    set->items = xmalloc(n * sizeof *set->items);
    set->len = set->cap = n;
    set->strings = xmalloc(size);
    set->strings_size = size;
    char *at = set->strings;
    int sorted = 1;
    for (size_t i = 0; i < n; i++) {
        char *texts[2];
        size_t lens[2];
        for (int k = 0; k < 2; k++) {
            texts[k] = at;
            at = stpcpy(at, pairs[2 * i + k]); /* copied and measured in one pass */
            lens[k] = (size_t)(at++ - texts[k]);
        }
        set->items[i] = (label){texts[0], texts[1], lens[0], lens[1]};
        sorted = sorted && (i == 0 || strcmp(set->items[i - 1].name, texts[0]) < 0);
    }
    /* Alertmanager's names come sorted (Go writes a map's keys in order) */
    if (!sorted)
        qsort(set->items, n, sizeof *set->items, compare_labels);
}

void labelset_free(labelset *set)
{
    for (size_t i = 0; i < set->len; i++)
        label_free(set, &set->items[i]);
    free(set->items);
    free(set->strings);
    *set = (labelset){0};
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
        sb_json_string(out, set->items[i].name, set->items[i].name_len);
        sb_putc(out, ':');
        sb_json_string(out, set->items[i].value, set->items[i].value_len);
    }
    sb_putc(out, '}');
}

void alert_free(alert *a)
{
    labelset_free(&a->labels);
    labelset_free(&a->annotations);
    free(a->generator_url);
    a->generator_url = NULL;
    labelset_free(&a->grafana);
    for (size_t i = 0; i < a->values_len; i++)
        free(a->values[i].name);
    free(a->values);
    a->values = NULL;
    a->values_len = 0;
}

void alert_batch_free(alert_batch *batch)
{
    for (size_t i = 0; i < batch->len; i++)
        alert_free(&batch->alerts[i]);
    free(batch->alerts);
    labelset_free(&batch->group_labels);
    labelset_free(&batch->common_labels);
    labelset_free(&batch->common_annotations);
    labelset_free(&batch->grafana);
    free(batch->am_receiver);
    free(batch->external_url);
    free(batch->group_key);
    memset(batch, 0, sizeof *batch);
}

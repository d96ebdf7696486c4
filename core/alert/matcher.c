#include "alert/matcher.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/json.h"
#include "util/strbuf.h"

static const char *skip_space(const char *p)
{
    while (isspace((unsigned char)*p))
        p++;
    return p;
}

static int is_name_char(char c, int first)
{
    return c == '_' || isalpha((unsigned char)c) || (!first && isdigit((unsigned char)c));
}

/* A quoted value, p after the opening quote: the text up to the closing
 * one, unescaped; NULL when it never closes. */
static char *read_quoted(const char **p)
{
    strbuf v = STRBUF_INIT;
    const char *s = *p;
    for (; *s && *s != '"'; s++) {
        if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
            s++;
        sb_putc(&v, *s);
    }
    if (*s != '"') {
        sb_free(&v);
        return NULL;
    }
    *p = s + 1;
    return sb_take(&v);
}

/* One matcher from p; advances p past it. */
static int read_matcher(const char **p, matcher *m, char *err, size_t err_cap)
{
    const char *s = skip_space(*p), *start = s;
    if (!is_name_char(*s, 1))
        return fail(err, err_cap, "expected a label name at \"%s\"", s);
    while (is_name_char(*s, 0))
        s++;
    m->name = xstrndup(start, (size_t)(s - start));
    s = skip_space(s);
    if (strncmp(s, "=~", 2) == 0)
        m->op = MATCH_REGEX, s += 2;
    else if (strncmp(s, "!~", 2) == 0)
        m->op = MATCH_NOT_REGEX, s += 2;
    else if (strncmp(s, "!=", 2) == 0)
        m->op = MATCH_NOT_EQUAL, s += 2;
    else if (*s == '=')
        m->op = MATCH_EQUAL, s += 1;
    else
        return fail(err, err_cap,
                    "%s: expected =, !=, =~ or !~ after the label name (a label name is letters, "
                    "digits and _)",
                    m->name);
    s = skip_space(s);
    if (*s == '"') {
        s++;
        m->value = read_quoted(&s);
        if (!m->value)
            return fail(err, err_cap, "%s: the quoted value has no closing quote", m->name);
    } else {
        const char *end = s;
        while (*end && *end != ',' && *end != '}')
            end++;
        while (end > s && isspace((unsigned char)end[-1]))
            end--;
        m->value = xstrndup(s, (size_t)(end - s));
        s = end;
    }
    if (m->op == MATCH_REGEX || m->op == MATCH_NOT_REGEX) {
        strbuf anchored = STRBUF_INIT;
        sb_printf(&anchored, "^(%s)$", m->value);
        int rc = regcomp(&m->regex, sb_str(&anchored), REG_EXTENDED | REG_NOSUB);
        sb_free(&anchored);
        if (rc) {
            char why[128];
            regerror(rc, &m->regex, why, sizeof why);
            regfree(&m->regex);
            m->op = MATCH_EQUAL; /* nothing compiled to free */
            return fail(err, err_cap, "%s: bad regular expression \"%s\": %s", m->name, m->value,
                        why);
        }
    }
    *p = s;
    return 0;
}

static void matcher_free(matcher *m)
{
    free(m->name);
    free(m->value);
    if (m->op == MATCH_REGEX || m->op == MATCH_NOT_REGEX)
        regfree(&m->regex);
}

int matchers_parse(const char *text, matcher_set *set, char *err, size_t err_cap)
{
    size_t had = set->len;
    const char *p = skip_space(text);
    int braced = *p == '{';
    if (braced)
        p = skip_space(p + 1);
    while (*p && *p != '}') {
        matcher m = {0};
        if (read_matcher(&p, &m, err, err_cap)) {
            matcher_free(&m);
            goto bad;
        }
        set->items = xrealloc(set->items, (set->len + 1) * sizeof *set->items);
        set->items[set->len++] = m;
        p = skip_space(p);
        if (*p == ',')
            p = skip_space(p + 1);
        else if (*p && *p != '}') {
            fail(err, err_cap, "expected a comma after %s at \"%s\"", m.name, p);
            goto bad;
        }
    }
    if (braced != (*p == '}') || (*p == '}' && *skip_space(p + 1))) {
        fail(err, err_cap, "%s", braced ? "missing the closing }" : "unexpected text after }");
        goto bad;
    }
    if (set->len == had) {
        fail(err, err_cap, "%s", "no matcher given");
        goto bad;
    }
    return 0;
bad:
    while (set->len > had)
        matcher_free(&set->items[--set->len]);
    if (!set->len) {
        free(set->items);
        set->items = NULL;
    }
    return -1;
}

void matchers_free(matcher_set *set)
{
    for (size_t i = 0; i < set->len; i++)
        matcher_free(&set->items[i]);
    free(set->items);
    memset(set, 0, sizeof *set);
}

static int matches(const matcher *m, const char *value)
{
    switch (m->op) {
    case MATCH_EQUAL: return strcmp(value, m->value) == 0;
    case MATCH_NOT_EQUAL: return strcmp(value, m->value) != 0;
    case MATCH_REGEX: return regexec(&m->regex, value, 0, NULL, 0) == 0;
    case MATCH_NOT_REGEX: return regexec(&m->regex, value, 0, NULL, 0) != 0;
    }
    return 0;
}

int matchers_match_json(const matcher_set *set, const char *labels_json)
{
    if (!set || set->len == 0)
        return 1;
    cJSON *labels = json_parse(labels_json, strlen(labels_json));
    int ok = 1;
    for (size_t i = 0; i < set->len && ok; i++) {
        const char *value = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(labels, set->items[i].name));
        ok = matches(&set->items[i], value ? value : "");
    }
    cJSON_Delete(labels);
    return ok;
}

int matchers_match_labels(const matcher_set *set, const labelset *labels)
{
    for (size_t i = 0; set && i < set->len; i++) {
        const char *value = labelset_get(labels, set->items[i].name);
        if (!matches(&set->items[i], value ? value : ""))
            return 0;
    }
    return 1;
}

int matcher_matches_empty(const matcher *m)
{
    return matches(m, "");
}

/* The email channel's receivers: options to a mailer (addresses parsed,
 * URL, credentials and TLS mode checked together). */
#include "mailer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const herald_option_spec mailer_options[OPT_COUNT] = {
    [OPT_URL] = {"url", HERALD_OPTION_STRING, 1, 0,
                 "mail server, smtp://host:587 (STARTTLS) or smtps://host:465"},
    [OPT_FROM] = {"from", HERALD_OPTION_STRING, 1, 0,
                  "sender, \"herald <alerts@example.com>\" or a bare address"},
    [OPT_TO] = {"to", HERALD_OPTION_STRING_LIST, 1, 0, "recipients"},
    [OPT_CC] = {"cc", HERALD_OPTION_STRING_LIST, 0, 0, "copy recipients"},
    [OPT_USERNAME] = {"username", HERALD_OPTION_STRING, 0, 0, "SMTP AUTH user"},
    [OPT_PASSWORD] = {"password", HERALD_OPTION_STRING, 0, 1, "SMTP AUTH password"},
    [OPT_TLS] = {"tls", HERALD_OPTION_STRING, 0, 0,
                 "\"opportunistic\" (default: STARTTLS when offered), \"starttls\" "
                 "(required) or \"none\""},
    [OPT_SUBJECT_PREFIX] = {"subject_prefix", HERALD_OPTION_STRING, 0, 0,
                            "text put before every subject, e.g. \"[prod] \""},
};

static char *copy_bytes(const char *text, size_t len)
{
    char *copy = malloc(len + 1);
    if (copy) {
        memcpy(copy, text, len);
        copy[len] = '\0';
    }
    return copy;
}

static char *copy_string(const char *text) { return copy_bytes(text, strlen(text)); }

static void address_list_free(address_list *list)
{
    for (size_t i = 0; i < list->len; i++) {
        free(list->items[i].display);
        free(list->items[i].addr);
    }
    free(list->items);
}

void mailer_destroy(void *instance)
{
    mailer *m = instance;
    if (!m)
        return;
    free(m->url);
    free(m->from.display);
    free(m->from.addr);
    address_list_free(&m->to);
    address_list_free(&m->cc);
    free(m->username);
    free(m->password);
    free(m->subject_prefix);
    free(m);
}

static const char *option_string(const herald_option_value *value)
{
    return value->present && value->string ? value->string : "";
}

static int has_control_char(const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 1;
    return 0;
}

/* smtp://host[:port][/path] or smtps://…; credentials belong in username
 * and password, where they are kept secret. */
static const char *check_url(const char *url)
{
    const char *rest;
    if (strncmp(url, "smtp://", 7) == 0)
        rest = url + 7;
    else if (strncmp(url, "smtps://", 8) == 0)
        rest = url + 8;
    else
        return "url: must start with smtp:// (port 587, STARTTLS) or smtps:// (port 465)";
    size_t authority = strcspn(rest, "/?#");
    if (authority == 0 || rest[0] == ':')
        return "url: must name a host, e.g. smtp://mail.example.com:587";
    if (memchr(rest, '@', authority))
        return "url: must not carry credentials; use username and password";
    if (has_control_char(url) || strchr(url, ' '))
        return "url: must not contain spaces or control characters";
    return NULL;
}

/* Characters RFC 5321 allows unquoted in an address; anything else would
 * need quoting rules no alert address needs. */
static int is_addr_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && !strchr("<>()[]\\,;:\"", c);
}

static int is_addr_spec(const char *addr, size_t len)
{
    const char *at = memchr(addr, '@', len);
    if (!at || at == addr || at == addr + len - 1 || memchr(at + 1, '@', len - (size_t)(at + 1 - addr)))
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!is_addr_char((unsigned char)addr[i]))
            return 0;
    return 1;
}

static int is_space(char c) { return c == ' ' || c == '\t'; }

/* "alerts@example.com", "herald <alerts@example.com>" or
 * "\"Ops, Team\" <ops@example.com>". Returns 0, or -1 when the text is not
 * an address (the caller names the option). */
static int parse_address(const char *text, address *out)
{
    const char *start = text, *end = text + strlen(text);
    while (start < end && is_space(*start))
        start++;
    while (end > start && is_space(end[-1]))
        end--;
    const char *addr = start, *addr_end = end;
    const char *display = NULL, *display_end = NULL;
    if (end > start && end[-1] == '>') {
        const char *open = end - 1;
        while (open > start && *open != '<')
            open--;
        if (*open != '<')
            return -1;
        addr = open + 1;
        addr_end = end - 1;
        display = start;
        display_end = open;
        while (display_end > display && is_space(display_end[-1]))
            display_end--;
        if (display_end - display >= 2 && *display == '"' && display_end[-1] == '"') {
            display++;
            display_end--;
        }
    }
    if (!is_addr_spec(addr, (size_t)(addr_end - addr)))
        return -1;
    out->addr = copy_bytes(addr, (size_t)(addr_end - addr));
    out->display = NULL;
    if (display && display_end > display) {
        /* Unquote: "\"" and "\\" stand for themselves. */
        out->display = malloc((size_t)(display_end - display) + 1);
        if (out->display) {
            size_t n = 0;
            for (const char *p = display; p < display_end; p++) {
                if (*p == '\\' && p + 1 < display_end)
                    p++;
                out->display[n++] = *p;
            }
            out->display[n] = '\0';
        }
    }
    if (!out->addr || (display && display_end > display && !out->display)) {
        free(out->addr);
        free(out->display);
        return -1;
    }
    return 0;
}

/* How much of an address an error quotes: at most 80 bytes, never part
 * of a character. */
static int quote_len(const herald_host *host, const char *text)
{
    return (int)host->text_prefix(text, strlen(text), 80);
}

static int parse_address_list(const herald_host *host, const herald_option_value *value,
                              const char *name, address_list *out, char *err, size_t err_cap)
{
    if (!value->present)
        return 0;
    out->items = calloc(value->list_len ? value->list_len : 1, sizeof *out->items);
    if (!out->items) {
        snprintf(err, err_cap, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < value->list_len; i++) {
        const char *item = value->list[i];
        if (has_control_char(item) || parse_address(item, &out->items[i]) != 0) {
            const char *shown = has_control_char(item) ? "…" : item;
            snprintf(err, err_cap,
                     "%s: item %zu \"%.*s\" is not an e-mail address "
                     "(expected name@domain or Name <name@domain>)",
                     name, i + 1, quote_len(host, shown), shown);
            return -1;
        }
        out->len++;
    }
    return 0;
}

static int parse_tls(const char *text, herald_tls *out)
{
    if (!*text || strcmp(text, "opportunistic") == 0)
        *out = HERALD_TLS_DEFAULT;
    else if (strcmp(text, "starttls") == 0)
        *out = HERALD_TLS_REQUIRED;
    else if (strcmp(text, "none") == 0)
        *out = HERALD_TLS_NONE;
    else
        return -1;
    return 0;
}

static const char *check_options(const herald_option_value *values, herald_tls *tls)
{
    const char *url = option_string(&values[OPT_URL]);
    const char *problem = check_url(url);
    if (problem)
        return problem;
    if (values[OPT_TO].present && values[OPT_TO].list_len == 0)
        return "to: must list at least one address";
    if (values[OPT_PASSWORD].present && !values[OPT_USERNAME].present)
        return "password: needs username as well";
    if (values[OPT_USERNAME].present && !values[OPT_PASSWORD].present)
        return "username: needs password as well";
    if (values[OPT_USERNAME].present && !*option_string(&values[OPT_USERNAME]))
        return "username: must not be empty";
    if (has_control_char(option_string(&values[OPT_USERNAME])))
        return "username: must not contain control characters";
    if (has_control_char(option_string(&values[OPT_PASSWORD])))
        return "password: must not contain control characters";
    if (parse_tls(option_string(&values[OPT_TLS]), tls) != 0)
        return "tls: must be \"starttls\" (required), \"opportunistic\" (the default) or \"none\"";
    if (*tls == HERALD_TLS_NONE && strncmp(url, "smtps://", 8) == 0)
        return "tls: \"none\" contradicts an smtps:// url, which is always TLS";
    /* With "opportunistic", a server that offers no STARTTLS (or a man in
     * the middle who strips it) would be sent the password in clear. */
    if (values[OPT_USERNAME].present && *tls == HERALD_TLS_DEFAULT) {
        if (values[OPT_TLS].present && *option_string(&values[OPT_TLS]))
            return "tls: \"opportunistic\" would send the password in clear to a server "
                   "without STARTTLS; use \"starttls\" (or \"none\" for a relay on this host)";
        *tls = HERALD_TLS_REQUIRED;
    }
    if (has_control_char(option_string(&values[OPT_SUBJECT_PREFIX])))
        return "subject_prefix: must be one line without control characters";
    return NULL;
}

void *mailer_configure(const herald_host *host, const char *receiver,
                       const herald_option_value *values, char *err, size_t err_cap)
{
    (void)receiver;
    if (!HERALD_HAS_FIELD(herald_host, host, verdict)) {
        snprintf(err, err_cap,
                 "this herald is too old: its host table has no verdict (plugin ABI 1.6)");
        return NULL;
    }
    herald_tls tls = HERALD_TLS_DEFAULT;
    const char *problem = check_options(values, &tls);
    if (problem) {
        snprintf(err, err_cap, "%s", problem);
        return NULL;
    }
    mailer *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    m->host = host;
    m->tls = tls;
    const char *from = option_string(&values[OPT_FROM]);
    if (has_control_char(from) || parse_address(from, &m->from) != 0) {
        const char *shown = has_control_char(from) ? "…" : from;
        snprintf(err, err_cap,
                 "from: \"%.*s\" is not an e-mail address "
                 "(expected name@domain or Name <name@domain>)",
                 quote_len(host, shown), shown);
        mailer_destroy(m);
        return NULL;
    }
    m->from_domain = strchr(m->from.addr, '@') + 1;
    if (parse_address_list(host, &values[OPT_TO], "to", &m->to, err, err_cap) != 0 ||
        parse_address_list(host, &values[OPT_CC], "cc", &m->cc, err, err_cap) != 0) {
        mailer_destroy(m);
        return NULL;
    }
    m->url = copy_string(option_string(&values[OPT_URL]));
    m->subject_prefix = copy_string(option_string(&values[OPT_SUBJECT_PREFIX]));
    if (values[OPT_USERNAME].present) {
        m->username = copy_string(option_string(&values[OPT_USERNAME]));
        m->password = copy_string(option_string(&values[OPT_PASSWORD]));
    }
    if (!m->url || !m->subject_prefix ||
        (values[OPT_USERNAME].present && (!m->username || !m->password))) {
        mailer_destroy(m);
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    return m;
}

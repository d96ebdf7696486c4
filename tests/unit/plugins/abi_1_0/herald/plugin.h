/* herald plugin ABI — the only header a channel plugin includes.
 *
 * A plugin is a pure translator: it turns a rendered message into a request
 * (prepare) and a response into a verdict (classify). It never does network
 * or file I/O, never sleeps and never retries; the core does all of that.
 *
 * Compatibility rules:
 *  - every struct that crosses the boundary starts with herald_abi_header;
 *  - fields are only ever appended, so a reader checks `size` before reading
 *    a field newer than the version it was built against;
 *  - the core refuses a plugin whose major version differs from its own or
 *    whose minor version is newer than its own.
 *
 * Ownership: everything the core passes in is borrowed for the duration of
 * the call. Everything a plugin hands to the core through the host table is
 * copied. Instances belong to the plugin and are freed by its destroy().
 */
#ifndef HERALD_PLUGIN_H
#define HERALD_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HERALD_ABI_MAJOR 1
#define HERALD_ABI_MINOR 0

/* The one symbol a plugin exports. */
#define HERALD_PLUGIN_ENTRY herald_plugin_entry
#define HERALD_PLUGIN_ENTRY_NAME "herald_plugin_entry"

#if defined(__GNUC__)
#define HERALD_EXPORT __attribute__((visibility("default")))
#define HERALD_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define HERALD_EXPORT
#define HERALD_PRINTF(f, a)
#endif

typedef struct herald_abi_header {
    uint16_t major;
    uint16_t minor;
    uint32_t size; /* sizeof the whole struct this header starts */
} herald_abi_header;

#define HERALD_ABI_HEADER_INIT(type) \
    { HERALD_ABI_MAJOR, HERALD_ABI_MINOR, (uint32_t)sizeof(type) }

/* ---- receiver options -------------------------------------------------- */

typedef enum herald_option_type {
    HERALD_OPTION_STRING = 1,
    HERALD_OPTION_INTEGER = 2,
    HERALD_OPTION_BOOLEAN = 3,
    HERALD_OPTION_STRING_LIST = 4,
} herald_option_type;

/* A channel declares the receiver options it accepts. The core checks
 * presence, type and unknown keys against this list (naming the key path in
 * its error) before configure() runs, so configure only checks meaning. */
typedef struct herald_option_spec {
    const char *name;
    herald_option_type type;
    int required;
    int secret;         /* never printed or logged by the core */
    const char *help;   /* one line, shown by `herald plugins` */
} herald_option_spec;

/* The value of one declared option, passed to configure() in the same order
 * as the channel's option specs. */
typedef struct herald_option_value {
    int present;
    const char *string;            /* HERALD_OPTION_STRING */
    long long integer;             /* HERALD_OPTION_INTEGER */
    int boolean;                   /* HERALD_OPTION_BOOLEAN */
    const char *const *list;       /* HERALD_OPTION_STRING_LIST */
    size_t list_len;
} herald_option_value;

/* ---- messages ---------------------------------------------------------- */

typedef enum herald_format {
    HERALD_FORMAT_TEXT = 1u << 0,
    HERALD_FORMAT_MARKDOWN = 1u << 1,
    HERALD_FORMAT_HTML = 1u << 2,
    HERALD_FORMAT_NATIVE = 1u << 3, /* the template built the channel's own body */
} herald_format;

typedef struct herald_mentions {
    const char *const *mobiles;
    size_t mobiles_len;
    const char *const *user_ids;
    size_t user_ids_len;
    int all;
} herald_mentions;

typedef struct herald_message {
    herald_abi_header abi;
    const char *receiver;    /* receiver name from the configuration */
    const char *status;      /* "firing" or "resolved" */
    size_t alert_count;
    herald_format format;    /* exactly one format bit */
    const char *title;       /* may be "" */
    const char *text;        /* UTF-8; for NATIVE, the body as JSON text */
    herald_mentions mentions;
} herald_message;

/* ---- requests and responses -------------------------------------------- */

/* Opaque, owned by the core; filled by prepare() through the host table. */
typedef struct herald_request herald_request;

typedef struct herald_response {
    herald_abi_header abi;
    long status;             /* HTTP status code */
    const char *body;        /* NUL-terminated copy of the body */
    size_t body_len;
} herald_response;

typedef enum herald_verdict_kind {
    HERALD_OK = 0,
    HERALD_RETRY = 1,  /* transient: try again, after retry_after_ms if > 0 */
    HERALD_FAIL = 2,   /* permanent for this message: dead-letter it */
} herald_verdict_kind;

typedef struct herald_verdict {
    herald_abi_header abi;
    herald_verdict_kind kind;
    long retry_after_ms;     /* 0: let the core choose the backoff */
    char reason[256];        /* the service's own words, for logs and dead letters */
} herald_verdict;

/* ---- host services ----------------------------------------------------- */

typedef enum herald_log_level {
    HERALD_LOG_DEBUG = 0,
    HERALD_LOG_INFO = 1,
    HERALD_LOG_WARN = 2,
    HERALD_LOG_ERROR = 3,
} herald_log_level;

/* A growable byte buffer owned by the core, for building bodies. */
typedef struct herald_buf herald_buf;

typedef struct herald_host {
    herald_abi_header abi;

    /* Logging: `who` is a prefix such as the receiver or channel name. */
    void (*log)(herald_log_level level, const char *who, const char *fmt, ...)
        HERALD_PRINTF(3, 4);

    /* Clock: wall time in milliseconds since the epoch. */
    int64_t (*now_ms)(void);

    /* Crypto and encodings. Output functions return the length written
     * (excluding the NUL), or the length needed when it does not fit in
     * `cap`, like snprintf. */
    void (*hmac_sha256)(const void *key, size_t key_len, const void *data,
                        size_t data_len, unsigned char out[32]);
    size_t (*base64_encode)(const void *data, size_t len, char *out, size_t cap);
    size_t (*url_encode)(const char *text, char *out, size_t cap);
    /* Largest length <= max_bytes that does not split a UTF-8 sequence. */
    size_t (*utf8_prefix)(const char *text, size_t len, size_t max_bytes);

    /* Buffers. */
    herald_buf *(*buf_new)(void);
    void (*buf_free)(herald_buf *buf);
    void (*buf_append)(herald_buf *buf, const void *data, size_t len);
    void (*buf_printf)(herald_buf *buf, const char *fmt, ...) HERALD_PRINTF(2, 3);
    /* Appends `text` (len bytes) as a quoted JSON string; UTF-8 is kept
     * as is, control characters, quotes and backslashes are escaped. */
    void (*buf_json_string)(herald_buf *buf, const char *text, size_t len);
    const char *(*buf_data)(const herald_buf *buf); /* NUL-terminated */
    size_t (*buf_len)(const herald_buf *buf);

    /* Requests (all arguments are copied). The URL scheme selects the
     * transport: http/https through libcurl, file:// appends the body and a
     * newline to that file (file:///dev/stdout for standard output). */
    void (*request_set_url)(herald_request *req, const char *url);
    /* A URL for logs: the query string's values are replaced by "…". */
    void (*request_set_log_url)(herald_request *req, const char *url);
    void (*request_add_header)(herald_request *req, const char *name, const char *value);
    void (*request_set_body)(herald_request *req, const void *body, size_t len);

    /* Response headers, case-insensitive; NULL when absent. */
    const char *(*response_header)(const herald_response *resp, const char *name);
} herald_host;

/* ---- channels ---------------------------------------------------------- */

typedef struct herald_channel {
    herald_abi_header abi;
    const char *name;           /* the `channel = "…"` of a receiver */
    const char *description;
    size_t max_body_bytes;      /* 0: no limit */
    unsigned rate_per_minute;   /* default per target; 0: unlimited */
    unsigned formats;           /* herald_format bits accepted by prepare */
    const char *default_template; /* template name used when a receiver sets none */
    const herald_option_spec *options;
    size_t options_len;

    /* Returns an instance, or NULL with a message in err naming the option. */
    void *(*configure)(const herald_host *host, const char *receiver,
                       const herald_option_value *values, char *err, size_t err_cap);
    /* Returns 0, or -1 with a message in err (the message is dead-lettered). */
    int (*prepare)(void *instance, const herald_message *msg, herald_request *req,
                   char *err, size_t err_cap);
    /* Called only for completed exchanges; transport errors never reach it. */
    void (*classify)(void *instance, const herald_response *resp, herald_verdict *out);
    void (*destroy)(void *instance);
} herald_channel;

typedef struct herald_plugin {
    herald_abi_header abi;
    const char *name;
    const char *version;
    const herald_channel *const *channels;
    size_t channels_len;
} herald_plugin;

typedef const herald_plugin *(*herald_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif

/* Unit test of example_text, built out of tree against the installed SDK's
 * test kit (`make check`): herald's own host table, so the bytes checked
 * here are the bytes herald sends. Prints "ok NAME" or "FAIL NAME: ..."
 * per case and exits 1 if anything failed. */
#include <herald/plugin_test.h>

#include <stdio.h>
#include <string.h>

static int failed;

#define EXPECT(cond)                                                            \
    do {                                                                        \
        if (!(cond)) {                                                          \
            printf("    %s:%d: %s\n", __FILE__, __LINE__, #cond);               \
            failed = 1;                                                         \
        }                                                                       \
    } while (0)

static int64_t fixed_now_ms(void) { return 1700000000000LL; }

static const herald_channel *example_text(void)
{
    return HERALD_PLUGIN_ENTRY()->channels[0];
}

static void *configure(const char *url, const char *prefix)
{
    herald_option_value values[2] = {{.present = 1, .string = url},
                                     {.present = prefix != NULL, .string = prefix}};
    char err[256] = "";
    void *instance = example_text()->configure(herald_test_host(), "ops", values, err, sizeof err);
    if (!instance)
        printf("    configure: %s\n", err);
    return instance;
}

static herald_message message(const char *title, const char *text)
{
    herald_message msg = {
        .abi = HERALD_ABI_HEADER_INIT(herald_message),
        .receiver = "ops",
        .status = "firing",
        .alert_count = 1,
        .format = HERALD_FORMAT_MARKDOWN,
        .title = title,
        .text = text,
    };
    return msg;
}

static void exact_request(void)
{
    void *hook = configure("https://ntfy.example.com/alerts-t0ken", "[prod] ");
    static const char *const mobiles[] = {"13800000000"};
    static const char *const users[] = {"lisi"};
    herald_message msg = message("[FIRING:1] DiskFull", "db1 **95%** full");
    msg.mentions = (herald_mentions){mobiles, 1, users, 1, 0};
    herald_request *req = herald_test_request_new();
    char err[256] = "";
    EXPECT(example_text()->prepare(hook, &msg, req, err, sizeof err) == 0);
    herald_test_request sent = herald_test_request_read(req);
    EXPECT(sent.method == NULL); /* POST */
    EXPECT(strcmp(sent.url, "https://ntfy.example.com/alerts-t0ken") == 0);
    EXPECT(strcmp(sent.log_url, "https://ntfy.example.com/…") == 0);
    EXPECT(sent.headers_len == 1 &&
           strcmp(sent.headers[0], "Content-Type: text/plain; charset=utf-8") == 0);
    static const char body[] = "[prod] [FIRING:1] DiskFull\n\ndb1 **95%** full\n\n@13800000000 @lisi";
    EXPECT(sent.body_len == sizeof body - 1 && memcmp(sent.body, body, sizeof body - 1) == 0);
    herald_test_request_free(req);
    example_text()->destroy(hook);
}

/* 5000 bytes of text: 4079 of them and the 17-byte marker make 4096. */
static void long_text_is_cut_to_the_limit(void)
{
    void *hook = configure("http://127.0.0.1:8080/in", NULL);
    static char text[5001];
    memset(text, 'x', 5000);
    herald_message msg = message("", text);
    herald_request *req = herald_test_request_new();
    char err[256] = "";
    EXPECT(example_text()->prepare(hook, &msg, req, err, sizeof err) == 0);
    herald_test_request sent = herald_test_request_read(req);
    EXPECT(sent.body_len == 4096);
    EXPECT(memcmp(sent.body, text, 4079) == 0);
    EXPECT(strcmp(sent.body + 4079, "\n\n[... truncated]") == 0);
    herald_test_request_free(req);
    example_text()->destroy(hook);
}

static void verdicts(void)
{
    void *hook = configure("http://127.0.0.1:8080/in", NULL);
    /* 7 s after the fixed clock's 2023-11-14T22:13:20Z. */
    static const char *const retry_after[] = {"Retry-After: Tue, 14 Nov 2023 22:13:27 GMT", NULL};
    herald_response *busy = herald_test_response_new(503, "busy\nlater", retry_after);
    herald_verdict v = {.abi = HERALD_ABI_HEADER_INIT(herald_verdict)};
    example_text()->classify(hook, busy, &v);
    EXPECT(v.kind == HERALD_RETRY && v.retry_after_ms == 7000);
    EXPECT(strcmp(v.reason, "HTTP 503: busy later") == 0);
    herald_test_response_free(busy);
    herald_response *ok = herald_test_response_new(200, "", NULL);
    example_text()->classify(hook, ok, &v);
    EXPECT(v.kind == HERALD_OK && strcmp(v.reason, "HTTP 200") == 0);
    herald_test_response_free(ok);
    example_text()->destroy(hook);
}

int main(void)
{
    herald_test_set_clock(fixed_now_ms);
    static const struct {
        const char *name;
        void (*run)(void);
    } cases[] = {
        {"exact_request", exact_request},
        {"long_text_is_cut_to_the_limit", long_text_is_cut_to_the_limit},
        {"verdicts", verdicts},
    };
    int any_failed = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        failed = 0;
        cases[i].run();
        printf("%s %s\n", failed ? "FAIL" : "ok", cases[i].name);
        any_failed |= failed;
    }
    return any_failed;
}

/* Shared by the channel plugin tests: loads a plugin through the real
 * loader, hands it a host table whose clock is fixed, and builds messages
 * and responses the way the core does. */
#ifndef HERALD_TEST_PLUGIN_FIXTURE_H
#define HERALD_TEST_PLUGIN_FIXTURE_H

#include <stdlib.h>

#include "harness.h"
#include "plugin/host.h"
#include "plugin/loader.h"
#include "response_fixture.h"

#define FIXED_NOW_MS 1700000000000LL

static plugin_set fixture_plugins;
static herald_host fixture_host;

static int64_t fixture_now_ms(void) { return FIXED_NOW_MS; }

static void fixture_unload(void) { plugins_free(&fixture_plugins); }

/* Loads `path` on first use; a plugin that cannot load ends the binary,
 * since every case after it would fail for the same reason. */
static const herald_channel *fixture_channel(const char *path, const char *name)
{
    if (fixture_plugins.len == 0) {
        char err[512];
        if (plugins_load_file(&fixture_plugins, path, err, sizeof err) != 0) {
            printf("FAIL loading %s: %s\n", path, err);
            exit(1);
        }
        atexit(fixture_unload);
        /* The host's own clock is fixed, so now_ms and the services that
         * read the time (Retry-After dates) agree. */
        host_set_clock(fixture_now_ms);
        fixture_host = *host_table();
    }
    return plugins_find_channel(&fixture_plugins, name, NULL);
}

static herald_message fixture_message(herald_format format, const char *title, const char *text)
{
    herald_message msg = {
        .abi = HERALD_ABI_HEADER_INIT(herald_message),
        .receiver = "ops",
        .status = "firing",
        .alert_count = 1,
        .format = format,
        .title = title,
        .text = text,
    };
    return msg;
}

static herald_verdict fixture_classify(const herald_channel *channel, void *instance,
                                       long status, const char *body, const char *header)
{
    host_response resp = fixture_response(status, body, header);
    herald_verdict verdict = {.abi = HERALD_ABI_HEADER_INIT(herald_verdict)};
    channel->classify(instance, &resp.pub, &verdict);
    response_free(&resp);
    return verdict;
}

/* Structural UTF-8 check for cut texts: lead bytes and continuation bytes
 * line up and no sequence runs past the end. */
static inline int is_valid_utf8(const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        size_t continuations;
        if (s[i] < 0x80)
            continuations = 0;
        else if ((s[i] & 0xE0) == 0xC0)
            continuations = 1;
        else if ((s[i] & 0xF0) == 0xE0)
            continuations = 2;
        else if ((s[i] & 0xF8) == 0xF0)
            continuations = 3;
        else
            return 0;
        if (continuations > 0 && i + continuations >= len)
            return 0;
        for (size_t k = 1; k <= continuations; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
        i += continuations + 1;
    }
    return 1;
}

#endif

#include "util/histogram.h"

static const struct {
    int64_t ms;
    const char *le;
} bounds[HISTOGRAM_BOUNDS] = {
    {100, "0.1"}, {250, "0.25"}, {500, "0.5"},  {1000, "1"},   {2500, "2.5"},
    {5000, "5"},  {10000, "10"}, {30000, "30"}, {60000, "60"}, {300000, "300"},
};

void histogram_observe_ms(histogram *h, int64_t ms)
{
    if (ms < 0)
        ms = 0;
    size_t i = 0;
    while (i < HISTOGRAM_BOUNDS && ms > bounds[i].ms)
        i++;
    h->counts[i]++;
    h->sum_ms += (unsigned long long)ms;
}

void histogram_render(const histogram *h, strbuf *out, const char *name, const char *labels)
{
    const char *comma = *labels ? "," : "";
    unsigned long long cumulative = 0;
    for (size_t i = 0; i <= HISTOGRAM_BOUNDS; i++) {
        cumulative += h->counts[i];
        sb_printf(out, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, labels, comma,
                  i < HISTOGRAM_BOUNDS ? bounds[i].le : "+Inf", cumulative);
    }
    const char *open = *labels ? "{" : "", *close = *labels ? "}" : "";
    sb_printf(out, "%s_sum%s%s%s %llu.%03llu\n", name, open, labels, close, h->sum_ms / 1000,
              h->sum_ms % 1000);
    sb_printf(out, "%s_count%s%s%s %llu\n", name, open, labels, close, cumulative);
}

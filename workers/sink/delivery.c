/*
 * The delivery policy as pure functions: what an HTTP answer (or its absence) means for an
 * order, and how long to wait before the next attempt (exponential with full jitter, so
 * several sinks retrying against a recovering platform spread out).
 */
#include "platform_sink.h"

#include <string.h>

/* Doublings after which any positive base is past any configurable maximum. */
#define SINK_BACKOFF_DOUBLINGS_MAX 62

ss_sink_outcome_t ss_sink_classify(bool answered, long status)
{
    if (!answered) {
        return SS_SINK_RETRY;
    }
    if ((status >= 200 && status <= 299) || status == 409) {
        return SS_SINK_DELIVERED;
    }
    /* 408 and 429 say "not now"; other 4xx say the request itself is wrong. */
    if (status >= 400 && status <= 499 && status != 408 && status != 429) {
        return SS_SINK_PERMANENT;
    }
    /* 5xx, and answers a platform should not give (1xx, 3xx, nonsense): try again later. */
    return SS_SINK_RETRY;
}

const char *ss_sink_outcome_name(ss_sink_outcome_t outcome)
{
    switch (outcome) {
    case SS_SINK_DELIVERED:
        return "delivered";
    case SS_SINK_RETRY:
        return "retry";
    case SS_SINK_PERMANENT:
        return "permanent";
    }
    return "unknown";
}

int64_t ss_sink_backoff_ms(unsigned attempt, int64_t base_ms, int64_t max_ms, uint64_t random)
{
    if (base_ms <= 0 || max_ms <= 0) {
        return 0;
    }
    if (base_ms > max_ms) {
        base_ms = max_ms;
    }
    int64_t ceiling = base_ms;
    for (unsigned i = 1; i < attempt && i <= SINK_BACKOFF_DOUBLINGS_MAX && ceiling < max_ms; i++) {
        ceiling = ceiling > max_ms / 2 ? max_ms : ceiling * 2;
    }
    if (ceiling > max_ms) {
        ceiling = max_ms;
    }
    return (int64_t)(random % ((uint64_t)ceiling + 1));
}

uint64_t ss_sink_random_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * UINT64_C(0x2545F4914F6CDD1D);
}

void ss_sink_excerpt(const char *text, size_t length, char *out, size_t out_size)
{
    if (out_size == 0) {
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < length && n + 1 < out_size; i++) {
        unsigned char c = (unsigned char)text[i];
        char shown = '?';
        if (c == '"') {
            shown = '\'';
        } else if (c == '\\') {
            shown = '/';
        } else if (c < 0x20 || c == 0x7f) {
            shown = ' ';
        } else if (c < 0x7f) {
            shown = (char)c;
        }
        out[n++] = shown;
    }
    out[n] = '\0';
}

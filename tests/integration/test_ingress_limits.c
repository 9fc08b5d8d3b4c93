/*
 * Slow clients cannot take the ingress (issue 10, point 8), against the real binary. Its
 * limits are set small: 64 connections at most, 16 per client address, and a request must be
 * received whole within 2 s (SS_INGRESS_CONNECTIONS_MAX, SS_INGRESS_CONNECTIONS_PER_ADDRESS_MAX,
 * SS_INGRESS_REQUEST_READ_TIMEOUT_MS).
 *
 *   - A request trickled one byte every 100 ms (so the idle timer, restarted by every byte,
 *     never fires) is cut at the 2 s deadline.
 *   - A slow-loris client on 127.0.0.2 keeps trying to hold all 64 connections with trickling
 *     requests, re-opening every one that is closed: no more than 16 of them stay open, and a
 *     normal client on 127.0.0.1 is answered promptly throughout. Without the per-address cap
 *     the loris fills the server and the normal client's connections are closed at accept.
 *
 * Loopback has the whole of 127.0.0.0/8, so binding a socket to 127.0.0.2 before connecting
 * gives the loris an address of its own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss_test_http.h"
#include "ss_test_services.h"
#include "ss_test_stack.h"

#include "ss/clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONNECTIONS_MAX 64
#define PER_ADDRESS_MAX 16
#define READ_TIMEOUT_MS 2000
/* The watchdog looks every 100 ms; the ingress's threads and a busy machine add a little. */
#define CUT_SLACK_MS 1000
#define LORIS_ADDRESS "127.0.0.2"
#define LORIS_CONNECTIONS CONNECTIONS_MAX
#define LORIS_TICK_MS 100
/* A loris connection open this long was accepted and kept (not closed at accept). */
#define LORIS_KEPT_MS 400
#define NORMAL_REQUESTS 25
#define NORMAL_ANSWER_MS_MAX 1000

static ss_test_services_t services;

static int setup(void **state)
{
    static char connections[64], per_address[64], read_timeout[64];
    snprintf(connections, sizeof(connections), "SS_INGRESS_CONNECTIONS_MAX=%d", CONNECTIONS_MAX);
    snprintf(per_address, sizeof(per_address), "SS_INGRESS_CONNECTIONS_PER_ADDRESS_MAX=%d",
             PER_ADDRESS_MAX);
    snprintf(read_timeout, sizeof(read_timeout), "SS_INGRESS_REQUEST_READ_TIMEOUT_MS=%d",
             READ_TIMEOUT_MS);
    static const char *environment[] = {connections, per_address, read_timeout, NULL};
    ss_test_services_config_t config = {
        .instance = 1, .port = 18195, .ingress_environment = environment};
    ss_test_services_start(&services, &config);
    *state = &services;
    return 0;
}

/* A TCP connection to the ingress from source (numeric IPv4); -1 when refused. */
static int connect_from(const char *source)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in local = {.sin_family = AF_INET, .sin_port = 0};
    assert_int_equal(inet_pton(AF_INET, source, &local.sin_addr), 1);
    assert_int_equal(bind(fd, (struct sockaddr *)&local, sizeof(local)), 0);
    struct sockaddr_in remote = {.sin_family = AF_INET, .sin_port = htons((uint16_t)services.port)};
    assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr), 1);
    if (connect(fd, (struct sockaddr *)&remote, sizeof(remote)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool send_text(int fd, const char *text)
{
    size_t length = strlen(text);
    return send(fd, text, length, MSG_NOSIGNAL) == (ssize_t)length;
}

/* True when the server closed fd (end of stream or reset), without waiting. */
static bool closed_by_server(int fd)
{
    struct pollfd pollfd = {.fd = fd, .events = POLLIN};
    if (poll(&pollfd, 1, 0) <= 0) {
        return false;
    }
    char buffer[512];
    ssize_t n = recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

static const char slow_request_head[] = "GET /health HTTP/1.1\r\nHost: ingress\r\nX-Slow: ";

static void test_a_trickling_request_is_cut_at_the_deadline(void **state)
{
    (void)state;
    int fd = connect_from("127.0.0.1");
    assert_true(fd >= 0);
    int64_t start_ms = ss_clock_monotonic_ms();
    assert_true(send_text(fd, slow_request_head));
    int64_t cut_ms = -1;
    int64_t give_up_ms = start_ms + READ_TIMEOUT_MS * 4;
    while (cut_ms < 0 && ss_clock_monotonic_ms() < give_up_ms) {
        usleep(100 * 1000);
        if (closed_by_server(fd) || !send_text(fd, "a")) {
            cut_ms = ss_clock_monotonic_ms() - start_ms;
        }
    }
    close(fd);
    print_message("trickling request cut after %" PRId64 " ms\n", cut_ms);
    assert_true(cut_ms >= READ_TIMEOUT_MS - 100);
    assert_true(cut_ms <= READ_TIMEOUT_MS + CUT_SLACK_MS);
}

/* ---- the slow loris ---------------------------------------------------------------------- */

typedef struct loris {
    pthread_t thread;
    atomic_bool stop;
    int fds[LORIS_CONNECTIONS];
    int64_t opened_ms[LORIS_CONNECTIONS];
    int kept_max;      /* the most connections open longer than LORIS_KEPT_MS at once */
    long opened_total; /* connections made */
    long closed_total; /* connections the server closed */
} loris_t;

static void loris_open(loris_t *loris, int i, int64_t now_ms)
{
    loris->fds[i] = connect_from(LORIS_ADDRESS);
    loris->opened_ms[i] = now_ms;
    loris->opened_total++;
    if (loris->fds[i] >= 0 && !send_text(loris->fds[i], slow_request_head)) {
        close(loris->fds[i]);
        loris->fds[i] = -1;
    }
}

/* One byte on every connection; re-opens the ones the server closed. */
static void loris_tick(loris_t *loris)
{
    int64_t now_ms = ss_clock_monotonic_ms();
    int kept = 0;
    for (int i = 0; i < LORIS_CONNECTIONS; i++) {
        if (loris->fds[i] >= 0 &&
            (closed_by_server(loris->fds[i]) || !send_text(loris->fds[i], "a"))) {
            close(loris->fds[i]);
            loris->fds[i] = -1;
            loris->closed_total++;
        }
        if (loris->fds[i] < 0) {
            loris_open(loris, i, now_ms);
        } else if (now_ms - loris->opened_ms[i] >= LORIS_KEPT_MS) {
            kept++;
        }
    }
    loris->kept_max = kept > loris->kept_max ? kept : loris->kept_max;
}

static void *loris_run(void *opaque)
{
    loris_t *loris = opaque;
    while (!atomic_load(&loris->stop)) {
        loris_tick(loris);
        usleep(LORIS_TICK_MS * 1000);
    }
    for (int i = 0; i < LORIS_CONNECTIONS; i++) {
        if (loris->fds[i] >= 0) {
            close(loris->fds[i]);
        }
    }
    return NULL;
}

static void test_a_slow_loris_cannot_starve_a_normal_client(void **state)
{
    (void)state;
    static loris_t loris;
    memset(&loris, 0, sizeof(loris));
    for (int i = 0; i < LORIS_CONNECTIONS; i++) {
        loris.fds[i] = -1;
    }
    assert_int_equal(pthread_create(&loris.thread, NULL, loris_run, &loris), 0);
    usleep(500 * 1000); /* the loris has made its connections */

    ss_test_http_t *http = ss_test_http_new(services.base_url, NULL);
    int64_t worst_ms = 0;
    for (int i = 0; i < NORMAL_REQUESTS; i++) {
        ss_test_http_reset_connection(http); /* a new connection has to be accepted each time */
        ss_test_http_reply_t reply = {0};
        int64_t start_ms = ss_clock_monotonic_ms();
        ss_test_http_get(http, &reply, "/health");
        int64_t took_ms = ss_clock_monotonic_ms() - start_ms;
        worst_ms = took_ms > worst_ms ? took_ms : worst_ms;
        ss_test_http_expect(&reply, 200, NULL);
        ss_test_http_reply_free(&reply);
        usleep(150 * 1000);
    }
    ss_test_http_destroy(http);
    atomic_store(&loris.stop, true);
    pthread_join(loris.thread, NULL);

    print_message("normal client worst_ms=%" PRId64 "; loris opened=%ld closed=%ld kept_max=%d\n",
                  worst_ms, loris.opened_total, loris.closed_total, loris.kept_max);
    assert_true(worst_ms < NORMAL_ANSWER_MS_MAX);
    /* The loris was really there, and held no more than its address may. */
    assert_true(loris.opened_total > LORIS_CONNECTIONS);
    assert_true(loris.kept_max >= PER_ADDRESS_MAX / 2);
    assert_true(loris.kept_max <= PER_ADDRESS_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_trickling_request_is_cut_at_the_deadline),
        cmocka_unit_test(test_a_slow_loris_cannot_starve_a_normal_client),
    };
    return cmocka_run_group_tests(tests, setup, ss_test_services_teardown);
}

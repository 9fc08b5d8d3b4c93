/*
 * The PostgreSQL fault proxy (ss_test_pg_proxy.h): one accept thread, one relay thread per
 * connection, both directions through poll(). The COMMIT it looks for is the exact bytes of a
 * simple-protocol query message: 'Q', length 11, "COMMIT\0" (what PQexec(conn, "COMMIT") sends).
 */
#include "ss_test_pg_proxy.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PROXY_BUFFER_SIZE 65536
/* How long the server gets to finish the COMMIT before the connection is cut. */
#define PROXY_COMMIT_GRACE_MS 300

static const char commit_message[] = {'Q', 0, 0, 0, 11, 'C', 'O', 'M', 'M', 'I', 'T', 0};

struct ss_test_pg_proxy {
    int listen_fd; /* the accept thread's; -1 while refusing */
    atomic_int mode;
    atomic_int applied_mode; /* the mode the accept thread acts on */
    atomic_uint generation;  /* bumped on REFUSE: relays of older generations end */
    int port;
    int target_port;
    atomic_bool armed;
    atomic_int cuts;
    atomic_bool stopping;
    pthread_t accept_thread;
};

typedef struct relay {
    ss_test_pg_proxy_t *proxy;
    int client_fd;
    int server_fd;
    unsigned generation;
} relay_t;

static bool holds_commit(const char *data, size_t length)
{
    for (size_t i = 0; i + sizeof(commit_message) <= length; i++) {
        if (memcmp(data + i, commit_message, sizeof(commit_message)) == 0) {
            return true;
        }
    }
    return false;
}

static bool forward(int from, int to, char *buffer, ssize_t *length)
{
    *length = read(from, buffer, PROXY_BUFFER_SIZE);
    if (*length <= 0) {
        return false;
    }
    for (ssize_t sent = 0; sent < *length;) {
        ssize_t n = write(to, buffer + sent, (size_t)(*length - sent));
        if (n <= 0) {
            return false;
        }
        sent += n;
    }
    return true;
}

static void *relay_run(void *opaque)
{
    relay_t *relay = opaque;
    char *buffer = malloc(PROXY_BUFFER_SIZE);
    struct pollfd fds[2] = {{.fd = relay->client_fd, .events = POLLIN},
                            {.fd = relay->server_fd, .events = POLLIN}};
    bool open = buffer != NULL;
    while (open && !atomic_load(&relay->proxy->stopping)) {
        if (atomic_load(&relay->proxy->generation) != relay->generation) {
            break; /* REFUSE: the server is "down", its connections are gone */
        }
        if (poll(fds, 2, 100) <= 0) {
            continue;
        }
        if (atomic_load(&relay->proxy->mode) == SS_TEST_PG_PROXY_BLACK_HOLE) {
            /* Take the client's bytes and drop them; nothing from the server goes out. */
            if ((fds[0].revents != 0 && read(relay->client_fd, buffer, PROXY_BUFFER_SIZE) <= 0)) {
                break;
            }
            struct timespec pause = {0, 20 * 1000000L};
            nanosleep(&pause, NULL);
            continue;
        }
        ssize_t length = 0;
        if (fds[0].revents != 0) {
            open = forward(relay->client_fd, relay->server_fd, buffer, &length);
            bool expected = true;
            if (open && holds_commit(buffer, (size_t)length) &&
                atomic_compare_exchange_strong(&relay->proxy->armed, &expected, false)) {
                struct timespec grace = {0, PROXY_COMMIT_GRACE_MS * 1000000L};
                nanosleep(&grace, NULL);
                atomic_fetch_add(&relay->proxy->cuts, 1);
                open = false;
            }
        }
        if (open && fds[1].revents != 0) {
            open = forward(relay->server_fd, relay->client_fd, buffer, &length);
        }
    }
    close(relay->client_fd);
    close(relay->server_fd);
    free(buffer);
    free(relay);
    return NULL;
}

static int connect_target(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&address, sizeof(address)) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* A listening socket on 127.0.0.1:port (0: any); -1 on failure. */
static int listen_on(int port)
{
    /* CLOEXEC: a process the test forks later must not keep the port listening. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&address, sizeof(address)) != 0 || listen(fd, 64) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    return fd;
}

/* Applies REFUSE (stop listening) or its end (listen again on the same port). */
static void accept_apply_mode(ss_test_pg_proxy_t *proxy)
{
    int mode = atomic_load(&proxy->mode);
    if (mode == SS_TEST_PG_PROXY_REFUSE && proxy->listen_fd >= 0) {
        close(proxy->listen_fd);
        proxy->listen_fd = -1;
    } else if (mode != SS_TEST_PG_PROXY_REFUSE && proxy->listen_fd < 0) {
        proxy->listen_fd = listen_on(proxy->port);
    }
    if ((mode == SS_TEST_PG_PROXY_REFUSE) == (proxy->listen_fd < 0)) {
        atomic_store(&proxy->applied_mode, mode);
    }
}

static void *accept_run(void *opaque)
{
    ss_test_pg_proxy_t *proxy = opaque;
    while (!atomic_load(&proxy->stopping)) {
        accept_apply_mode(proxy);
        struct pollfd listener = {.fd = proxy->listen_fd, .events = POLLIN};
        if (proxy->listen_fd < 0) {
            struct timespec pause = {0, 20 * 1000000L};
            nanosleep(&pause, NULL);
            continue;
        }
        if (poll(&listener, 1, 20) <= 0) {
            continue;
        }
        int client = accept4(proxy->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        int server = client >= 0 ? connect_target(proxy->target_port) : -1;
        relay_t *relay = server >= 0 ? malloc(sizeof(*relay)) : NULL;
        pthread_t thread;
        if (relay == NULL) {
            close(client);
            close(server);
            continue;
        }
        *relay = (relay_t){.proxy = proxy,
                           .client_fd = client,
                           .server_fd = server,
                           .generation = atomic_load(&proxy->generation)};
        if (pthread_create(&thread, NULL, relay_run, relay) == 0) {
            pthread_detach(thread);
        }
    }
    return NULL;
}

ss_test_pg_proxy_t *ss_test_pg_proxy_start(int target_port)
{
    ss_test_pg_proxy_t *proxy = calloc(1, sizeof(*proxy));
    assert_non_null(proxy);
    proxy->target_port = target_port;
    proxy->listen_fd = listen_on(0);
    assert_true(proxy->listen_fd >= 0);
    struct sockaddr_in address;
    socklen_t length = sizeof(address);
    assert_int_equal(getsockname(proxy->listen_fd, (struct sockaddr *)&address, &length), 0);
    proxy->port = ntohs(address.sin_port);
    assert_int_equal(pthread_create(&proxy->accept_thread, NULL, accept_run, proxy), 0);
    return proxy;
}

int ss_test_pg_proxy_port(const ss_test_pg_proxy_t *proxy)
{
    return proxy->port;
}

void ss_test_pg_proxy_arm_commit_cut(ss_test_pg_proxy_t *proxy)
{
    atomic_store(&proxy->armed, true);
}

int ss_test_pg_proxy_cuts(ss_test_pg_proxy_t *proxy)
{
    return atomic_load(&proxy->cuts);
}

void ss_test_pg_proxy_set_mode(ss_test_pg_proxy_t *proxy, ss_test_pg_proxy_mode_t mode)
{
    if (mode == SS_TEST_PG_PROXY_REFUSE) {
        atomic_fetch_add(&proxy->generation, 1);
    }
    atomic_store(&proxy->mode, (int)mode);
}

void ss_test_pg_proxy_wait(ss_test_pg_proxy_t *proxy)
{
    for (int i = 0; i < 200 && atomic_load(&proxy->applied_mode) != atomic_load(&proxy->mode);
         i++) {
        struct timespec pause = {0, 10 * 1000000L};
        nanosleep(&pause, NULL);
    }
    assert_int_equal(atomic_load(&proxy->applied_mode), atomic_load(&proxy->mode));
    /* Relays notice a mode within one poll (100 ms). */
    struct timespec settle = {0, 150 * 1000000L};
    nanosleep(&settle, NULL);
}

void ss_test_pg_proxy_stop(ss_test_pg_proxy_t *proxy)
{
    if (proxy == NULL) {
        return;
    }
    atomic_store(&proxy->stopping, true);
    pthread_join(proxy->accept_thread, NULL);
    if (proxy->listen_fd >= 0) {
        close(proxy->listen_fd);
    }
    /* Relay threads notice within 100 ms; the proxy is freed after them. */
    struct timespec wait = {0, 300 * 1000000L};
    nanosleep(&wait, NULL);
    free(proxy);
}

/* A test's own redis-server, started and killed at will (see ss_test_private_redis.h). */
#include "ss_test_private_redis.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* Waiting for the server to answer PING: every 50 ms, at most this many times. */
#define PRIVATE_REDIS_POLLS_MAX 200
#define PRIVATE_REDIS_POLL_US 50000
#define PRIVATE_REDIS_TIMEOUT_MS 1000

static int private_redis_free_port(void)
{
    int sock = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(sock >= 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
    assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &address.sin_addr), 1);
    assert_int_equal(bind(sock, (struct sockaddr *)&address, sizeof(address)), 0);
    socklen_t length = sizeof(address);
    assert_int_equal(getsockname(sock, (struct sockaddr *)&address, &length), 0);
    close(sock);
    return ntohs(address.sin_port);
}

ss_redis_t *ss_test_private_redis_connect(const ss_test_private_redis_t *redis)
{
    ss_redis_t *connection = NULL;
    char errstr[256];
    if (ss_redis_connect(redis->url, PRIVATE_REDIS_TIMEOUT_MS, &connection, errstr,
                         sizeof(errstr)) != SS_OK) {
        fail_msg("could not connect to the private redis: %s", errstr);
    }
    return connection;
}

void ss_test_private_redis_start(ss_test_private_redis_t *redis)
{
    assert_int_equal(redis->pid, 0);
    if (redis->port == 0) {
        redis->port = private_redis_free_port();
        snprintf(redis->url, sizeof(redis->url), "redis://127.0.0.1:%d/0", redis->port);
        snprintf(redis->env, sizeof(redis->env), "REDIS_URL=%s", redis->url);
    }
    char port[16], log_path[128];
    snprintf(port, sizeof(port), "%d", redis->port);
    snprintf(log_path, sizeof(log_path), "/tmp/ss-test-private-redis-%d.log", redis->port);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--daemonize", "no", (char *)NULL);
        _exit(127);
    }
    redis->pid = pid;
    for (int poll = 0; poll < PRIVATE_REDIS_POLLS_MAX; poll++) {
        ss_redis_t *connection = NULL;
        char errstr[256];
        if (ss_redis_connect(redis->url, PRIVATE_REDIS_TIMEOUT_MS, &connection, errstr,
                             sizeof(errstr)) == SS_OK) {
            ss_err_t err = ss_redis_ping(connection, errstr, sizeof(errstr));
            ss_redis_destroy(connection);
            if (err == SS_OK) {
                return;
            }
        }
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            redis->pid = 0;
            fail_msg("redis-server exited early (see %s)", log_path);
        }
        usleep(PRIVATE_REDIS_POLL_US);
    }
    fail_msg("the private redis on port %d did not answer PING", redis->port);
}

void ss_test_private_redis_stop(ss_test_private_redis_t *redis, int signal_number)
{
    if (redis->pid <= 0) {
        return;
    }
    kill(redis->pid, signal_number);
    waitpid(redis->pid, NULL, 0);
    redis->pid = 0;
}

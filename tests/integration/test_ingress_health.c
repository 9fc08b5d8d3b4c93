/*
 * Integration test of the ss-ingress binary against the real stack: /health answers 200 while
 * the process is up, /ready answers 200 with every dependency UP, and with a REDIS_URL that
 * points nowhere /ready answers 503 UNAVAILABLE naming redis (while /health stays 200).
 * SIGTERM stops the binary cleanly (exit status 0). A fatal producer error is explained by
 * /ready (503) and then ends the process with a failure status.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss_test_stack.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define INGRESS_BINARY "producers/ingress/ss-ingress"
#define TEST_ADMIN_TOKEN "ADMIN_TOKEN=integration-test-admin-token"
/* Waiting for the binary to listen: polls every 50 ms, at most this many times. */
#define WAIT_POLLS_MAX 400
#define WAIT_POLL_US 50000
#define BODY_MAX 4096

typedef struct http_reply {
    long status;
    char body[BODY_MAX];
    size_t body_length;
    char retry_after[32];
} http_reply_t;

static size_t on_body(char *data, size_t size, size_t count, void *user)
{
    http_reply_t *reply = user;
    size_t length = size * count;
    size_t room = sizeof(reply->body) - 1 - reply->body_length;
    size_t copy = length < room ? length : room;
    memcpy(reply->body + reply->body_length, data, copy);
    reply->body_length += copy;
    reply->body[reply->body_length] = '\0';
    return length;
}

static size_t on_header(char *line, size_t size, size_t count, void *user)
{
    http_reply_t *reply = user;
    size_t length = size * count;
    const char name[] = "Retry-After:";
    if (length > sizeof(name) && strncasecmp(line, name, sizeof(name) - 1) == 0) {
        const char *value = line + sizeof(name) - 1;
        size_t value_length = length - (sizeof(name) - 1);
        while (value_length > 0 && *value == ' ') {
            value++;
            value_length--;
        }
        while (value_length > 0 &&
               (value[value_length - 1] == '\r' || value[value_length - 1] == '\n')) {
            value_length--;
        }
        if (value_length >= sizeof(reply->retry_after)) {
            value_length = sizeof(reply->retry_after) - 1;
        }
        memcpy(reply->retry_after, value, value_length);
        reply->retry_after[value_length] = '\0';
    }
    return length;
}

/* GET; returns false when the connection failed (not listening yet), true with a reply. */
static bool http_get(int port, const char *path, http_reply_t *reply)
{
    memset(reply, 0, sizeof(*reply));
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    CURL *curl = curl_easy_init();
    assert_non_null(curl);
    assert_int_equal(curl_easy_setopt(curl, CURLOPT_URL, url), CURLE_OK);
    assert_int_equal(curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body), CURLE_OK);
    assert_int_equal(curl_easy_setopt(curl, CURLOPT_WRITEDATA, reply), CURLE_OK);
    assert_int_equal(curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header), CURLE_OK);
    assert_int_equal(curl_easy_setopt(curl, CURLOPT_HEADERDATA, reply), CURLE_OK);
    assert_int_equal(curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L), CURLE_OK);
    CURLcode code = curl_easy_perform(curl);
    if (code == CURLE_OK) {
        assert_int_equal(curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status), CURLE_OK);
    }
    curl_easy_cleanup(curl);
    if (code != CURLE_OK && code != CURLE_COULDNT_CONNECT) {
        fail_msg("GET %s: %s", url, curl_easy_strerror(code));
    }
    return code == CURLE_OK;
}

/* A port that was free a moment ago (the kernel's pick for port 0). */
static int free_port(void)
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

typedef struct ingress_process {
    pid_t pid;
    int port;
    char port_entry[64];
    char redis_entry[256];
} ingress_process_t;

/*
 * Starts ss-ingress on a free port (redis_url NULL: the stack's; extra NULL or one more
 * NAME=value) and waits until it listens.
 */
static void ingress_start(ingress_process_t *process, const char *redis_url, const char *extra)
{
    memset(process, 0, sizeof(*process));
    process->port = free_port();
    snprintf(process->port_entry, sizeof(process->port_entry), "SS_INGRESS_PORT=%d", process->port);
    snprintf(process->redis_entry, sizeof(process->redis_entry), "REDIS_URL=%s",
             redis_url != NULL ? redis_url : ss_test_redis_url());
    static char bootstrap_entry[512];
    static char dsn_entry[1024];
    snprintf(bootstrap_entry, sizeof(bootstrap_entry), "KAFKA_BOOTSTRAP=%s",
             ss_test_kafka_bootstrap());
    snprintf(dsn_entry, sizeof(dsn_entry), "PG_DSN=%s", ss_test_pg_dsn());
    const char *environment[] = {process->port_entry,
                                 process->redis_entry,
                                 bootstrap_entry,
                                 dsn_entry,
                                 TEST_ADMIN_TOKEN,
                                 extra,
                                 NULL};
    process->pid = ss_test_process_start(INGRESS_BINARY, environment);
    http_reply_t reply;
    for (int poll = 0; poll < WAIT_POLLS_MAX; poll++) {
        if (http_get(process->port, "/health", &reply)) {
            return;
        }
        int status = 0;
        if (waitpid(process->pid, &status, WNOHANG) == process->pid) {
            fail_msg("ss-ingress exited early with status %d (see /tmp/ss-test-ss-ingress.log)",
                     status);
        }
        usleep(WAIT_POLL_US);
    }
    ss_test_process_stop(process->pid, SIGKILL);
    fail_msg("ss-ingress did not listen on port %d", process->port);
}

/* SIGTERM, then waits (bounded) for a clean exit. */
static void ingress_stop(ingress_process_t *process)
{
    assert_int_equal(kill(process->pid, SIGTERM), 0);
    for (int poll = 0; poll < WAIT_POLLS_MAX; poll++) {
        int status = 0;
        if (waitpid(process->pid, &status, WNOHANG) == process->pid) {
            assert_true(WIFEXITED(status));
            assert_int_equal(WEXITSTATUS(status), 0);
            return;
        }
        usleep(WAIT_POLL_US);
    }
    ss_test_process_stop(process->pid, SIGKILL);
    fail_msg("ss-ingress did not stop after SIGTERM");
}

static const char *json_path_string(json_t *root, const char *object, const char *key)
{
    json_t *parent = object != NULL ? json_object_get(root, object) : root;
    return json_string_value(json_object_get(parent, key));
}

/* /ready probes with a short timeout; give a just-started producer a few tries to connect. */
static void ready_get(int port, long expected_status, http_reply_t *reply)
{
    for (int attempt = 0; attempt < 20; attempt++) {
        assert_true(http_get(port, "/ready", reply));
        if (reply->status == expected_status) {
            return;
        }
        usleep(WAIT_POLL_US * 4);
    }
    fail_msg("GET /ready answered %ld, expected %ld: %s", reply->status, expected_status,
             reply->body);
}

static void test_health_and_ready_answer_200_against_the_stack(void **state)
{
    (void)state;
    ingress_process_t process;
    ingress_start(&process, NULL, NULL);

    http_reply_t reply;
    assert_true(http_get(process.port, "/health", &reply));
    assert_int_equal(reply.status, 200);
    assert_string_equal(reply.body,
                        "{\"code\":200,\"message\":\"OK\",\"data\":{\"status\":\"UP\"}}");

    ready_get(process.port, 200, &reply);
    json_error_t error;
    json_t *root = json_loads(reply.body, 0, &error);
    assert_non_null(root);
    assert_int_equal(json_integer_value(json_object_get(root, "code")), 200);
    assert_string_equal(json_path_string(root, NULL, "message"), "OK");
    assert_string_equal(json_path_string(root, "data", "kafka"), "UP");
    assert_string_equal(json_path_string(root, "data", "postgres"), "UP");
    assert_string_equal(json_path_string(root, "data", "redis"), "UP");
    json_decref(root);

    assert_true(http_get(process.port, "/api/v1/no-such-thing", &reply));
    assert_int_equal(reply.status, 404);
    assert_string_equal(reply.body,
                        "{\"code\":404,\"message\":\"no such endpoint\",\"error\":\"NOT_FOUND\"}");
    ingress_stop(&process);
}

static void test_ready_is_503_naming_redis_when_redis_is_unreachable(void **state)
{
    (void)state;
    ingress_process_t process;
    /* Port 1 on loopback: nothing listens there, connections are refused at once. */
    ingress_start(&process, "redis://127.0.0.1:1/0", NULL);

    http_reply_t reply;
    assert_true(http_get(process.port, "/health", &reply));
    assert_int_equal(reply.status, 200);

    /* Kafka and PostgreSQL are up: retry while a just-started producer is still connecting. */
    json_t *root = NULL;
    for (int attempt = 0; attempt < 20; attempt++) {
        json_decref(root);
        assert_true(http_get(process.port, "/ready", &reply));
        json_error_t error;
        root = json_loads(reply.body, 0, &error);
        assert_non_null(root);
        const char *kafka = json_path_string(root, "data", "kafka");
        if (kafka != NULL && strcmp(kafka, "UP") == 0) {
            break;
        }
        usleep(WAIT_POLL_US * 4);
    }
    assert_int_equal(reply.status, 503);
    assert_string_not_equal(reply.retry_after, "");
    assert_int_equal(json_integer_value(json_object_get(root, "code")), 503);
    assert_string_equal(json_path_string(root, NULL, "error"), "UNAVAILABLE");
    assert_string_equal(json_path_string(root, NULL, "message"),
                        "not ready: redis is not reachable");
    assert_string_equal(json_path_string(root, "data", "kafka"), "UP");
    assert_string_equal(json_path_string(root, "data", "postgres"), "UP");
    assert_string_equal(json_path_string(root, "data", "redis"), "DOWN");
    json_decref(root);
    ingress_stop(&process);
}

/*
 * A fatal producer error (injected 1.5 s after start): /ready answers 503 saying why while the
 * process drains, then the process exits with a failure status, without being asked to.
 */
static void test_fatal_producer_error_is_reported_by_ready_and_ends_the_process(void **state)
{
    (void)state;
    ingress_process_t process;
    ingress_start(&process, NULL, "SS_FAULT_PRODUCER_FATAL_AFTER_MS=1500");
    http_reply_t reply = {0};
    bool explained = false;
    for (int poll = 0; poll < WAIT_POLLS_MAX && !explained; poll++) {
        explained = http_get(process.port, "/ready", &reply) && reply.status == 503 &&
                    strstr(reply.body, "failed fatally") != NULL;
        usleep(WAIT_POLL_US);
    }
    assert_true(explained);
    json_error_t error;
    json_t *root = json_loads(reply.body, 0, &error);
    assert_non_null(root);
    assert_string_equal(json_path_string(root, NULL, "error"), "UNAVAILABLE");
    assert_non_null(strstr(json_path_string(root, NULL, "message"), "the ingress is stopping"));
    assert_string_equal(json_path_string(root, "data", "kafka"), "FAILED");
    json_decref(root);
    int status = 0;
    pid_t ended = 0;
    for (int poll = 0; poll < WAIT_POLLS_MAX && ended == 0; poll++) {
        ended = waitpid(process.pid, &status, WNOHANG);
        usleep(WAIT_POLL_US);
    }
    if (ended == 0) {
        ss_test_process_stop(process.pid, SIGKILL);
        fail_msg("ss-ingress kept running after a fatal producer error");
    }
    assert_true(WIFEXITED(status));
    assert_int_not_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_and_ready_answer_200_against_the_stack),
        cmocka_unit_test(test_ready_is_503_naming_redis_when_redis_is_unreachable),
        cmocka_unit_test(test_fatal_producer_error_is_reported_by_ready_and_ends_the_process),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}

/* Shared integration-test helpers (see ss_test_stack.h). */
#include "ss_test_stack.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss/clock.h"
#include "ss/kafka.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SS_TEST_STOP_WAIT_MS 20000
#define SS_TEST_ENVIRONMENT_MAX 32

const char *ss_test_env(const char *name, const char *fallback)
{
    const char *value = getenv(name);
    return value != NULL && value[0] != '\0' ? value : fallback;
}

const char *ss_test_kafka_bootstrap(void)
{
    return ss_test_env("KAFKA_BOOTSTRAP", "127.0.0.1:19092");
}

int32_t ss_test_partition_of(const char *topic, const char *key)
{
    int32_t count = 0;
    char errstr[256];
    assert_int_equal(ss_kafka_topic_partition_count(ss_test_kafka_bootstrap(), topic, &count, 10000,
                                                    errstr, sizeof(errstr)),
                     SS_OK);
    return ss_kafka_partition_for_key(key, strlen(key), count);
}

const char *ss_test_pg_dsn(void)
{
    return ss_test_env("PG_DSN", "postgresql://shopstream:shopstream@127.0.0.1:15432/shopstream");
}

const char *ss_test_redis_url(void)
{
    return ss_test_env("REDIS_URL", "redis://127.0.0.1:16379/0");
}

ss_pg_t *ss_test_pg_connect(void)
{
    ss_pg_t *pg = NULL;
    char errstr[512];
    if (ss_pg_connect(ss_test_pg_dsn(), "ss-test", 10, &pg, errstr, sizeof(errstr)) != SS_OK) {
        fail_msg("could not connect to postgresql: %s", errstr);
    }
    return pg;
}

int64_t ss_test_pg_scalar(ss_pg_t *pg, const char *sql, int param_count, const char *const *params)
{
    PGresult *result = NULL;
    char errstr[512];
    if (ss_pg_query(pg, NULL, sql, param_count, params, &result, errstr, sizeof(errstr)) != SS_OK) {
        fail_msg("query failed: %s: %s", sql, errstr);
    }
    int64_t value = 0;
    if (PQntuples(result) < 1 ||
        ss_pg_get_int64(result, 0, 0, &value, errstr, sizeof(errstr)) != SS_OK) {
        PQclear(result);
        fail_msg("query gave no integer: %s", sql);
    }
    PQclear(result);
    return value;
}

void ss_test_pg_exec(ss_pg_t *pg, const char *sql, int param_count, const char *const *params)
{
    char errstr[512];
    if (ss_pg_query(pg, NULL, sql, param_count, params, NULL, errstr, sizeof(errstr)) != SS_OK) {
        fail_msg("statement failed: %s: %s", sql, errstr);
    }
}

int64_t ss_test_user_create(ss_pg_t *pg, const char *nickname)
{
    const char *params[] = {nickname};
    return ss_test_pg_scalar(pg, "INSERT INTO users (nickname) VALUES ($1) RETURNING id", 1,
                             params);
}

static const char *binary_dir(void)
{
    return ss_test_env("SS_BUILD_DIR", SS_BINARY_DIR);
}

pid_t ss_test_process_start(const char *relative_path, const char *const *environment)
{
    char path[1024], log_path[1024];
    snprintf(path, sizeof(path), "%s/%s", binary_dir(), relative_path);
    const char *name = strrchr(relative_path, '/');
    snprintf(log_path, sizeof(log_path), "/tmp/ss-test-%s.log", name ? name + 1 : relative_path);
    pid_t pid = fork();
    if (pid < 0) {
        fail_msg("could not fork for %s", path);
    }
    if (pid == 0) {
        for (size_t i = 0;
             environment != NULL && environment[i] != NULL && i < SS_TEST_ENVIRONMENT_MAX; i++) {
            putenv((char *)environment[i]);
        }
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execl(path, path, (char *)NULL);
        _exit(127);
    }
    return pid;
}

void ss_test_process_stop(pid_t pid, int signal_number)
{
    if (pid <= 0) {
        return;
    }
    kill(pid, signal_number);
    for (int waited = 0; waited < SS_TEST_STOP_WAIT_MS; waited += 50) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            return;
        }
        usleep(50000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

const ss_avro_registry_t *ss_test_registry(void)
{
    static ss_avro_registry_t *registry;
    if (registry == NULL) {
        char errstr[512];
        if (ss_avro_registry_load(NULL, &registry, errstr, sizeof(errstr)) != SS_OK) {
            fail_msg("could not load schemas: %s", errstr);
        }
    }
    return registry;
}

void ss_test_produce(const char *topic, const char *key, const char *schema_name,
                     const json_t *record)
{
    static ss_kafka_producer_t *producer;
    char errstr[512];
    if (producer == NULL) {
        ss_kafka_producer_config_t config = {.bootstrap = ss_test_kafka_bootstrap(),
                                             .client_id = "ss-test"};
        if (ss_kafka_producer_new(&config, &producer, errstr, sizeof(errstr)) != SS_OK) {
            fail_msg("could not create a producer: %s", errstr);
        }
    }
    ss_avro_buffer_t buffer;
    ss_avro_buffer_init(&buffer);
    if (ss_avro_encode(ss_test_registry(), schema_name, record, &buffer, errstr, sizeof(errstr)) !=
        SS_OK) {
        fail_msg("could not encode %s: %s", schema_name, errstr);
    }
    if (ss_kafka_producer_send(producer, topic, SS_KAFKA_PARTITION_BY_KEY, key, strlen(key),
                               buffer.data, buffer.length, NULL, 0, NULL, errstr,
                               sizeof(errstr)) != SS_OK ||
        ss_kafka_producer_flush(producer, 10000, errstr, sizeof(errstr)) != SS_OK) {
        fail_msg("could not produce to %s: %s", topic, errstr);
    }
    ss_avro_buffer_free(&buffer);
}

int64_t ss_test_wait_scalar(ss_pg_t *pg, const char *sql, int param_count,
                            const char *const *params, int64_t expected, int timeout_ms)
{
    int64_t value = ss_test_pg_scalar(pg, sql, param_count, params);
    for (int waited = 0; value != expected && waited < timeout_ms; waited += 50) {
        usleep(50000);
        value = ss_test_pg_scalar(pg, sql, param_count, params);
    }
    return value;
}

const char *ss_test_run_id(void)
{
    static char id[64];
    if (id[0] == '\0') {
        snprintf(id, sizeof(id), "%ld-%lld", (long)getpid(), (long long)ss_clock_now_ms());
    }
    return id;
}

static pid_t broker_pid(void)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/pids/kafka.pid", ss_test_env("SS_STATE_DIR", ".state"));
    FILE *file = fopen(path, "r");
    assert_non_null(file);
    long pid = 0;
    assert_int_equal(fscanf(file, "%ld", &pid), 1);
    fclose(file);
    return (pid_t)pid;
}

void ss_test_broker_stop(void)
{
    pid_t broker = broker_pid();
    assert_int_equal(kill(broker, SIGTERM), 0);
    for (int i = 0; i < 600 && kill(broker, 0) == 0; i++) {
        usleep(100 * 1000);
    }
    assert_int_not_equal(kill(broker, 0), 0);
}

void ss_test_broker_start(void)
{
    char command[1024];
    snprintf(command, sizeof(command), "cd '%s' && scripts/stack.sh start >/dev/null 2>&1",
             SS_SOURCE_DIR);
    assert_int_equal(system(command), 0);
}

int ss_test_process_exit_wait(pid_t pid, int timeout_ms)
{
    int status = 0;
    for (int waited = 0; waited <= timeout_ms; waited += 100) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        usleep(100 * 1000);
    }
    ss_test_process_stop(pid, SIGKILL);
    fail_msg("process %ld still runs after %d ms", (long)pid, timeout_ms);
    return -1;
}

static void log_path_of(const char *name, char *out, size_t out_size)
{
    snprintf(out, out_size, "/tmp/ss-test-%s.log", name);
}

long ss_test_log_size(const char *name)
{
    char path[512];
    log_path_of(name, path, sizeof(path));
    struct stat info;
    return stat(path, &info) == 0 ? (long)info.st_size : 0;
}

bool ss_test_log_contains(const char *name, long from, const char *text)
{
    char path[512];
    log_path_of(name, path, sizeof(path));
    FILE *file = fopen(path, "r");
    if (file == NULL || fseek(file, from, SEEK_SET) != 0) {
        if (file != NULL) {
            fclose(file);
        }
        return false;
    }
    char line[8192];
    bool found = false;
    while (!found && fgets(line, sizeof(line), file) != NULL) {
        found = strstr(line, text) != NULL;
    }
    fclose(file);
    return found;
}

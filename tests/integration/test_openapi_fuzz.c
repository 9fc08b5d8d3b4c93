/*
 * The contract, fuzzed: scripts/fuzz-api.sh runs schemathesis (installed by
 * scripts/install-deps.sh) with every check against an ss-ingress of this test (instance 1) and
 * one user, coupon and stock worker, reading the document the ingress serves at GET
 * /openapi.json, once per seed of tests/fuzz/openapi/seeds.txt with a bounded number of cases.
 * Any finding (a 5xx, an undocumented status, a body or header off its schema, invalid data
 * accepted, valid data refused, an admin route that ignores its token) fails the test, and the
 * fuzzer's own report says which request it was.
 *
 * A second run, on a copy of the document with one disagreement of issue 10 put back (the
 * Prefer header as an enum the server rightly does not enforce), must fail: the harness (its
 * checks, its exit status) can see a finding at all.
 *
 * Each run is a child in its own process group with a deadline; on the deadline the group is
 * killed and the test fails. The group teardown stops the services whatever happened.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss_test_services.h"
#include "ss_test_stack.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define FUZZ_SCRIPT SS_SOURCE_DIR "/scripts/fuzz-api.sh"
#define FUZZ_DOCUMENT SS_SOURCE_DIR "/docs/openapi.json"
#define FUZZ_INSTANCE 1
#define FUZZ_PORT 18194
/* The whole seed list; one seed's run is stopped by the script after FUZZ_SEED_TIMEOUT_S. */
#define FUZZ_RUN_DEADLINE_S 150
#define FUZZ_SEED_TIMEOUT_S "70"
/* The run on the broken document: one seed, few cases (the coverage phase finds it). */
#define FUZZ_BROKEN_DEADLINE_S 60
#define FUZZ_POLL_US 100000
/* What is kept of the broken run's report (a few KiB in practice). */
#define FUZZ_OUTPUT_BYTES_MAX (1024 * 1024)

static ss_test_services_t services;

static int setup(void **state)
{
    ss_test_services_config_t config = {.instance = FUZZ_INSTANCE, .port = FUZZ_PORT};
    config.workers[SS_TEST_SERVICE_USER] = 1;
    config.workers[SS_TEST_SERVICE_COUPON] = 1;
    config.workers[SS_TEST_SERVICE_STOCK] = 1;
    ss_test_services_start(&services, &config);
    *state = &services;
    return 0;
}

/*
 * Runs scripts/fuzz-api.sh against this test's ingress with "NAME=value" entries added to the
 * environment, its output to output_path (NULL: this test's output); returns its exit status,
 * or fails the test when it outlives deadline_s.
 */
static int fuzz_run(const char *const *environment, const char *output_path, int deadline_s)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setpgid(0, 0);
        setenv("ADMIN_TOKEN", services.admin_token, 1);
        setenv("SS_FUZZ_SEED_TIMEOUT_S", FUZZ_SEED_TIMEOUT_S, 1);
        for (size_t i = 0; environment != NULL && environment[i] != NULL; i++) {
            putenv((char *)environment[i]);
        }
        if (output_path != NULL && (freopen(output_path, "w", stdout) == NULL ||
                                    dup2(fileno(stdout), STDERR_FILENO) < 0)) {
            _exit(126);
        }
        execl(FUZZ_SCRIPT, FUZZ_SCRIPT, services.base_url, (char *)NULL);
        fprintf(stderr, "could not run %s\n", FUZZ_SCRIPT);
        _exit(127);
    }
    setpgid(pid, pid); /* also here: whichever runs first, the group exists before a kill */
    for (long waited_us = 0; waited_us < (long)deadline_s * 1000000; waited_us += FUZZ_POLL_US) {
        int status = 0;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            assert_true(WIFEXITED(status));
            return WEXITSTATUS(status);
        }
        usleep(FUZZ_POLL_US);
    }
    kill(-pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fail_msg("%s did not finish within %d s", FUZZ_SCRIPT, deadline_s);
    return -1;
}

static void test_the_served_document_passes_every_check_for_every_seed(void **state)
{
    (void)state;
    assert_int_equal(fuzz_run(NULL, NULL, FUZZ_RUN_DEADLINE_S), 0);
}

/* The document with the Prefer header's old enum (the server ignores other preferences). */
static void broken_document_write(const char *path)
{
    json_error_t error;
    json_t *document = json_load_file(FUZZ_DOCUMENT, 0, &error);
    assert_non_null(document);
    json_t *schema = json_object_get(
        json_object_get(json_object_get(json_object_get(document, "components"), "parameters"),
                        "Prefer"),
        "schema");
    assert_non_null(schema);
    assert_null(json_object_get(schema, "enum"));
    assert_int_equal(json_object_set_new(schema, "enum", json_pack("[s]", "respond-async")), 0);
    assert_int_equal(json_dump_file(document, path, JSON_INDENT(2)), 0);
    json_decref(document);
}

/* The whole of a small text file, NUL-terminated (malloc'd). */
static char *file_read(const char *path)
{
    FILE *file = fopen(path, "rb");
    assert_non_null(file);
    char *text = calloc(FUZZ_OUTPUT_BYTES_MAX + 1, 1);
    assert_non_null(text);
    size_t length = fread(text, 1, FUZZ_OUTPUT_BYTES_MAX, file);
    text[length] = '\0';
    fclose(file);
    return text;
}

static void test_a_disagreement_put_back_into_the_document_is_found(void **state)
{
    (void)state;
    char path[128], output[128], document_env[160];
    snprintf(path, sizeof(path), "/tmp/ss-test-openapi-broken-%s.json", ss_test_run_id());
    snprintf(output, sizeof(output), "/tmp/ss-test-openapi-broken-%s.txt", ss_test_run_id());
    snprintf(document_env, sizeof(document_env), "SS_FUZZ_DOCUMENT=%s", path);
    broken_document_write(path);
    const char *environment[] = {document_env, "SS_FUZZ_SEEDS=1", "SS_FUZZ_MAX_EXAMPLES=5", NULL};
    int status = fuzz_run(environment, output, FUZZ_BROKEN_DEADLINE_S);
    char *text = file_read(output);
    printf("%s", text);
    unlink(path);
    unlink(output);
    assert_int_equal(status, 1);
    /* The finding itself, not any failure to run: a Prefer value off the enum was accepted. */
    assert_non_null(strstr(text, "Schema-violating request accepted"));
    assert_non_null(strstr(text, "parameter `Prefer` in header"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_served_document_passes_every_check_for_every_seed),
        cmocka_unit_test(test_a_disagreement_put_back_into_the_document_is_found),
    };
    return cmocka_run_group_tests(tests, setup, ss_test_services_teardown);
}

/*
 * Redis connection wrapper over hiredis 0.14's synchronous API. hiredis leaves a context
 * unusable after any I/O error or timeout (a late reply would be read as the answer to the next
 * command), so such an error marks the wrapper broken; the next call frees the context and
 * connects afresh once (AUTH and SELECT included) before sending anything. Pipelines and
 * MULTI/EXEC are built from redisAppendCommandArgv + redisGetReply, so N commands cost one
 * round trip.
 */
#include "ss/redis.h"

#include "ss/assert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define REDIS_URL_SCHEME "redis://"
#define REDIS_URL_LENGTH_MAX 1024
#define REDIS_PORT_DEFAULT 6379
#define REDIS_ERRSTR_SIZE 512
/* How much of a command name or an error reply a message quotes. */
#define REDIS_QUOTE_MAX 64

struct ss_redis {
    redisContext *context;
    ss_redis_url_t url;
    int timeout_ms;
    bool broken;
    size_t pending;          /* appended commands whose replies are not read yet */
    ss_err_t pipeline_error; /* the first append failure, reported by collect */
    char pipeline_errstr[REDIS_ERRSTR_SIZE];
};

/* ---- URL parsing ------------------------------------------------------------------------- */

static int redis_hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Percent-decodes text[0..length) into dst (dst_size bytes with the NUL). */
static ss_err_t redis_url_decode(const char *text, size_t length, char *dst, size_t dst_size,
                                 const char *what, char *errstr, size_t errstr_size)
{
    size_t out = 0;
    for (size_t i = 0; i < length; i++) {
        char c = text[i];
        if (c == '%') {
            int high = i + 2 < length ? redis_hex_value(text[i + 1]) : -1;
            int low = i + 2 < length ? redis_hex_value(text[i + 2]) : -1;
            if (high < 0 || low < 0) {
                return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                                  "invalid redis url: bad percent escape in %s", what);
            }
            c = (char)(high * 16 + low);
            if (c == '\0') {
                return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                                  "invalid redis url: %%00 in %s", what);
            }
            i += 2;
        }
        if (out + 1 >= dst_size) {
            return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                              "invalid redis url: %s longer than %zu characters", what,
                              dst_size - 1);
        }
        dst[out++] = c;
    }
    dst[out] = '\0';
    return SS_OK;
}

/* Parses decimal digits text[0..length) into [min, max]. */
static bool redis_parse_number(const char *text, size_t length, int min, int max, int *out)
{
    if (length == 0 || length > 9) {
        return false;
    }
    int value = 0;
    for (size_t i = 0; i < length; i++) {
        if (text[i] < '0' || text[i] > '9') {
            return false;
        }
        value = value * 10 + (text[i] - '0');
    }
    if (value < min || value > max) {
        return false;
    }
    *out = value;
    return true;
}

ss_err_t ss_redis_url_parse(const char *url, ss_redis_url_t *out, char *errstr, size_t errstr_size)
{
    SS_ASSERT(out != NULL);
    memset(out, 0, sizeof(*out));
    out->port = REDIS_PORT_DEFAULT;

    if (url == NULL || url[0] == '\0') {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "invalid redis url: empty");
    }
    size_t url_length = strnlen(url, REDIS_URL_LENGTH_MAX + 1);
    if (url_length > REDIS_URL_LENGTH_MAX) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "invalid redis url: longer than %d characters", REDIS_URL_LENGTH_MAX);
    }
    if (strncmp(url, "rediss://", 9) == 0) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "invalid redis url \"%s\": tls (rediss://) is not supported", url);
    }
    size_t scheme_length = strlen(REDIS_URL_SCHEME);
    if (strncmp(url, REDIS_URL_SCHEME, scheme_length) != 0) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "invalid redis url \"%s\": it must start with redis://", url);
    }

    const char *authority = url + scheme_length;
    size_t authority_length = strcspn(authority, "/?#");
    const char *rest = authority + authority_length;
    ss_err_t err;

    /* Credentials: everything up to the last '@' of the authority. */
    const char *at = NULL;
    for (size_t i = 0; i < authority_length; i++) {
        if (authority[i] == '@') {
            at = authority + i;
        }
    }
    const char *host_part = authority;
    size_t host_part_length = authority_length;
    if (at != NULL) {
        size_t userinfo_length = (size_t)(at - authority);
        const char *colon = memchr(authority, ':', userinfo_length);
        if (colon == NULL) {
            return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                              "invalid redis url: credentials need a password "
                              "(redis://[user]:password@host)");
        }
        size_t username_length = (size_t)(colon - authority);
        err = redis_url_decode(authority, username_length, out->username, sizeof(out->username),
                               "username", errstr, errstr_size);
        if (err != SS_OK) {
            return err;
        }
        err = redis_url_decode(colon + 1, userinfo_length - username_length - 1, out->password,
                               sizeof(out->password), "password", errstr, errstr_size);
        if (err != SS_OK) {
            return err;
        }
        if (out->password[0] == '\0') {
            return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                              "invalid redis url: empty password");
        }
        host_part = at + 1;
        host_part_length = authority_length - userinfo_length - 1;
    }

    /* Host, bracketed for IPv6, then an optional port. */
    const char *host = host_part;
    size_t host_length;
    const char *after_host;
    if (host_part_length > 0 && host_part[0] == '[') {
        const char *close = memchr(host_part, ']', host_part_length);
        if (close == NULL) {
            return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                              "invalid redis url: '[' without ']' in host");
        }
        host = host_part + 1;
        host_length = (size_t)(close - host);
        after_host = close + 1;
    } else {
        const char *colon = memchr(host_part, ':', host_part_length);
        host_length = colon != NULL ? (size_t)(colon - host_part) : host_part_length;
        after_host = host_part + host_length;
    }
    if (host_length == 0) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "invalid redis url \"%s\": missing host", url);
    }
    if (host_length > SS_REDIS_HOST_MAX) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "invalid redis url: host longer than %d characters", SS_REDIS_HOST_MAX);
    }
    for (size_t i = 0; i < host_length; i++) {
        char c = host[i];
        if (c == '@' || c == '[' || c == ']' || c == '%' || c == ' ' || c == ',') {
            return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                              "invalid redis url: bad character '%c' in host", c);
        }
    }
    memcpy(out->host, host, host_length);
    out->host[host_length] = '\0';

    size_t after_host_length = (size_t)(host_part + host_part_length - after_host);
    if (after_host_length > 0) {
        if (after_host[0] != ':' ||
            !redis_parse_number(after_host + 1, after_host_length - 1, 1, 65535, &out->port)) {
            return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                              "invalid redis url \"%s\": port must be 1..65535", url);
        }
    }

    /* Path: nothing, "/" or "/<db>". */
    if (rest[0] == '\0' || strcmp(rest, "/") == 0) {
        return SS_OK;
    }
    if (rest[0] != '/') {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "invalid redis url \"%s\": query and fragment are not supported", url);
    }
    if (!redis_parse_number(rest + 1, strlen(rest + 1), 0, SS_REDIS_DB_MAX, &out->db)) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "invalid redis url \"%s\": database must be 0..%d", url, SS_REDIS_DB_MAX);
    }
    return SS_OK;
}

/* ---- connection -------------------------------------------------------------------------- */

static struct timeval redis_timeval(int timeout_ms)
{
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    return tv;
}

/* Writes "<name>" of a command for messages. */
static void redis_command_name(char *dst, size_t dst_size, const char **argv, const size_t *argvlen)
{
    size_t length = argvlen != NULL ? argvlen[0] : strlen(argv[0]);
    if (length > REDIS_QUOTE_MAX) {
        length = REDIS_QUOTE_MAX;
    }
    snprintf(dst, dst_size, "%.*s", (int)length, argv[0]);
}

/* Sends one command on a fresh context during connect; expects a status or integer reply. */
static ss_err_t redis_handshake(redisContext *context, const ss_redis_url_t *url, int argc,
                                const char **argv, char *errstr, size_t errstr_size)
{
    redisReply *reply = redisCommandArgv(context, argc, argv, NULL);
    if (reply == NULL) {
        return ss_err_set(SS_ERR_RETRIABLE, errstr, errstr_size,
                          "could not connect to redis at %s:%d: %s failed: %s", url->host,
                          url->port, argv[0], context->errstr);
    }
    ss_err_t err = SS_OK;
    if (reply->type == REDIS_REPLY_ERROR) {
        err = ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                         "could not connect to redis at %s:%d: %s refused: %.*s", url->host,
                         url->port, argv[0], REDIS_QUOTE_MAX, reply->str);
    }
    freeReplyObject(reply);
    return err;
}

/* Opens a context for redis->url; on SS_OK redis->context is set and not broken. */
static ss_err_t redis_open(ss_redis_t *redis, char *errstr, size_t errstr_size)
{
    ss_err_t err = SS_OK;
    const ss_redis_url_t *url = &redis->url;
    struct timeval tv = redis_timeval(redis->timeout_ms);

    SS_ASSERT(redis->context == NULL);
    redisContext *context = redisConnectWithTimeout(url->host, url->port, tv);
    if (context == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size,
                          "could not connect to redis at %s:%d: no memory", url->host, url->port);
    }
    if (context->err != 0) {
        err = ss_err_set(SS_ERR_RETRIABLE, errstr, errstr_size,
                         "could not connect to redis at %s:%d: %s", url->host, url->port,
                         context->errstr);
        goto cleanup;
    }
    if (redisSetTimeout(context, tv) != REDIS_OK) {
        err = ss_err_set(SS_ERR_RETRIABLE, errstr, errstr_size,
                         "could not set timeout on redis connection to %s:%d: %s", url->host,
                         url->port, context->errstr);
        goto cleanup;
    }
    if (redisEnableKeepAlive(context) != REDIS_OK) {
        err = ss_err_set(SS_ERR_RETRIABLE, errstr, errstr_size,
                         "could not enable keepalive on redis connection to %s:%d: %s", url->host,
                         url->port, context->errstr);
        goto cleanup;
    }
    if (url->password[0] != '\0') {
        if (url->username[0] != '\0') {
            const char *argv[] = {"AUTH", url->username, url->password};
            err = redis_handshake(context, url, 3, argv, errstr, errstr_size);
        } else {
            const char *argv[] = {"AUTH", url->password};
            err = redis_handshake(context, url, 2, argv, errstr, errstr_size);
        }
        if (err != SS_OK) {
            goto cleanup;
        }
    }
    if (url->db != 0) {
        char db_text[16];
        snprintf(db_text, sizeof(db_text), "%d", url->db);
        const char *argv[] = {"SELECT", db_text};
        err = redis_handshake(context, url, 2, argv, errstr, errstr_size);
        if (err != SS_OK) {
            goto cleanup;
        }
    }
    redis->context = context;
    context = NULL;
    redis->broken = false;

cleanup:
    if (context != NULL) {
        redisFree(context);
    }
    return err;
}

/* Reconnects once when broken. Not while a pipeline has appended commands. */
static ss_err_t redis_ensure_connected(ss_redis_t *redis, char *errstr, size_t errstr_size)
{
    if (!redis->broken && redis->context != NULL) {
        return SS_OK;
    }
    if (redis->context != NULL) {
        redisFree(redis->context);
        redis->context = NULL;
    }
    redis->broken = true;
    redis->pending = 0;
    return redis_open(redis, errstr, errstr_size);
}

/* After a failed hiredis call: the context is unusable from now on. */
static ss_err_t redis_fail_io(ss_redis_t *redis, const char *what, char *errstr, size_t errstr_size)
{
    redis->broken = true;
    return ss_err_set(SS_ERR_RETRIABLE, errstr, errstr_size, "could not %s on redis at %s:%d: %s",
                      what, redis->url.host, redis->url.port,
                      redis->context != NULL && redis->context->errstr[0] != '\0'
                          ? redis->context->errstr
                          : "connection lost");
}

ss_err_t ss_redis_connect(const char *url, int timeout_ms, ss_redis_t **out, char *errstr,
                          size_t errstr_size)
{
    ss_err_t err = SS_OK;
    ss_redis_t *redis = NULL;

    if (out == NULL) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not connect to redis: out is NULL");
    }
    *out = NULL;
    if (timeout_ms < 1 || timeout_ms > 600000) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not connect to redis: timeout %d ms is outside 1..600000",
                          timeout_ms);
    }
    redis = calloc(1, sizeof(*redis));
    if (redis == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size,
                          "could not connect to redis: no memory");
    }
    err = ss_redis_url_parse(url, &redis->url, errstr, errstr_size);
    if (err != SS_OK) {
        goto cleanup;
    }
    redis->timeout_ms = timeout_ms;
    err = redis_open(redis, errstr, errstr_size);
    if (err != SS_OK) {
        goto cleanup;
    }
    *out = redis;
    redis = NULL;

cleanup:
    ss_redis_destroy(redis);
    return err;
}

void ss_redis_destroy(ss_redis_t *redis)
{
    if (redis == NULL) {
        return;
    }
    if (redis->context != NULL) {
        redisFree(redis->context);
    }
    /* The URL may hold a password. */
    memset(&redis->url, 0, sizeof(redis->url));
    free(redis);
}

bool ss_redis_is_broken(const ss_redis_t *redis)
{
    SS_ASSERT(redis != NULL);
    return redis->broken || redis->context == NULL;
}

/* ---- commands ---------------------------------------------------------------------------- */

static ss_err_t redis_check_argv(int argc, const char **argv, char *errstr, size_t errstr_size)
{
    if (argc < 1 || argc > SS_REDIS_PIPELINE_COMMANDS_MAX || argv == NULL || argv[0] == NULL) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not send redis command: argc %d is outside 1..%d or argv is "
                          "NULL",
                          argc, SS_REDIS_PIPELINE_COMMANDS_MAX);
    }
    for (int i = 0; i < argc; i++) {
        if (argv[i] == NULL) {
            return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                              "could not send redis command: argument %d is NULL", i);
        }
    }
    return SS_OK;
}

ss_err_t ss_redis_command_argv(ss_redis_t *redis, int argc, const char **argv,
                               const size_t *argvlen, redisReply **reply_out, char *errstr,
                               size_t errstr_size)
{
    char name[REDIS_QUOTE_MAX + 1];
    char what[REDIS_QUOTE_MAX + 16];

    SS_ASSERT(redis != NULL);
    if (reply_out != NULL) {
        *reply_out = NULL;
    }
    ss_err_t err = redis_check_argv(argc, argv, errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    if (redis->pending > 0) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not send redis command: a pipeline of %zu commands is not "
                          "collected",
                          redis->pending);
    }
    err = redis_ensure_connected(redis, errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    redis_command_name(name, sizeof(name), argv, argvlen);

    redisReply *reply = redisCommandArgv(redis->context, argc, argv, argvlen);
    if (reply == NULL) {
        snprintf(what, sizeof(what), "run %s", name);
        return redis_fail_io(redis, what, errstr, errstr_size);
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "redis refused %s: %.*s", name,
                         REDIS_QUOTE_MAX * 2, reply->str);
        freeReplyObject(reply);
        return err;
    }
    if (reply_out != NULL) {
        *reply_out = reply;
    } else {
        freeReplyObject(reply);
    }
    return SS_OK;
}

ss_err_t ss_redis_ping(ss_redis_t *redis, char *errstr, size_t errstr_size)
{
    const char *argv[] = {"PING"};
    redisReply *reply = NULL;
    ss_err_t err = ss_redis_command_argv(redis, 1, argv, NULL, &reply, errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    if (reply->type != REDIS_REPLY_STATUS || strcmp(reply->str, "PONG") != 0) {
        err = ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                         "redis answered PING with something other than PONG");
    }
    freeReplyObject(reply);
    return err;
}

/* ---- pipelining -------------------------------------------------------------------------- */

ss_err_t ss_redis_pipeline_append_argv(ss_redis_t *redis, int argc, const char **argv,
                                       const size_t *argvlen, char *errstr, size_t errstr_size)
{
    SS_ASSERT(redis != NULL);
    if (redis->pipeline_error != SS_OK) {
        return ss_err_set(redis->pipeline_error, errstr, errstr_size, "%s", redis->pipeline_errstr);
    }
    ss_err_t err =
        redis_check_argv(argc, argv, redis->pipeline_errstr, sizeof(redis->pipeline_errstr));
    if (err == SS_OK && redis->pending >= SS_REDIS_PIPELINE_COMMANDS_MAX) {
        err = ss_err_set(SS_ERR_INVALID, redis->pipeline_errstr, sizeof(redis->pipeline_errstr),
                         "could not append redis command: more than %d in one pipeline",
                         SS_REDIS_PIPELINE_COMMANDS_MAX);
    }
    if (err == SS_OK && redis->pending == 0) {
        err = redis_ensure_connected(redis, redis->pipeline_errstr, sizeof(redis->pipeline_errstr));
    }
    if (err == SS_OK && redisAppendCommandArgv(redis->context, argc, argv, argvlen) != REDIS_OK) {
        err = ss_err_set(SS_ERR_NOMEM, redis->pipeline_errstr, sizeof(redis->pipeline_errstr),
                         "could not append redis command: %s", redis->context->errstr);
    }
    if (err != SS_OK) {
        redis->pipeline_error = err;
        return ss_err_set(err, errstr, errstr_size, "%s", redis->pipeline_errstr);
    }
    redis->pending++;
    return SS_OK;
}

size_t ss_redis_pipeline_pending(const ss_redis_t *redis)
{
    SS_ASSERT(redis != NULL);
    return redis->pending;
}

static void redis_replies_free(redisReply **replies, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (replies[i] != NULL) {
            freeReplyObject(replies[i]);
            replies[i] = NULL;
        }
    }
}

/*
 * Reads `count` replies into replies[] (all of them, even after an error reply). Returns
 * SS_OK, or SS_ERR_RETRIABLE after an I/O error, in which case replies[] is freed.
 */
static ss_err_t redis_read_replies(ss_redis_t *redis, redisReply **replies, size_t count,
                                   char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < count; i++) {
        void *reply = NULL;
        if (redisGetReply(redis->context, &reply) != REDIS_OK || reply == NULL) {
            if (reply != NULL) {
                freeReplyObject(reply);
            }
            redis_replies_free(replies, i);
            return redis_fail_io(redis, "read pipeline replies", errstr, errstr_size);
        }
        replies[i] = reply;
    }
    return SS_OK;
}

/*
 * Forgets appended commands that must not be sent: they sit unsent in the context's output
 * buffer, and dropping the context is the only way to discard them.
 */
static void redis_pipeline_discard(ss_redis_t *redis)
{
    if (redis->pending > 0) {
        redis->broken = true;
    }
    redis->pending = 0;
    redis->pipeline_error = SS_OK;
    redis->pipeline_errstr[0] = '\0';
}

ss_err_t ss_redis_pipeline_collect(ss_redis_t *redis, redisReply **replies_out, size_t count,
                                   char *errstr, size_t errstr_size)
{
    ss_err_t err = SS_OK;
    redisReply **replies = NULL;

    SS_ASSERT(redis != NULL);
    if (replies_out != NULL) {
        for (size_t i = 0; i < count; i++) {
            replies_out[i] = NULL;
        }
    }
    if (redis->pipeline_error != SS_OK) {
        err = ss_err_set(redis->pipeline_error, errstr, errstr_size, "%s", redis->pipeline_errstr);
        redis_pipeline_discard(redis);
        return err;
    }
    if (replies_out != NULL && count != redis->pending) {
        err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                         "could not collect redis pipeline: %zu reply slots for %zu commands",
                         count, redis->pending);
        redis_pipeline_discard(redis);
        return err;
    }
    size_t pending = redis->pending;
    if (pending == 0) {
        return SS_OK;
    }
    replies = calloc(pending, sizeof(*replies));
    if (replies == NULL) {
        redis_pipeline_discard(redis);
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size,
                          "could not collect redis pipeline: no memory");
    }
    redis->pending = 0;
    err = redis_read_replies(redis, replies, pending, errstr, errstr_size);
    if (err != SS_OK) {
        goto cleanup;
    }
    for (size_t i = 0; i < pending; i++) {
        if (replies[i]->type == REDIS_REPLY_ERROR) {
            err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                             "redis refused pipeline command %zu: %.*s", i, REDIS_QUOTE_MAX * 2,
                             replies[i]->str);
            goto cleanup;
        }
    }
    if (replies_out != NULL) {
        memcpy(replies_out, replies, pending * sizeof(*replies));
        memset(replies, 0, pending * sizeof(*replies));
    }

cleanup:
    redis_replies_free(replies, pending);
    free(replies);
    return err;
}

/* ---- transactions ------------------------------------------------------------------------ */

ss_err_t ss_redis_transaction(ss_redis_t *redis, const ss_redis_command_t *commands, size_t count,
                              redisReply **exec_reply_out, char *errstr, size_t errstr_size)
{
    ss_err_t err = SS_OK;
    redisReply **replies = NULL;
    size_t reply_count = count + 2; /* MULTI, the commands, EXEC */
    char name[REDIS_QUOTE_MAX + 1];

    SS_ASSERT(redis != NULL);
    if (exec_reply_out != NULL) {
        *exec_reply_out = NULL;
    }
    if (commands == NULL || count < 1 || count > SS_REDIS_PIPELINE_COMMANDS_MAX) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not run redis transaction: %zu commands is outside 1..%d", count,
                          SS_REDIS_PIPELINE_COMMANDS_MAX);
    }
    for (size_t i = 0; i < count; i++) {
        err = redis_check_argv(commands[i].argc, commands[i].argv, errstr, errstr_size);
        if (err != SS_OK) {
            return err;
        }
    }
    if (redis->pending > 0 || redis->pipeline_error != SS_OK) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not run redis transaction: a pipeline is not collected");
    }
    err = redis_ensure_connected(redis, errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }

    const char *multi[] = {"MULTI"};
    const char *exec[] = {"EXEC"};
    bool appended = redisAppendCommandArgv(redis->context, 1, multi, NULL) == REDIS_OK;
    for (size_t i = 0; appended && i < count; i++) {
        appended = redisAppendCommandArgv(redis->context, commands[i].argc, commands[i].argv,
                                          commands[i].argvlen) == REDIS_OK;
    }
    appended = appended && redisAppendCommandArgv(redis->context, 1, exec, NULL) == REDIS_OK;
    if (!appended) {
        /* Unsent output must never go out partially: drop the context. */
        redis->broken = true;
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not run redis transaction: %s",
                          redis->context->errstr);
    }

    replies = calloc(reply_count, sizeof(*replies));
    if (replies == NULL) {
        redis->broken = true;
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size,
                          "could not run redis transaction: no memory");
    }
    err = redis_read_replies(redis, replies, reply_count, errstr, errstr_size);
    if (err != SS_OK) {
        goto cleanup;
    }

    if (replies[0]->type != REDIS_REPLY_STATUS) {
        err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "redis refused MULTI: %.*s",
                         REDIS_QUOTE_MAX * 2,
                         replies[0]->type == REDIS_REPLY_ERROR ? replies[0]->str : "?");
        goto cleanup;
    }
    for (size_t i = 0; i < count; i++) {
        if (replies[i + 1]->type == REDIS_REPLY_ERROR) {
            redis_command_name(name, sizeof(name), commands[i].argv, commands[i].argvlen);
            err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                             "redis refused transaction command %zu (%s), nothing applied: %.*s", i,
                             name, REDIS_QUOTE_MAX * 2, replies[i + 1]->str);
            goto cleanup;
        }
    }
    redisReply *exec_reply = replies[count + 1];
    if (exec_reply->type == REDIS_REPLY_NIL) {
        err = ss_err_set(SS_ERR_CONFLICT, errstr, errstr_size,
                         "redis transaction not applied: a watched key changed");
        goto cleanup;
    }
    if (exec_reply->type == REDIS_REPLY_ERROR) {
        err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                         "redis refused EXEC, nothing applied: %.*s", REDIS_QUOTE_MAX * 2,
                         exec_reply->str);
        goto cleanup;
    }
    if (exec_reply->type != REDIS_REPLY_ARRAY || exec_reply->elements != count) {
        redis->broken = true;
        err = ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                         "redis answered EXEC with %zu elements for %zu commands",
                         exec_reply->type == REDIS_REPLY_ARRAY ? exec_reply->elements : 0, count);
        goto cleanup;
    }
    for (size_t i = 0; i < count; i++) {
        if (exec_reply->element[i]->type == REDIS_REPLY_ERROR) {
            redis_command_name(name, sizeof(name), commands[i].argv, commands[i].argvlen);
            err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                             "redis transaction command %zu (%s) failed, the others were "
                             "applied: %.*s",
                             i, name, REDIS_QUOTE_MAX * 2, exec_reply->element[i]->str);
            goto cleanup;
        }
    }
    if (exec_reply_out != NULL) {
        *exec_reply_out = exec_reply;
        replies[count + 1] = NULL;
    }

cleanup:
    if (replies != NULL) {
        redis_replies_free(replies, reply_count);
        free(replies);
    }
    return err;
}

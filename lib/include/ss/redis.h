/*
 * Redis access over hiredis 0.14 (the synchronous API): URL parsing, a connection wrapper that
 * selects the database, bounds every command with a timeout and reconnects once after an I/O
 * error, argv commands, pipelining, and MULTI/EXEC transactions (the rank worker stores its
 * consumed offset in the same MULTI/EXEC as the scores).
 *
 * An ss_redis_t is NOT thread-safe: one connection per thread (see ss/pool.h).
 * Errors: a lost connection or timeout is SS_ERR_RETRIABLE (the connection is then marked
 * broken and the next call reconnects once before sending); an error reply from Redis
 * (`WRONGTYPE ...`, `ERR ...`) is SS_ERR_INVALID with the reply's text in errstr.
 * A command that failed with SS_ERR_RETRIABLE may or may not have been executed. A reconnect
 * forgets WATCHed keys: after SS_ERR_RETRIABLE restart a WATCH-based update from its WATCH.
 *
 * Replies are hiredis `redisReply` objects; whoever receives one frees it with
 * freeReplyObject().
 */
#ifndef SS_REDIS_H
#define SS_REDIS_H

#include "ss/error.h"

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

#define SS_REDIS_HOST_MAX 255
#define SS_REDIS_USERNAME_MAX 127
#define SS_REDIS_PASSWORD_MAX 255
#define SS_REDIS_DB_MAX 15
/* Commands per pipeline and per MULTI/EXEC transaction. */
#define SS_REDIS_PIPELINE_COMMANDS_MAX 4096

/* A parsed `redis://[[username]:password@]host[:port][/db]` URL. Host may be `[ipv6]`. */
typedef struct ss_redis_url {
    char host[SS_REDIS_HOST_MAX + 1];         /* without brackets */
    int port;                                 /* 1..65535, default 6379 */
    int db;                                   /* 0..SS_REDIS_DB_MAX, default 0 */
    char username[SS_REDIS_USERNAME_MAX + 1]; /* "" when none (AUTH password only) */
    char password[SS_REDIS_PASSWORD_MAX + 1]; /* "" when none (no AUTH) */
} ss_redis_url_t;

/* Parses url into *out (pure). Anything malformed is SS_ERR_INVALID with the reason. */
ss_err_t ss_redis_url_parse(const char *url, ss_redis_url_t *out, char *errstr, size_t errstr_size);

typedef struct ss_redis ss_redis_t;

/*
 * Connects to url with timeout_ms (1..600000) bounding the connect and every command,
 * authenticates when the URL has a password, and SELECTs its db. On SS_OK *out is a new
 * connection the caller frees with ss_redis_destroy(). Unreachable: SS_ERR_RETRIABLE.
 */
ss_err_t ss_redis_connect(const char *url, int timeout_ms, ss_redis_t **out, char *errstr,
                          size_t errstr_size);

/* Closes and frees. NULL is a no-op. */
void ss_redis_destroy(ss_redis_t *redis);

/* PING; expects PONG. */
ss_err_t ss_redis_ping(ss_redis_t *redis, char *errstr, size_t errstr_size);

/* True after an I/O error until the next call reconnects successfully. */
bool ss_redis_is_broken(const ss_redis_t *redis);

/*
 * Sends one command of argc (1..SS_REDIS_PIPELINE_COMMANDS_MAX) arguments; argvlen may be NULL
 * when every argument is a NUL-terminated string. A broken connection is reconnected once
 * first. On SS_OK and when reply_out is not NULL, *reply_out is the reply (never an error
 * reply), freed by the caller with freeReplyObject(); on failure *reply_out is NULL.
 */
ss_err_t ss_redis_command_argv(ss_redis_t *redis, int argc, const char **argv,
                               const size_t *argvlen, redisReply **reply_out, char *errstr,
                               size_t errstr_size);

/*
 * Pipelining: append N commands (nothing is sent yet), then collect their N replies in one
 * round trip. An append failure is remembered and reported by collect, which must always be
 * called after appends. A broken connection is reconnected once at the first append.
 */
ss_err_t ss_redis_pipeline_append_argv(ss_redis_t *redis, int argc, const char **argv,
                                       const size_t *argvlen, char *errstr, size_t errstr_size);

/* How many commands are appended and not yet collected. */
size_t ss_redis_pipeline_pending(const ss_redis_t *redis);

/*
 * Reads the replies of every appended command. replies_out is NULL to discard them, or an
 * array of count entries where count equals ss_redis_pipeline_pending(). On SS_OK entry i is
 * command i's reply, freed by the caller. If any reply is an error reply, SS_ERR_INVALID names
 * the first one (its index and text); the other commands were executed. On any failure every
 * entry is NULL and all replies are freed.
 */
ss_err_t ss_redis_pipeline_collect(ss_redis_t *redis, redisReply **replies_out, size_t count,
                                   char *errstr, size_t errstr_size);

/* One command of a transaction; argvlen may be NULL for NUL-terminated arguments. */
typedef struct ss_redis_command {
    int argc;
    const char **argv;
    const size_t *argvlen;
} ss_redis_command_t;

/*
 * Runs MULTI, the count commands and EXEC in one round trip. Either all commands are applied
 * or none is, as far as Redis promises:
 * - a command Redis refuses while queueing (wrong arity, unknown command) aborts the whole
 *   transaction: SS_ERR_INVALID, nothing applied;
 * - EXEC answering nil because a key WATCHed earlier on this connection changed:
 *   SS_ERR_CONFLICT, nothing applied (WATCH with ss_redis_command_argv() before calling);
 * - a command failing at run time (WRONGTYPE) does not undo the others (Redis has no
 *   rollback): SS_ERR_INVALID naming it; the others were applied.
 * On SS_OK and when exec_reply_out is not NULL, *exec_reply_out is EXEC's array reply (one
 * element per command), freed by the caller; on failure it is NULL.
 */
ss_err_t ss_redis_transaction(ss_redis_t *redis, const ss_redis_command_t *commands, size_t count,
                              redisReply **exec_reply_out, char *errstr, size_t errstr_size);

#endif

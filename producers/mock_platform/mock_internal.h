/*
 * What the mock's two files share (mock_platform.c: store, control, single orders, stalls;
 * batch.c: POST /orders/batch). The store and the mode are owned by mock->mutex, the stall
 * queue by mock->stall_mutex (see mock_platform.h for the thread rules).
 */
#ifndef SS_MOCK_INTERNAL_H
#define SS_MOCK_INTERNAL_H

#include "mock_platform.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define MOCK_FAIL_STATUS_DEFAULT 503
#define MOCK_STALL_MS_DEFAULT 5000
#define MOCK_ERRSTR_SIZE 256

typedef enum mock_mode {
    MOCK_MODE_OK = 0,
    MOCK_MODE_FAIL,
    MOCK_MODE_STALL,
} mock_mode_t;

extern const char *const mock_mode_names[3];

typedef struct mock_stalled {
    ss_http_request_t *req; /* one reference, ours */
    int64_t due_ms;         /* monotonic */
    bool batch;             /* a POST /orders/batch, else a POST /orders */
} mock_stalled_t;

struct ss_mock_platform {
    size_t orders_max;

    pthread_mutex_t mutex; /* guards everything below up to the stall queue */
    json_t *orders;        /* array of entries, first seen first */
    json_t *index;         /* key -> the same entry objects */
    long long unique;      /* entries with a body */
    long long total;       /* sends of an order answered 2xx (a batch's items each count) */
    long long attempts;    /* every send of an order with a key */
    long long batches;     /* POST /orders/batch received */
    mock_mode_t mode;
    int fail_status;
    int stall_ms;
    json_t *refused; /* keys answered 422 (an object used as a set; control's "refuse") */
    bool batch_off;  /* control's "batch": false: POST /orders/batch answers 404 */

    pthread_mutex_t stall_mutex; /* guards the stall queue and stopping */
    pthread_cond_t stall_cond;   /* on CLOCK_MONOTONIC */
    mock_stalled_t stalled[SS_MOCK_PLATFORM_STALLED_MAX];
    size_t stalled_count;
    bool stopping;
    pthread_t timer;
    bool timer_started;
    bool stall_cond_ready;
};

/* {"error": message} as a malloc'd text; NULL when out of memory. */
char *mock_error_body(const char *message);

/* Answers from a handler with a malloc'd body (NULL means out of memory: 500), then frees it. */
void mock_respond(ss_http_request_t *req, int status, char *body);

/*
 * Counts one attempt for key (creating its entry). Caller holds mock->mutex. false when the
 * store is full (*full) or memory ran out: the attempt is answered 507 or 500.
 */
bool mock_attempt_count(ss_mock_platform_t *mock, const char *key, bool *full);

/*
 * Accepts one order under key: stores body (stolen, even on failure) when the key has none
 * yet. request_id and traceparent (NULL for none) are kept with a stored body. Returns 201
 * stored, 200 already had it, 422 refused (control's "refuse"), 507 full, 500 out of memory.
 * Takes mock->mutex.
 */
int mock_item_accept(ss_mock_platform_t *mock, const char *key, json_t *body,
                     const char *request_id, const char *traceparent);

/*
 * Answers a request counted on arrival as the mode says (507/500 when it could not be counted,
 * fail: the fail status, stall: suspended and queued, batch saying which kind); true in mode ok,
 * when the caller accepts it now. Takes mock->mutex.
 */
bool mock_mode_answer(ss_mock_platform_t *mock, ss_http_request_t *req, bool counted, bool full,
                      bool batch);

/* Why mock_item_accept did not take an order: the error text of its statuses past 2xx. */
const char *mock_item_error(int status);

/* Takes over the request's reference; false when the queue is full or stopping (not taken). */
bool mock_stall_enqueue(ss_mock_platform_t *mock, ss_http_request_t *req, int stall_ms, bool batch);

/* POST /orders/batch (batch.c), and the stalled batch's late answer. */
void mock_batch_post(ss_http_request_t *req, void *context);
void mock_batch_finish(ss_mock_platform_t *mock, ss_http_request_t *req);

#endif

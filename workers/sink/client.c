/*
 * The sink's HTTP client over libcurl: one easy handle per sink, reused so the connection to
 * the platform stays open between orders. A POST either gets an HTTP status (whatever it is) or
 * fails to (refused, timeout, reset, abandoned on stop); deciding what that means is
 * ss_sink_classify()'s job, not this file's. The first SS_SINK_ANSWER_BYTES_MAX bytes of an
 * answer are kept (a batch's results are read from them), its start also as a printable
 * excerpt for logs and the dead-letter reason.
 */
#include "platform_sink.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SINK_USER_AGENT "shopstream-platform-sink/0.1"
#define SINK_HEADER_SIZE (SS_SINK_IDEMPOTENCY_KEY_SIZE + 32)

struct ss_sink_client {
    CURL *curl;
    const char *url; /* the orders endpoint (the caller's, outlives the client) */
    volatile sig_atomic_t *stop;
    char *received; /* the answer so far, NUL-terminated; grown up to SS_SINK_ANSWER_BYTES_MAX */
    size_t received_length;
    size_t received_capacity;
    bool received_short; /* memory ran out: the rest was dropped */
    char error_buffer[CURL_ERROR_SIZE];
};

/* Keeps the start of the answer and swallows the rest (returning less would fail the transfer). */
static size_t client_on_data(char *data, size_t size, size_t count, void *opaque)
{
    ss_sink_client_t *client = opaque;
    size_t length = size * count;
    size_t wanted = client->received_length + length + 1;
    wanted = wanted < SS_SINK_ANSWER_BYTES_MAX + 1 ? wanted : SS_SINK_ANSWER_BYTES_MAX + 1;
    if (wanted > client->received_capacity && !client->received_short) {
        size_t capacity =
            client->received_capacity * 2 > wanted ? client->received_capacity * 2 : wanted;
        capacity =
            capacity < SS_SINK_ANSWER_BYTES_MAX + 1 ? capacity : SS_SINK_ANSWER_BYTES_MAX + 1;
        char *grown = realloc(client->received, capacity);
        client->received_short = grown == NULL;
        if (grown != NULL) {
            client->received = grown;
            client->received_capacity = capacity;
        }
    }
    size_t room = client->received_capacity > client->received_length
                      ? client->received_capacity - client->received_length - 1
                      : 0;
    size_t kept = length < room ? length : room;
    if (kept > 0) {
        memcpy(client->received + client->received_length, data, kept);
        client->received_length += kept;
        client->received[client->received_length] = '\0';
    }
    return length;
}

/* libcurl calls this often during a transfer; non-zero abandons it (SIGTERM during a POST). */
static int client_on_progress(void *opaque, curl_off_t download_total, curl_off_t downloaded,
                              curl_off_t upload_total, curl_off_t uploaded)
{
    (void)download_total;
    (void)downloaded;
    (void)upload_total;
    (void)uploaded;
    const ss_sink_client_t *client = opaque;
    return client->stop != NULL && *client->stop ? 1 : 0;
}

ss_err_t ss_sink_client_new(const char *url, const char *token, long connect_timeout_ms,
                            long timeout_ms, volatile sig_atomic_t *stop, ss_sink_client_t **out,
                            char *errstr, size_t errstr_size)
{
    *out = NULL;
    ss_sink_client_t *client = calloc(1, sizeof(*client));
    if (client == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory for the http client");
    }
    client->stop = stop;
    client->url = url;
    client->curl = curl_easy_init();
    if (client->curl == NULL) {
        free(client);
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not create a curl handle");
    }
    CURL *curl = client->curl;
    CURLcode code = curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    if (code == CURLE_OK) {
        code = curl_easy_setopt(curl, CURLOPT_POST, 1L);
    }
    if (code == CURLE_OK) {
        /* Timeouts without signals (libcurl's alarm-based resolver timeouts are not wanted). */
        code = curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    }
    if (code == CURLE_OK) {
        code = curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms);
    }
    if (code == CURLE_OK) {
        code = curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    }
    if (code == CURLE_OK) {
        code = curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    }
    if (code == CURLE_OK) {
        code = curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
    }
    if (code == CURLE_OK) {
        code = curl_easy_setopt(curl, CURLOPT_USERAGENT, SINK_USER_AGENT);
    }
    if (code == CURLE_OK) {
        code = curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, client_on_data);
    }
    if (code == CURLE_OK) {
        code = curl_easy_setopt(curl, CURLOPT_WRITEDATA, client);
    }
    if (code == CURLE_OK) {
        code = curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, client_on_progress);
    }
    if (code == CURLE_OK) {
        code = curl_easy_setopt(curl, CURLOPT_XFERINFODATA, client);
    }
    if (code == CURLE_OK) {
        code = curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    }
    if (code == CURLE_OK) {
        code = curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, client->error_buffer);
    }
    if (code == CURLE_OK && token != NULL && token[0] != '\0') {
        /* libcurl copies the token and sends it as "Authorization: Bearer <token>". */
        code = curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
        if (code == CURLE_OK) {
            code = curl_easy_setopt(curl, CURLOPT_XOAUTH2_BEARER, token);
        }
    }
    if (code != CURLE_OK) {
        ss_err_t err =
            ss_err_set(code == CURLE_OUT_OF_MEMORY ? SS_ERR_NOMEM : SS_ERR_INVALID, errstr,
                       errstr_size, "could not configure curl: %s", curl_easy_strerror(code));
        ss_sink_client_destroy(client);
        return err;
    }
    *out = client;
    return SS_OK;
}

/* Appends the non-empty lines to *headers; SS_ERR_NOMEM when libcurl runs out of memory. */
static ss_err_t headers_append(struct curl_slist **headers, const char *const *lines, size_t count,
                               char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < count; i++) {
        if (lines[i][0] == '\0') {
            continue;
        }
        struct curl_slist *longer = curl_slist_append(*headers, lines[i]);
        if (longer == NULL) {
            return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory for headers");
        }
        *headers = longer;
    }
    return SS_OK;
}

/* What the transfer came to, into *response (SS_OK whether answered or not). */
static ss_err_t client_answer(ss_sink_client_t *client, CURLcode code, ss_sink_response_t *response,
                              char *errstr, size_t errstr_size)
{
    if (code == CURLE_OUT_OF_MEMORY) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory during the post");
    }
    if (code != CURLE_OK) {
        const char *why =
            client->error_buffer[0] != '\0' ? client->error_buffer : curl_easy_strerror(code);
        ss_sink_excerpt(why, strlen(why), response->error, sizeof(response->error));
        return SS_OK;
    }
    long status = 0;
    code = curl_easy_getinfo(client->curl, CURLINFO_RESPONSE_CODE, &status);
    if (code != CURLE_OK || status <= 0) {
        snprintf(response->error, sizeof(response->error), "no http status in the answer");
        return SS_OK;
    }
    response->answered = true;
    response->status = status;
    response->body = client->received != NULL ? client->received : "";
    response->body_length = client->received_length;
    ss_sink_excerpt(response->body, response->body_length, response->excerpt,
                    sizeof(response->excerpt));
    return SS_OK;
}

/* POSTs body to url with the header lines (empty ones skipped). */
static ss_err_t client_perform(ss_sink_client_t *client, const char *url, const char *const *lines,
                               size_t line_count, const char *body, size_t body_length,
                               ss_sink_response_t *response, char *errstr, size_t errstr_size)
{
    struct curl_slist *headers = NULL;
    memset(response, 0, sizeof(*response));
    client->received_length = 0;
    client->received_short = false;
    client->error_buffer[0] = '\0';
    ss_err_t err = headers_append(&headers, lines, line_count, errstr, errstr_size);
    CURLcode code = curl_easy_setopt(client->curl, CURLOPT_URL, url);
    if (code == CURLE_OK) {
        code = curl_easy_setopt(client->curl, CURLOPT_HTTPHEADER, headers);
    }
    if (code == CURLE_OK) {
        code = curl_easy_setopt(client->curl, CURLOPT_POSTFIELDS, body);
    }
    if (code == CURLE_OK) {
        code = curl_easy_setopt(client->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_length);
    }
    if (err == SS_OK && code != CURLE_OK) {
        err = ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not set up the post: %s",
                         curl_easy_strerror(code));
    }
    if (err == SS_OK) {
        err = client_answer(client, curl_easy_perform(client->curl), response, errstr, errstr_size);
    }
    /* The handle keeps pointers to both; clear them before the memory goes. */
    (void)curl_easy_setopt(client->curl, CURLOPT_HTTPHEADER, NULL);
    (void)curl_easy_setopt(client->curl, CURLOPT_POSTFIELDS, NULL);
    curl_slist_free_all(headers);
    return err;
}

/* "Expect:" turns off libcurl's 100-continue round trip for larger bodies. */
#define CLIENT_COMMON_HEADERS                                                                      \
    "Content-Type: application/json", "Accept: application/json", "Expect:"

ss_err_t ss_sink_client_post(ss_sink_client_t *client, const char *idempotency_key,
                             const ss_trace_t *trace, const char *body, size_t body_length,
                             ss_sink_response_t *response, char *errstr, size_t errstr_size)
{
    char key_header[SINK_HEADER_SIZE];
    /* The request's correlation, as the ingress took it in; none when the record had none. */
    char id_header[SS_TRACE_REQUEST_ID_SIZE + 16] = "";
    char parent_header[SS_TRACE_PARENT_SIZE + 16] = "";
    if (trace != NULL && trace->request_id[0] != '\0') {
        snprintf(id_header, sizeof(id_header), "X-Request-Id: %s", trace->request_id);
    }
    if (trace != NULL && trace->traceparent[0] != '\0') {
        snprintf(parent_header, sizeof(parent_header), "traceparent: %s", trace->traceparent);
    }
    snprintf(key_header, sizeof(key_header), "Idempotency-Key: %s", idempotency_key);
    const char *const lines[] = {CLIENT_COMMON_HEADERS, key_header, id_header, parent_header};
    return client_perform(client, client->url, lines, sizeof(lines) / sizeof(lines[0]), body,
                          body_length, response, errstr, errstr_size);
}

ss_err_t ss_sink_client_post_batch(ss_sink_client_t *client, const char *url, const char *body,
                                   size_t body_length, ss_sink_response_t *response, char *errstr,
                                   size_t errstr_size)
{
    const char *const lines[] = {CLIENT_COMMON_HEADERS};
    return client_perform(client, url, lines, sizeof(lines) / sizeof(lines[0]), body, body_length,
                          response, errstr, errstr_size);
}

void ss_sink_client_destroy(ss_sink_client_t *client)
{
    if (client == NULL) {
        return;
    }
    curl_easy_cleanup(client->curl);
    free(client->received);
    free(client);
}

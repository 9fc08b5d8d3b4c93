/*
 * The sink's HTTP client over libcurl: one easy handle per sink, reused so the connection to
 * the platform stays open between orders. A POST either gets an HTTP status (whatever it is) or
 * fails to (refused, timeout, reset, abandoned on stop); deciding what that means is
 * ss_sink_classify()'s job, not this file's. Only the first SS_SINK_EXCERPT_SIZE bytes of an
 * answer are kept, for logs and the dead-letter reason.
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
    volatile sig_atomic_t *stop;
    char received[SS_SINK_EXCERPT_SIZE];
    size_t received_length;
    char error_buffer[CURL_ERROR_SIZE];
};

/* Keeps the start of the answer and swallows the rest (returning less would fail the transfer). */
static size_t client_on_data(char *data, size_t size, size_t count, void *opaque)
{
    ss_sink_client_t *client = opaque;
    size_t length = size * count;
    size_t room = sizeof(client->received) - client->received_length;
    size_t kept = length < room ? length : room;
    memcpy(client->received + client->received_length, data, kept);
    client->received_length += kept;
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
    client->curl = curl_easy_init();
    if (client->curl == NULL) {
        free(client);
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not create a curl handle");
    }
    CURL *curl = client->curl;
    CURLcode code = curl_easy_setopt(curl, CURLOPT_URL, url);
    if (code == CURLE_OK) {
        code = curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    }
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

ss_err_t ss_sink_client_post(ss_sink_client_t *client, const char *idempotency_key,
                             const ss_trace_t *trace, const char *body, size_t body_length,
                             ss_sink_response_t *response, char *errstr, size_t errstr_size)
{
    ss_err_t err = SS_OK;
    struct curl_slist *headers = NULL;
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
    memset(response, 0, sizeof(*response));
    client->received_length = 0;
    client->error_buffer[0] = '\0';

    snprintf(key_header, sizeof(key_header), "Idempotency-Key: %s", idempotency_key);
    /* "Expect:" turns off libcurl's 100-continue round trip for larger bodies. */
    const char *const lines[] = {"Content-Type: application/json",
                                 "Accept: application/json",
                                 "Expect:",
                                 key_header,
                                 id_header,
                                 parent_header};
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        if (lines[i][0] == '\0') {
            continue;
        }
        struct curl_slist *longer = curl_slist_append(headers, lines[i]);
        if (longer == NULL) {
            err = ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory for headers");
            goto cleanup;
        }
        headers = longer;
    }
    CURLcode code = curl_easy_setopt(client->curl, CURLOPT_HTTPHEADER, headers);
    if (code == CURLE_OK) {
        code = curl_easy_setopt(client->curl, CURLOPT_POSTFIELDS, body);
    }
    if (code == CURLE_OK) {
        code = curl_easy_setopt(client->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_length);
    }
    if (code != CURLE_OK) {
        err = ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not set up the post: %s",
                         curl_easy_strerror(code));
        goto cleanup;
    }

    code = curl_easy_perform(client->curl);
    if (code == CURLE_OUT_OF_MEMORY) {
        err = ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory during the post");
        goto cleanup;
    }
    if (code == CURLE_OK) {
        long status = 0;
        code = curl_easy_getinfo(client->curl, CURLINFO_RESPONSE_CODE, &status);
        if (code == CURLE_OK && status > 0) {
            response->answered = true;
            response->status = status;
            ss_sink_excerpt(client->received, client->received_length, response->excerpt,
                            sizeof(response->excerpt));
        } else {
            snprintf(response->error, sizeof(response->error), "no http status in the answer");
        }
    } else {
        const char *why =
            client->error_buffer[0] != '\0' ? client->error_buffer : curl_easy_strerror(code);
        ss_sink_excerpt(why, strlen(why), response->error, sizeof(response->error));
    }
cleanup:
    /* The handle keeps pointers to both; clear them before the memory goes. */
    (void)curl_easy_setopt(client->curl, CURLOPT_HTTPHEADER, NULL);
    (void)curl_easy_setopt(client->curl, CURLOPT_POSTFIELDS, NULL);
    curl_slist_free_all(headers);
    return err;
}

void ss_sink_client_destroy(ss_sink_client_t *client)
{
    if (client == NULL) {
        return;
    }
    curl_easy_cleanup(client->curl);
    free(client);
}

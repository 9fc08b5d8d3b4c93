/*
 * The sink's configuration table (flags, environment, defaults, ranges, help) and the checks
 * that span several options. The defaults match the local stack (docs/architecture.md).
 */
#include "platform_sink.h"

#include "ss/avro.h"
#include "ss/log.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#define SINK_DEFAULT_BOOTSTRAP "127.0.0.1:19092"
#define SINK_DEFAULT_URL "http://127.0.0.1:18090" SS_SINK_ORDERS_PATH

void ss_sink_config_options(ss_config_option_t *options, ss_sink_config_t *config)
{
    const ss_config_option_t table[SS_SINK_CONFIG_OPTION_COUNT - SS_OPS_HTTP_OPTION_COUNT] = {
        {"--kafka-bootstrap", "KAFKA_BOOTSTRAP", SS_CONFIG_STRING, SINK_DEFAULT_BOOTSTRAP, 1, 1024,
         "Kafka bootstrap servers, host:port[,host:port]", &config->kafka_bootstrap},
        {"--group-id", "SS_GROUP_ID", SS_CONFIG_STRING, "ss-platform-sink", 1, 200,
         "consumer group; its committed offsets are the sink's progress", &config->group_id},
        {"--client-id", "SS_CLIENT_ID", SS_CONFIG_STRING, "ss-platform-sink", 1, 200,
         "Kafka client id, shown in broker logs", &config->client_id},
        {"--platform-url", "PLATFORM_URL", SS_CONFIG_STRING, SINK_DEFAULT_URL, 8,
         SS_SINK_URL_SIZE - 16,
         "the data platform's orders endpoint (a URL without a path gets /orders)",
         &config->platform_url},
        {"--platform-token", "PLATFORM_TOKEN", SS_CONFIG_STRING, "", 0, 4096,
         "bearer token for the data platform (Authorization header); empty sends none",
         &config->platform_token},
        {"--timeout-ms", "SS_PLATFORM_TIMEOUT_MS", SS_CONFIG_INT, "5000", 100, 300000,
         "the longest one POST may take, connecting included", &config->timeout_ms},
        {"--connect-timeout-ms", "SS_PLATFORM_CONNECT_TIMEOUT_MS", SS_CONFIG_INT, "2000", 10,
         300000, "the longest the connect of one POST may take (at most the timeout)",
         &config->connect_timeout_ms},
        {"--attempts-max", "SS_PLATFORM_ATTEMPTS_MAX", SS_CONFIG_INT, "20", 1, 1000,
         "failed POSTs of one order before it is parked in ss.dlq", &config->attempts_max},
        {"--backoff-base-ms", "SS_PLATFORM_BACKOFF_BASE_MS", SS_CONFIG_INT, "100", 1, 600000,
         "the first retry waits up to this long; each later one up to twice as long",
         &config->backoff_base_ms},
        {"--backoff-max-ms", "SS_PLATFORM_BACKOFF_MAX_MS", SS_CONFIG_INT, "10000", 1, 600000,
         "the longest wait between two attempts", &config->backoff_max_ms},
        {"--batch-max", "SS_PLATFORM_BATCH_MAX", SS_CONFIG_INT, "100", 1, SS_SINK_BATCH_MAX,
         "orders per POST to the batch endpoint (<url>/batch); 1 posts each order alone",
         &config->batch_max},
        SS_CONFIG_FETCH_OPTIONS(&config->fetch_min_bytes, &config->fetch_wait_max_ms),
        {"--schema-dir", "SS_SCHEMA_DIR", SS_CONFIG_STRING, SS_AVRO_SCHEMA_DIR_DEFAULT, 1, 4096,
         "directory of the .avsc schemas", &config->schema_dir},
        {"--log-level", "SS_LOG_LEVEL", SS_CONFIG_STRING, "info", 1, 10,
         "debug, info, warn, error or off", &config->log_level},
    };
    memcpy(options, table, sizeof(table));
    ss_ops_http_options(options + SS_SINK_CONFIG_OPTION_COUNT - SS_OPS_HTTP_OPTION_COUNT,
                        &config->metrics_host, &config->metrics_port);
}

ss_err_t ss_sink_config_validate(const ss_sink_config_t *config, char *errstr, size_t errstr_size)
{
    if (config->connect_timeout_ms > config->timeout_ms) {
        return ss_err_set(
            SS_ERR_INVALID, errstr, errstr_size,
            "SS_PLATFORM_CONNECT_TIMEOUT_MS=%lld is above SS_PLATFORM_TIMEOUT_MS=%lld",
            config->connect_timeout_ms, config->timeout_ms);
    }
    if (config->backoff_base_ms > config->backoff_max_ms) {
        return ss_err_set(
            SS_ERR_INVALID, errstr, errstr_size,
            "SS_PLATFORM_BACKOFF_BASE_MS=%lld is above SS_PLATFORM_BACKOFF_MAX_MS=%lld",
            config->backoff_base_ms, config->backoff_max_ms);
    }
    ss_log_level_t level;
    char cause[256];
    if (ss_log_level_parse(config->log_level, &level, cause, sizeof(cause)) != SS_OK) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "SS_LOG_LEVEL: %s", cause);
    }
    char url[SS_SINK_URL_SIZE];
    if (ss_sink_url_resolve(config->platform_url, url, sizeof(url), cause, sizeof(cause)) !=
        SS_OK) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "PLATFORM_URL: %s", cause);
    }
    return SS_OK;
}

/* Reads one part of a parsed URL; a part that is absent is "" (the bool says whether found). */
static bool url_part(CURLU *handle, CURLUPart what, char *out, size_t out_size)
{
    char *part = NULL;
    CURLUcode code = curl_url_get(handle, what, &part, 0);
    out[0] = '\0';
    if (code != CURLUE_OK || part == NULL) {
        curl_free(part);
        return false;
    }
    snprintf(out, out_size, "%s", part);
    curl_free(part);
    return true;
}

/* The URL handle holds, into out; SS_ERR_INVALID when it does not fit (out is "" then). */
static ss_err_t url_write(CURLU *handle, char *out, size_t out_size, char *errstr,
                          size_t errstr_size)
{
    char *full = NULL;
    ss_err_t err = SS_OK;
    CURLUcode code = curl_url_get(handle, CURLUPART_URL, &full, 0);
    if (code != CURLUE_OK || full == NULL) {
        err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "could not rebuild the url: %s",
                         curl_url_strerror(code));
    } else if ((size_t)snprintf(out, out_size, "%s", full) >= out_size) {
        err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "the url is longer than %zu bytes",
                         out_size - 1);
    }
    if (err != SS_OK && out_size > 0) {
        out[0] = '\0';
    }
    curl_free(full);
    return err;
}

ss_err_t ss_sink_url_resolve(const char *url, char *out, size_t out_size, char *errstr,
                             size_t errstr_size)
{
    ss_err_t err = SS_OK;
    if (out_size > 0) {
        out[0] = '\0';
    }
    CURLU *handle = curl_url();
    if (handle == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory parsing a url");
    }
    /* No CURLU_DEFAULT_SCHEME: a URL must say http:// or https:// itself. */
    CURLUcode code = curl_url_set(handle, CURLUPART_URL, url, 0);
    if (code != CURLUE_OK) {
        err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "not a url: %s",
                         curl_url_strerror(code));
        goto cleanup;
    }
    char scheme[16], host[256], path[SS_SINK_URL_SIZE];
    url_part(handle, CURLUPART_SCHEME, scheme, sizeof(scheme));
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                         "the url must start with http:// or https://");
        goto cleanup;
    }
    if (!url_part(handle, CURLUPART_HOST, host, sizeof(host)) || host[0] == '\0') {
        err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "the url names no host");
        goto cleanup;
    }
    url_part(handle, CURLUPART_PATH, path, sizeof(path));
    if (path[0] == '\0' || strcmp(path, "/") == 0) {
        code = curl_url_set(handle, CURLUPART_PATH, SS_SINK_ORDERS_PATH, 0);
        if (code != CURLUE_OK) {
            err = ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not set the url path: %s",
                             curl_url_strerror(code));
            goto cleanup;
        }
    }
    err = url_write(handle, out, out_size, errstr, errstr_size);
cleanup:
    curl_url_cleanup(handle);
    return err;
}

ss_err_t ss_sink_batch_url(const char *url, char *out, size_t out_size, char *errstr,
                           size_t errstr_size)
{
    CURLU *handle = curl_url();
    if (handle == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory parsing a url");
    }
    char path[SS_SINK_URL_SIZE];
    ss_err_t err = SS_OK;
    CURLUcode code = curl_url_set(handle, CURLUPART_URL, url, 0);
    if (code == CURLUE_OK) {
        url_part(handle, CURLUPART_PATH, path, sizeof(path));
        size_t length = strlen(path);
        length -= length > 0 && path[length - 1] == '/' ? 1 : 0;
        if (length + sizeof(SS_SINK_BATCH_SUFFIX) > sizeof(path)) {
            err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "the url path is too long");
        } else {
            memcpy(path + length, SS_SINK_BATCH_SUFFIX, sizeof(SS_SINK_BATCH_SUFFIX));
            code = curl_url_set(handle, CURLUPART_PATH, path, 0);
        }
    }
    if (err == SS_OK && code != CURLUE_OK) {
        err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "not a url: %s",
                         curl_url_strerror(code));
    }
    if (err == SS_OK) {
        err = url_write(handle, out, out_size, errstr, errstr_size);
    }
    curl_url_cleanup(handle);
    return err;
}

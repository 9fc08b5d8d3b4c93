/*
 * schemas/topics.tsv, the topic declarations: one topic a line, tab-separated name, partitions,
 * retention in milliseconds and purpose; '#' lines are comments. Parsing is pure.
 */
#include "admin.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A line longer than this is refused (the file's lines are well under 200 bytes). */
#define TOPICS_LINE_MAX 4096
#define TOPICS_FILE_BYTES_MAX (1024 * 1024)

static ss_err_t topic_line_parse(const char *line, size_t length, size_t line_number,
                                 ss_admin_topic_t *topic, char *errstr, size_t errstr_size)
{
    const char *tab = memchr(line, '\t', length);
    size_t name_length = tab != NULL ? (size_t)(tab - line) : length;
    if (tab == NULL || name_length == 0 || name_length > SS_ADMIN_TOPIC_NAME_MAX) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "topics file line %zu: expected <name> TAB <partitions>", line_number);
    }
    char number[16] = "";
    const char *start = tab + 1;
    size_t rest = length - name_length - 1;
    size_t number_length = strcspn(start, "\t\n");
    if (number_length > rest) {
        number_length = rest;
    }
    if (number_length == 0 || number_length >= sizeof(number)) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "topics file line %zu: the partition count is missing", line_number);
    }
    memcpy(number, start, number_length);
    char *end = NULL;
    errno = 0;
    long value = strtol(number, &end, 10);
    if (errno != 0 || *end != '\0' || value < 1 || value > SS_ADMIN_PARTITIONS_MAX) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "topics file line %zu: partitions \"%s\" is not 1..%d", line_number,
                          number, SS_ADMIN_PARTITIONS_MAX);
    }
    memcpy(topic->name, line, name_length);
    topic->name[name_length] = '\0';
    topic->partitions = (int32_t)value;
    return SS_OK;
}

ss_err_t ss_admin_topics_parse(const char *text, ss_admin_topic_t *topics, size_t max,
                               size_t *count_out, char *errstr, size_t errstr_size)
{
    size_t count = 0, line_number = 0;
    const char *line = text;
    *count_out = 0;
    while (*line != '\0') {
        size_t length = strcspn(line, "\n");
        line_number++;
        if (length > TOPICS_LINE_MAX) {
            return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                              "topics file line %zu is longer than %d bytes", line_number,
                              TOPICS_LINE_MAX);
        }
        bool blank = strspn(line, " \t\r") >= length;
        if (!blank && line[0] != '#') {
            if (count == max) {
                return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                                  "topics file declares more than %zu topics", max);
            }
            ss_err_t err =
                topic_line_parse(line, length, line_number, &topics[count], errstr, errstr_size);
            if (err != SS_OK) {
                return err;
            }
            count++;
        }
        line += length;
        if (*line == '\n') {
            line++;
        }
    }
    *count_out = count;
    return SS_OK;
}

ss_err_t ss_admin_topics_load(const char *path, ss_admin_topic_t *topics, size_t max,
                              size_t *count_out, char *errstr, size_t errstr_size)
{
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "could not open %s: %s", path,
                          strerror(errno));
    }
    char *text = malloc(TOPICS_FILE_BYTES_MAX + 1);
    if (text == NULL) {
        fclose(file);
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not allocate for %s", path);
    }
    size_t length = fread(text, 1, TOPICS_FILE_BYTES_MAX + 1, file);
    bool failed = ferror(file) != 0;
    fclose(file);
    ss_err_t err = SS_OK;
    if (failed || length > TOPICS_FILE_BYTES_MAX) {
        err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "could not read %s%s", path,
                         failed ? "" : ": larger than 1 MiB");
    } else {
        text[length] = '\0';
        err = ss_admin_topics_parse(text, topics, max, count_out, errstr, errstr_size);
    }
    free(text);
    return err;
}

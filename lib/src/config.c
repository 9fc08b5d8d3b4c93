/*
 * The table-driven configuration parser: one pass over argv finds, for each option, the last
 * value given as a flag (and refuses unknown flags); a second pass over the table picks flag,
 * environment or default, parses it strictly and stores it in the option's target.
 */
#include "ss/config.h"

#include "ss/assert.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Where a value came from; decides how an error message names it. */
typedef enum config_source {
    CONFIG_SOURCE_FLAG,
    CONFIG_SOURCE_ENV,
    CONFIG_SOURCE_DEFAULT,
} config_source_t;

static void config_check_table(const ss_config_option_t *options, size_t option_count)
{
    SS_ASSERT(option_count <= SS_CONFIG_OPTIONS_MAX);
    SS_ASSERT(options != NULL || option_count == 0);
    for (size_t i = 0; i < option_count; i++) {
        const ss_config_option_t *option = &options[i];
        SS_ASSERT(option->flag != NULL && strncmp(option->flag, "--", 2) == 0);
        SS_ASSERT(option->flag[2] != '\0' && strchr(option->flag, '=') == NULL);
        SS_ASSERT(option->target != NULL);
        SS_ASSERT(option->type == SS_CONFIG_INT || option->type == SS_CONFIG_STRING ||
                  option->type == SS_CONFIG_BOOL);
        SS_ASSERT(option->min <= option->max);
        SS_ASSERT(option->type != SS_CONFIG_STRING || option->min >= 0);
    }
}

static const char *config_type_word(ss_config_type_t type)
{
    switch (type) {
    case SS_CONFIG_INT:
        return "int";
    case SS_CONFIG_STRING:
        return "string";
    case SS_CONFIG_BOOL:
        return "bool";
    }
    return "?";
}

/* Writes "--flag" or "SS_ENV" or "default of --flag" into name for error messages. */
static void config_source_name(const ss_config_option_t *option, config_source_t source, char *name,
                               size_t name_size)
{
    switch (source) {
    case CONFIG_SOURCE_FLAG:
        snprintf(name, name_size, "%s", option->flag);
        return;
    case CONFIG_SOURCE_ENV:
        snprintf(name, name_size, "%s", option->env);
        return;
    case CONFIG_SOURCE_DEFAULT:
        snprintf(name, name_size, "default of %s", option->flag);
        return;
    }
}

static ss_err_t config_parse_int(const ss_config_option_t *option, const char *source_name,
                                 const char *text, char *errstr, size_t errstr_size)
{
    /* strtoll skips leading blanks and accepts "" as 0; refuse both explicitly. */
    const char first = text[0];
    if (first != '-' && first != '+' && (first < '0' || first > '9')) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "%s=%s is not an integer",
                          source_name, text);
    }
    char *end = NULL;
    errno = 0;
    const long long value = strtoll(text, &end, 10);
    if (end == text || *end != '\0') {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "%s=%s is not an integer",
                          source_name, text);
    }
    if (errno == ERANGE || value < option->min || value > option->max) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "%s=%s is out of range %lld..%lld",
                          source_name, text, option->min, option->max);
    }
    *(long long *)option->target = value;
    return SS_OK;
}

static ss_err_t config_parse_bool(const ss_config_option_t *option, const char *source_name,
                                  const char *text, char *errstr, size_t errstr_size)
{
    bool value = false;
    if (strcasecmp(text, "true") == 0 || strcmp(text, "1") == 0 || strcasecmp(text, "yes") == 0) {
        value = true;
    } else if (strcasecmp(text, "false") == 0 || strcmp(text, "0") == 0 ||
               strcasecmp(text, "no") == 0) {
        value = false;
    } else {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "%s=%s is not a boolean (true/false/1/0/yes/no)", source_name, text);
    }
    *(bool *)option->target = value;
    return SS_OK;
}

static ss_err_t config_parse_string(const ss_config_option_t *option, const char *source_name,
                                    const char *text, char *errstr, size_t errstr_size)
{
    /* The value itself is left out of messages: it may be a password or a token. */
    const size_t length = strlen(text);
    if ((unsigned long long)length < (unsigned long long)option->min ||
        (unsigned long long)length > (unsigned long long)option->max) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "%s has length %zu, out of range %lld..%lld", source_name, length,
                          option->min, option->max);
    }
    char *copy = strdup(text);
    if (copy == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not copy the value of %s",
                          source_name);
    }
    char **target = option->target;
    free(*target);
    *target = copy;
    return SS_OK;
}

static ss_err_t config_apply(const ss_config_option_t *option, config_source_t source,
                             const char *text, char *errstr, size_t errstr_size)
{
    char source_name[256];
    config_source_name(option, source, source_name, sizeof(source_name));
    switch (option->type) {
    case SS_CONFIG_INT:
        return config_parse_int(option, source_name, text, errstr, errstr_size);
    case SS_CONFIG_BOOL:
        return config_parse_bool(option, source_name, text, errstr, errstr_size);
    case SS_CONFIG_STRING:
        return config_parse_string(option, source_name, text, errstr, errstr_size);
    }
    return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "%s has an unknown type", option->flag);
}

/* The index of the option whose flag is the first name_length bytes of arg, or option_count. */
static size_t config_find(const ss_config_option_t *options, size_t option_count, const char *arg,
                          size_t name_length)
{
    for (size_t i = 0; i < option_count; i++) {
        if (strlen(options[i].flag) == name_length &&
            strncmp(options[i].flag, arg, name_length) == 0) {
            return i;
        }
    }
    return option_count;
}

static bool config_is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

/*
 * Fills flag_values[i] with the last value argv gives for options[i] (NULL when none). A bare
 * BOOL flag yields "true". The strings point into argv or at a literal.
 */
static ss_err_t config_scan_argv(const ss_config_option_t *options, size_t option_count, int argc,
                                 char **argv, const char **flag_values, char *errstr,
                                 size_t errstr_size)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                              "unexpected argument '%s' (options start with --)", arg);
        }
        const char *equals = strchr(arg, '=');
        const size_t name_length = equals != NULL ? (size_t)(equals - arg) : strlen(arg);
        const size_t index = config_find(options, option_count, arg, name_length);
        if (index == option_count) {
            return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "unknown flag %.*s (see --help)",
                              (int)name_length, arg);
        }
        if (equals != NULL) {
            flag_values[index] = equals + 1;
        } else if (options[index].type == SS_CONFIG_BOOL) {
            flag_values[index] = "true";
        } else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
            /* A value that itself starts with "--" must use the --name=value form. */
            i++;
            flag_values[index] = argv[i];
        } else {
            return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "%s needs a value",
                              options[index].flag);
        }
    }
    return SS_OK;
}

ss_err_t ss_config_load(const ss_config_option_t *options, size_t option_count, int argc,
                        char **argv, char *errstr, size_t errstr_size)
{
    config_check_table(options, option_count);
    SS_ASSERT(argc >= 0 && (argv != NULL || argc == 0));

    for (int i = 1; i < argc; i++) {
        if (config_is_help(argv[i])) {
            return ss_err_set(SS_ERR_HELP, errstr, errstr_size, "help requested");
        }
    }

    ss_err_t err = SS_OK;
    const char *flag_values[SS_CONFIG_OPTIONS_MAX] = {0};
    err = config_scan_argv(options, option_count, argc, argv, flag_values, errstr, errstr_size);
    if (err != SS_OK) {
        goto cleanup;
    }

    for (size_t i = 0; i < option_count; i++) {
        const ss_config_option_t *option = &options[i];
        const char *env_value = option->env != NULL ? getenv(option->env) : NULL;
        if (flag_values[i] != NULL) {
            err = config_apply(option, CONFIG_SOURCE_FLAG, flag_values[i], errstr, errstr_size);
        } else if (env_value != NULL) {
            err = config_apply(option, CONFIG_SOURCE_ENV, env_value, errstr, errstr_size);
        } else if (option->default_value != NULL) {
            err = config_apply(option, CONFIG_SOURCE_DEFAULT, option->default_value, errstr,
                               errstr_size);
        } else if (option->env != NULL) {
            err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "%s (or %s) is required",
                             option->flag, option->env);
        } else {
            err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "%s is required", option->flag);
        }
        if (err != SS_OK) {
            goto cleanup;
        }
    }

cleanup:
    if (err != SS_OK) {
        ss_config_free(options, option_count);
    }
    return err;
}

void ss_config_usage(FILE *out, const char *program, const char *summary,
                     const ss_config_option_t *options, size_t option_count)
{
    config_check_table(options, option_count);
    fprintf(out, "usage: %s [options]\n", program);
    if (summary != NULL) {
        fprintf(out, "%s\n", summary);
    }
    fprintf(out, "\noptions (flag > environment > default):\n");
    fprintf(out, "  --help, -h\n      print this help and exit\n");
    for (size_t i = 0; i < option_count; i++) {
        const ss_config_option_t *option = &options[i];
        fprintf(out, "  %s=<%s>", option->flag, config_type_word(option->type));
        if (option->env != NULL) {
            fprintf(out, "  (env %s)", option->env);
        }
        fprintf(out, "\n      %s", option->help != NULL ? option->help : "");
        if (option->type == SS_CONFIG_INT) {
            fprintf(out, "; range %lld..%lld", option->min, option->max);
        } else if (option->type == SS_CONFIG_STRING && option->min > 0) {
            fprintf(out, "; length %lld..%lld", option->min, option->max);
        }
        if (option->default_value == NULL) {
            fprintf(out, "; required\n");
        } else if (option->type == SS_CONFIG_STRING) {
            fprintf(out, "; default \"%s\"\n", option->default_value);
        } else {
            fprintf(out, "; default %s\n", option->default_value);
        }
    }
}

void ss_config_free(const ss_config_option_t *options, size_t option_count)
{
    for (size_t i = 0; i < option_count && options != NULL; i++) {
        if (options[i].type == SS_CONFIG_STRING && options[i].target != NULL) {
            char **target = options[i].target;
            free(*target);
            *target = NULL;
        }
    }
}

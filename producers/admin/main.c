/*
 * ss-admin: the operator's command (admin.h). main picks the subcommand, loads its options
 * (flags > environment > defaults, ss/config.h), installs the signal flag that ends long
 * operations early, runs it and closes its connections.
 */
#include "admin.h"

#include "ss/log.h"
#include "ss/signal.h"

#include <stdlib.h>
#include <string.h>

/* Loads the options of command from args (flags and positionals mixed); exit status or -1. */
static int command_prepare(const ss_admin_command_t *command, ss_config_option_t *options,
                           size_t option_count, char **args, size_t arg_count, char **positional,
                           size_t *positional_count)
{
    char errstr[512], usage_name[128];
    char *flags[SS_ADMIN_ARGS_MAX + 1];
    size_t flag_count = 0;
    snprintf(usage_name, sizeof(usage_name), SS_ADMIN_PROGRAM " %s%s%s", command->name,
             command->arguments[0] != '\0' ? " " : "", command->arguments);
    flags[0] = usage_name;
    ss_err_t err =
        ss_admin_args_split(options, option_count, args, arg_count, flags + 1, &flag_count,
                            positional, positional_count, errstr, sizeof(errstr));
    if (err == SS_OK) {
        err = ss_config_load(options, option_count, (int)flag_count + 1, flags, errstr,
                             sizeof(errstr));
    }
    if (err == SS_ERR_HELP) {
        ss_config_usage(stdout, usage_name, command->summary, options, option_count);
        return SS_ADMIN_EXIT_OK;
    }
    if (err == SS_OK &&
        (*positional_count < command->args_min || *positional_count > command->args_max)) {
        err = ss_err_set(SS_ERR_INVALID, errstr, sizeof(errstr), "usage: %s [options]", usage_name);
    }
    if (err != SS_OK) {
        fprintf(stderr, SS_ADMIN_PROGRAM ": %s\n", errstr);
        return SS_ADMIN_EXIT_USAGE;
    }
    return -1;
}

static int command_run(const ss_admin_command_t *command, ss_admin_t *admin)
{
    char errstr[256];
    ss_log_level_t level;
    if (ss_log_level_parse(admin->config.log_level, &level, errstr, sizeof(errstr)) != SS_OK) {
        fprintf(stderr, SS_ADMIN_PROGRAM ": %s\n", errstr);
        return SS_ADMIN_EXIT_USAGE;
    }
    ss_log_level_set(level);
    ss_signal_install(NULL, 0);
    admin->stop = &ss_signal_stop_requested;
    int status = command->run(admin);
    ss_admin_close(admin);
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        ss_admin_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? SS_ADMIN_EXIT_USAGE : SS_ADMIN_EXIT_OK;
    }
    int words = 0;
    const ss_admin_command_t *command = ss_admin_command_find(argc, argv, &words);
    if (command == NULL) {
        fprintf(stderr,
                SS_ADMIN_PROGRAM ": unknown command \"%s\" (see " SS_ADMIN_PROGRAM " --help)\n",
                argv[1]);
        return SS_ADMIN_EXIT_USAGE;
    }
    size_t arg_count = (size_t)(argc - 1 - words);
    if (arg_count > SS_ADMIN_ARGS_MAX) {
        fprintf(stderr, SS_ADMIN_PROGRAM ": more than %d arguments\n", SS_ADMIN_ARGS_MAX);
        return SS_ADMIN_EXIT_USAGE;
    }
    ss_admin_t admin = {0};
    ss_config_option_t options[SS_CONFIG_OPTIONS_MAX];
    size_t option_count = 0;
    ss_admin_options(command, &admin.config, options, &option_count);
    char *positional[SS_ADMIN_ARGS_MAX];
    size_t positional_count = 0;
    int status = command_prepare(command, options, option_count, argv + 1 + words, arg_count,
                                 positional, &positional_count);
    if (status < 0) {
        admin.args = (const char *const *)positional;
        admin.arg_count = positional_count;
        status = command_run(command, &admin);
    }
    ss_config_free(options, option_count);
    return status;
}

/* Stop-flag signal handling shared by every binary (see ss/signal.h). */
#include "ss/signal.h"

#include <errno.h>
#include <string.h>

volatile sig_atomic_t ss_signal_stop_requested = 0;

static void on_stop_signal(int signal_number)
{
    (void)signal_number;
    ss_signal_stop_requested = 1;
}

ss_err_t ss_signal_install(char *errstr, size_t errstr_size)
{
    struct sigaction stop;
    memset(&stop, 0, sizeof(stop));
    stop.sa_handler = on_stop_signal;
    sigemptyset(&stop.sa_mask);
    struct sigaction ignore;
    memset(&ignore, 0, sizeof(ignore));
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    if (sigaction(SIGINT, &stop, NULL) != 0 || sigaction(SIGTERM, &stop, NULL) != 0 ||
        sigaction(SIGPIPE, &ignore, NULL) != 0) {
        return ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                          "could not install signal handlers: %s", strerror(errno));
    }
    return SS_OK;
}

/*
 * Process signals for every binary: SIGINT and SIGTERM ask for a graceful stop by setting a
 * flag (the handler does nothing else, as async-signal safety requires), SIGPIPE is ignored so
 * a peer closing a socket is an error return, not a dead process.
 */
#ifndef SS_SIGNAL_H
#define SS_SIGNAL_H

#include "ss/error.h"

#include <signal.h>

/* The flag SIGINT and SIGTERM set; the main loop polls it. */
extern volatile sig_atomic_t ss_signal_stop_requested;

/* Installs the handlers. SS_ERR_FATAL (errstr says why) when sigaction refuses. */
ss_err_t ss_signal_install(char *errstr, size_t errstr_size);

#endif

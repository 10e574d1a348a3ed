/*
 * proc.h - running programs on this machine, by argv only (never through a
 * shell), and stopping exactly the processes the tool started.
 */
#ifndef PROVISION_PROC_H
#define PROVISION_PROC_H

#include <stdbool.h>
#include <sys/types.h>

#include "provision/buf.h"
#include "provision/common.h"

/*
 * Run argv[0] (searched in PATH) with stdin from /dev/null; stdout and
 * stderr go to out (capped by its limit) when out is not NULL, else to
 * /dev/null.  Returns the exit status, or -1 (with err) when it could not
 * run or died by a signal.
 */
int proc_run(char *const argv[], struct buf *out, struct pv_error *err);

/*
 * Start argv as a daemon in its own session: stdin /dev/null, stdout and
 * stderr appended to log.  Returns its pid, or -1 with err.
 */
pid_t proc_spawn(char *const argv[], const char *log, struct pv_error *err);

/*
 * True when pid is alive and its command line contains every one of the
 * NULL-terminated words as an argument: a recorded pid is only ever
 * signalled when it is still the process the tool started.
 */
bool proc_is(pid_t pid, const char *const *words);

/*
 * Send sig to each pid of pids[0..n) for which proc_is(pid, words[i])
 * holds, then wait up to timeout_ms for all of them to exit; those still
 * alive then get SIGKILL.  Returns how many had to be killed.
 */
int proc_stop(const pid_t *pids, const char *const *const *words, size_t n, int sig,
              int timeout_ms);

/* The last lines of text (at most max bytes), for error messages. */
const char *proc_tail(const char *text, size_t max);

#endif

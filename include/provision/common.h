/*
 * common.h - allocation, errors and diagnostics shared by every room.
 *
 * Error convention: functions return 0 on success and -1 on failure, and
 * fill a caller-supplied struct pv_error with a message that already names
 * what failed ("file:line:col: ..." where a position is known).  Nothing
 * below the command layer prints or exits; allocation failure is the one
 * fatal error (x* helpers abort with a message).
 */
#ifndef PROVISION_COMMON_H
#define PROVISION_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#define PV_ERRMAX 2048

/* Exit codes of the command-line tool: one policy, one place. */
enum pv_exit {
	PV_EXIT_OK = 0, /* everything succeeded */
	PV_EXIT_FAIL = 1, /* something failed on a host, provider or state */
	PV_EXIT_USAGE = 2, /* bad arguments or bad input (inventory, roles) */
};

struct pv_error {
	char msg[PV_ERRMAX];
};

/* Set the message; always returns -1 so callers can "return pv_error_set()". */
int pv_error_set(struct pv_error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Put "prefix: " in front of the current message; returns -1. */
int pv_error_prefix(struct pv_error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A source position: 1-based line and column.  file is interned (never freed
 * before exit), so a pos can be copied freely. */
struct pos {
	const char *file;
	int line;
	int col;
};

/* Intern a file name for use in struct pos. */
const char *pv_intern(const char *s);

/*
 * Diagnostics: a list of messages, for passes that report every problem
 * (validation) rather than stopping at the first.  Each message is
 * "file:line:col: text" when a position is given.
 */
struct diag_group;

struct diags {
	char **msgs;
	size_t n;
	size_t alloc;
	/* the messages diags_add_named() gave, with what they are made of */
	struct diag_group *groups;
	size_t n_groups, groups_alloc;
};

void diags_init(struct diags *d);
void diags_add(struct diags *d, const struct pos *p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/*
 * "KIND 'NAME': ERROR" at p; when an earlier call gave the same ERROR at
 * the same position, that message names one more instead ("KINDs 'a',
 * 'b': ERROR"): one line of the inventory that several servers fail.
 */
void diags_add_named(struct diags *d, const struct pos *p, const char *kind, const char *name,
                     const char *error);
void diags_release(struct diags *d);

/*
 * An index over an array of strings held elsewhere (map keys, scope
 * names), so a lookup among many names is not a walk through all of them.
 * Zeroed memory is an empty index.  Each call passes the array as it is
 * now; the index stores positions only.
 */
struct pv_index {
	size_t *slots; /* position + 1; 0 is empty */
	size_t cap, n;
};

/* The position of key in names, or -1. */
long pv_index_find(const struct pv_index *x, char *const *names, const char *key);
/* Record that names[pos] is there (a name not yet in the index). */
void pv_index_add(struct pv_index *x, char *const *names, size_t pos);
void pv_index_release(struct pv_index *x);

/*
 * s with every control character written \xNN, into buf (cut with "..."
 * when longer than size allows): for echoing untrusted text in messages.
 */
const char *pv_printable(const char *s, char *buf, size_t size);

/*
 * The nearest candidate to name by edit distance, or NULL when nothing is
 * close enough to be a plausible typo.  Used for "did you mean" hints.
 */
const char *pv_nearest(const char *name, const char *const *candidates, size_t n);

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap);

/* Grow *arr (of elements of size sz) so it can hold at least n elements. */
#define PV_GROW(arr, n, alloc)                                                                     \
	do {                                                                                       \
		if ((n) > (alloc)) {                                                               \
			size_t pv_grow_new = (alloc) ? (alloc)*2 : 8;                              \
			while (pv_grow_new < (n))                                                  \
				pv_grow_new *= 2;                                                  \
			(arr) = xrealloc((arr), pv_grow_new * sizeof(*(arr)));                     \
			(alloc) = pv_grow_new;                                                     \
		}                                                                                  \
	} while (0)

#define PV_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Wipe memory that held a secret (not optimised away). */
void pv_wipe(void *p, size_t n);
/* Wipe and free a NUL-terminated secret string; NULL is fine. */
void pv_free_secret(char *s);

/* Read a whole file into a NUL-terminated allocation (max bytes, 0 = 64 MiB). */
int pv_read_file(const char *path, char **out, size_t *len, size_t max, struct pv_error *err);
/*
 * Write a file atomically: temporary file in the same directory, fsync,
 * rename, fsync of the directory.  Either the old or the new content is
 * there afterwards, never a mix.
 */
int pv_write_file_atomic(const char *path, const void *data, size_t len, int mode,
                         struct pv_error *err);
/*
 * Temporary files of atomic writes are named "<path>.tmp.XXXXXX" and made
 * with mode 0600.  While one exists it is registered, and the handlers
 * pv_tmp_guard_signals() installs for SIGINT, SIGTERM and SIGHUP remove it
 * before the process dies of the signal.  SIGKILL cannot be caught: a later
 * run removes what a killed one left with pv_tmp_sweep().
 */
void pv_tmp_guard_signals(void);
int pv_tmp_register(const char *path);
void pv_tmp_unregister(int slot);
/* Remove the "*.tmp.XXXXXX" leftovers in dir (not below it); the count removed. */
int pv_tmp_sweep(const char *dir);
/* mkdir -p with the given mode for directories created. */
int pv_mkdir_p(const char *path, int mode, struct pv_error *err);
/*
 * Wait for an exclusive flock on DIR/NAME (the file made with mode 0600, DIR
 * with dir_mode when missing): the fd to close to let go, or -1.
 */
int pv_lock_wait(const char *dir, const char *name, int dir_mode, struct pv_error *err);
/* Expand a leading "~/" with $HOME; returns an allocation. */
char *pv_expand_home(const char *path);
/* Join dir and name with exactly one '/'. */
char *pv_path_join(const char *dir, const char *name);

/* Lowercase hex SHA-256 of data into out[65]. */
void pv_sha256_hex(const void *data, size_t len, char out[65]);

/* Monotonic clock in milliseconds. */
long long pv_now_ms(void);

#endif

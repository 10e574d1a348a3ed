/*
 * common.c - allocation, errors, diagnostics and small file helpers.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "provision/common.h"

int pv_error_set(struct pv_error *e, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return -1;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int pv_error_prefix(struct pv_error *e, const char *fmt, ...)
{
	char *prefix, *all;
	va_list ap;

	if (!e)
		return -1;
	va_start(ap, fmt);
	prefix = xvasprintf(fmt, ap);
	va_end(ap);
	e->msg[sizeof(e->msg) - 1] = '\0';
	all = xasprintf("%s: %s", prefix, e->msg);
	snprintf(e->msg, sizeof(e->msg), "%s", all);
	free(prefix);
	free(all);
	return -1;
}

/* Interned strings: a small linked list; lookups are rare (one per file). */
struct intern {
	struct intern *next;
	char s[];
};

static pthread_mutex_t intern_lock = PTHREAD_MUTEX_INITIALIZER;
static struct intern *intern_head;

const char *pv_intern(const char *s)
{
	struct intern *it;
	size_t len;

	if (!s)
		return NULL;
	pthread_mutex_lock(&intern_lock);
	for (it = intern_head; it; it = it->next) {
		if (strcmp(it->s, s) == 0)
			goto out;
	}
	len = strlen(s);
	it = xmalloc(sizeof(*it) + len + 1);
	memcpy(it->s, s, len + 1);
	it->next = intern_head;
	intern_head = it;
out:
	pthread_mutex_unlock(&intern_lock);
	return it->s;
}

struct diag_group {
	const char *msg; /* its message in msgs (owned there) */
	const char *file;
	int line, col;
	char *kind, *names, *error;
};

void diags_init(struct diags *d)
{
	d->msgs = NULL;
	d->n = 0;
	d->alloc = 0;
	d->groups = NULL;
	d->n_groups = 0;
	d->groups_alloc = 0;
}

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

long pv_index_find(const struct pv_index *x, char *const *names, const char *key)
{
	if (!x->cap)
		return -1;
	for (size_t i = str_hash(key) & (x->cap - 1);; i = (i + 1) & (x->cap - 1)) {
		if (!x->slots[i])
			return -1;
		if (strcmp(names[x->slots[i] - 1], key) == 0)
			return (long)(x->slots[i] - 1);
	}
}

static void index_put(struct pv_index *x, char *const *names, size_t pos)
{
	size_t i = str_hash(names[pos]) & (x->cap - 1);

	while (x->slots[i])
		i = (i + 1) & (x->cap - 1);
	x->slots[i] = pos + 1;
}

void pv_index_add(struct pv_index *x, char *const *names, size_t pos)
{
	if ((x->n + 1) * 2 > x->cap) {
		struct pv_index old = *x;

		x->cap = old.cap ? old.cap * 2 : 16;
		x->slots = xcalloc(x->cap, sizeof(*x->slots));
		for (size_t i = 0; i < old.cap; i++) {
			if (old.slots[i])
				index_put(x, names, old.slots[i] - 1);
		}
		free(old.slots);
	}
	index_put(x, names, pos);
	x->n++;
}

void pv_index_release(struct pv_index *x)
{
	free(x->slots);
	memset(x, 0, sizeof(*x));
}

const char *pv_printable(const char *s, char *buf, size_t size)
{
	size_t n = 0;

	if (size < 8) {
		if (size)
			buf[0] = '\0';
		return buf;
	}
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		bool ctl = *p < 0x20 || *p == 0x7f;

		if (n + (ctl ? 4 : 1) + 1 > size) {
			if (n > size - 4)
				n = size - 4;
			memcpy(buf + n, "...", 4);
			return buf;
		}
		if (ctl)
			n += (size_t)snprintf(buf + n, size - n, "\\x%02x", *p);
		else
			buf[n++] = (char)*p;
	}
	buf[n] = '\0';
	return buf;
}

/* A message echoes input: control characters in it are written \xNN. */
static char *printable_msg(char *text)
{
	size_t len = strlen(text), ctl = 0;
	char *out;

	for (size_t i = 0; i < len; i++)
		ctl += (unsigned char)text[i] < 0x20 || text[i] == 0x7f;
	if (!ctl)
		return text;
	out = xmalloc(len + ctl * 3 + 1);
	pv_printable(text, out, len + ctl * 3 + 1);
	free(text);
	return out;
}

void diags_add(struct diags *d, const struct pos *p, const char *fmt, ...)
{
	va_list ap;
	char *text;

	va_start(ap, fmt);
	text = printable_msg(xvasprintf(fmt, ap));
	va_end(ap);
	PV_GROW(d->msgs, d->n + 1, d->alloc);
	if (p && p->file) {
		d->msgs[d->n++] = xasprintf("%s:%d:%d: %s", p->file, p->line, p->col, text);
		free(text);
	} else {
		d->msgs[d->n++] = text;
	}
}

void diags_add_named(struct diags *d, const struct pos *p, const char *kind, const char *name,
                     const char *error)
{
	const char *file = p && p->file ? p->file : "";
	int line = p ? p->line : 0, col = p ? p->col : 0;

	for (size_t i = 0; i < d->n_groups; i++) {
		struct diag_group *g = &d->groups[i];
		if (g->line != line || g->col != col || strcmp(g->file, file) ||
		    strcmp(g->error, error) || strcmp(g->kind, kind))
			continue;
		/* the message may have moved (messages are sorted by position) */
		for (size_t k = 0; k < d->n; k++) {
			if (d->msgs[k] != g->msg)
				continue;
			char *names = xasprintf("%s, '%s'", g->names, name);
			free(g->names);
			g->names = names;
			free(d->msgs[k]);
			if (*file)
				d->msgs[k] = printable_msg(xasprintf(
				    "%s:%d:%d: %ss %s: %s", file, line, col, kind, names, error));
			else
				d->msgs[k] =
				    printable_msg(xasprintf("%ss %s: %s", kind, names, error));
			g->msg = d->msgs[k];
			return;
		}
	}
	diags_add(d, p, "%s '%s': %s", kind, name, error);
	PV_GROW(d->groups, d->n_groups + 1, d->groups_alloc);
	d->groups[d->n_groups++] = (struct diag_group){
	    .msg = d->msgs[d->n - 1],
	    .file = file,
	    .line = line,
	    .col = col,
	    .kind = xstrdup(kind),
	    .names = xasprintf("'%s'", name),
	    .error = xstrdup(error),
	};
}

void diags_release(struct diags *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->msgs[i]);
	free(d->msgs);
	for (size_t i = 0; i < d->n_groups; i++) {
		free(d->groups[i].kind);
		free(d->groups[i].names);
		free(d->groups[i].error);
	}
	free(d->groups);
	diags_init(d);
}

static size_t min3(size_t a, size_t b, size_t c)
{
	size_t m = a < b ? a : b;
	return m < c ? m : c;
}

/* Optimal string alignment distance (Damerau-Levenshtein without reuse). */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t *prev2, *prev, *cur, *tmp, d;

	prev2 = xcalloc(lb + 1, sizeof(size_t));
	prev = xcalloc(lb + 1, sizeof(size_t));
	cur = xcalloc(lb + 1, sizeof(size_t));
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
			cur[j] = min3(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    prev2[j - 2] + 1 < cur[j])
				cur[j] = prev2[j - 2] + 1;
		}
		tmp = prev2;
		prev2 = prev;
		prev = cur;
		cur = tmp;
	}
	d = prev[lb];
	free(prev2);
	free(prev);
	free(cur);
	return d;
}

const char *pv_nearest(const char *name, const char *const *candidates, size_t n)
{
	const char *best = NULL;
	size_t best_d = (size_t)-1;
	size_t len, threshold;

	if (!name)
		return NULL;
	len = strlen(name);
	threshold = len / 3 > 1 ? len / 3 : 1;
	for (size_t i = 0; i < n; i++) {
		size_t d;

		if (!candidates[i])
			continue;
		d = edit_distance(name, candidates[i]);
		if (d < best_d) {
			best_d = d;
			best = candidates[i];
		}
	}
	if (!best || best_d > threshold)
		return NULL;
	return best;
}

static void oom(void)
{
	static const char msg[] = "provision: out of memory\n";
	ssize_t r = write(2, msg, sizeof(msg) - 1);
	(void)r;
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom();
	return q;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		oom();
	return p;
}

char *xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);
	if (!p)
		oom();
	return p;
}

char *xvasprintf(const char *fmt, va_list ap)
{
	char *p = NULL;

	if (vasprintf(&p, fmt, ap) < 0)
		oom();
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	p = xvasprintf(fmt, ap);
	va_end(ap);
	return p;
}

void pv_wipe(void *p, size_t n)
{
	if (p && n)
		explicit_bzero(p, n);
}

void pv_free_secret(char *s)
{
	if (!s)
		return;
	pv_wipe(s, strlen(s));
	free(s);
}

int pv_read_file(const char *path, char **out, size_t *len, size_t max, struct pv_error *err)
{
	char *data = NULL;
	size_t n = 0, alloc = 0;
	int fd, ret = -1;

	*out = NULL;
	if (len)
		*len = 0;
	if (max == 0)
		max = (size_t)64 << 20;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pv_error_set(err, "cannot open '%s': %s", path, strerror(errno));
	for (;;) {
		ssize_t r;

		if (n + 4096 + 1 > alloc) {
			alloc = alloc ? alloc * 2 : 8192;
			data = xrealloc(data, alloc);
		}
		r = read(fd, data + n, alloc - n - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			pv_error_set(err, "cannot read '%s': %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			pv_error_set(err, "cannot read '%s': larger than %zu bytes", path, max);
			goto out;
		}
	}
	if (!data)
		data = xmalloc(1);
	data[n] = '\0';
	*out = data;
	data = NULL; /* transferred */
	if (len)
		*len = n;
	ret = 0;
out:
	close(fd);
	free(data);
	return ret;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* The temporary files that exist now; the signal handler reads them without a lock. */
#define TMP_SLOTS 64
static struct {
	volatile sig_atomic_t used;
	char path[4096];
} tmp_slots[TMP_SLOTS];
static pthread_mutex_t tmp_lock = PTHREAD_MUTEX_INITIALIZER;

int pv_tmp_register(const char *path)
{
	size_t len = strlen(path);
	int slot = -1;

	if (len >= sizeof(tmp_slots[0].path))
		return -1;
	pthread_mutex_lock(&tmp_lock);
	for (int i = 0; i < TMP_SLOTS && slot < 0; i++) {
		if (tmp_slots[i].used)
			continue;
		memcpy(tmp_slots[i].path, path, len + 1);
		__atomic_store_n(&tmp_slots[i].used, 1, __ATOMIC_RELEASE);
		slot = i;
	}
	pthread_mutex_unlock(&tmp_lock);
	return slot;
}

void pv_tmp_unregister(int slot)
{
	if (slot >= 0 && slot < TMP_SLOTS)
		__atomic_store_n(&tmp_slots[slot].used, 0, __ATOMIC_RELEASE);
}

/* Only async-signal-safe calls: unlink, then die of the signal as before. */
static void tmp_on_signal(int sig)
{
	for (int i = 0; i < TMP_SLOTS; i++)
		if (__atomic_load_n(&tmp_slots[i].used, __ATOMIC_ACQUIRE))
			unlink(tmp_slots[i].path);
	raise(sig); /* the handler was reset (SA_RESETHAND): this ends the process */
}

void pv_tmp_guard_signals(void)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
	struct sigaction sa, old;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = tmp_on_signal;
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < PV_ARRAY_SIZE(sigs); i++) {
		/* a signal ignored by whoever started us stays ignored */
		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			continue;
		sigaction(sigs[i], &sa, NULL);
	}
}

/* "NAME.tmp.XXXXXX", as pv_write_file_atomic names its temporary files. */
static bool is_tmp_name(const char *n)
{
	size_t l = strlen(n);

	return l > 11 && !memcmp(n + l - 11, ".tmp.", 5) &&
	       strspn(n + l - 6,
	              "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == 6;
}

int pv_tmp_sweep(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	struct stat st;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		if (!is_tmp_name(e->d_name) ||
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !(S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)))
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) == 0)
			n++;
	}
	closedir(d);
	return n;
}

int pv_write_file_atomic(const char *path, const void *data, size_t len, int mode,
                         struct pv_error *err)
{
	char *tmp = NULL, *dircopy = NULL;
	const char *dir;
	int fd = -1, dfd, ret = -1, slot;

	tmp = xasprintf("%s.tmp.XXXXXX", path);
	/* mkstemp makes it 0600: a key is never readable by others, not even for a moment */
	fd = mkstemp(tmp);
	if (fd < 0) {
		pv_error_set(err, "cannot write '%s': %s", path, strerror(errno));
		free(tmp);
		return -1;
	}
	slot = pv_tmp_register(tmp);
	if (write_all(fd, data, len) < 0) {
		pv_error_set(err, "cannot write '%s': %s", path, strerror(errno));
		goto out;
	}
	if (fchmod(fd, (mode_t)mode) < 0) {
		pv_error_set(err, "cannot set mode of '%s': %s", path, strerror(errno));
		goto out;
	}
	if (fsync(fd) < 0) {
		pv_error_set(err, "cannot sync '%s': %s", path, strerror(errno));
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		pv_error_set(err, "cannot write '%s': %s", path, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		pv_error_set(err, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
		goto out;
	}
	pv_tmp_unregister(slot);
	free(tmp);
	tmp = NULL; /* renamed: nothing to remove */
	dircopy = xstrdup(path);
	dir = dirname(dircopy);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		/* The new file is in place; a failed directory sync is not fatal. */
		(void)fsync(dfd);
		close(dfd);
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp) {
		unlink(tmp);
		pv_tmp_unregister(slot);
		free(tmp);
	}
	free(dircopy);
	return ret;
}

int pv_lock_wait(const char *dir, const char *name, int dir_mode, struct pv_error *err)
{
	char *path;
	int fd;

	if (pv_mkdir_p(dir, dir_mode, err) < 0)
		return -1;
	path = pv_path_join(dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		pv_error_set(err, "cannot lock '%s': %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	free(path);
	return fd;
}

int pv_mkdir_p(const char *path, int mode, struct pv_error *err)
{
	char *p = xstrdup(path);
	struct stat st;
	int ret = -1;

	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, (mode_t)mode) < 0 && errno != EEXIST) {
			pv_error_set(err, "cannot create directory '%s': %s", p, strerror(errno));
			goto out;
		}
		*s = '/';
	}
	if (mkdir(p, (mode_t)mode) < 0 && errno != EEXIST) {
		pv_error_set(err, "cannot create directory '%s': %s", p, strerror(errno));
		goto out;
	}
	if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode)) {
		pv_error_set(err, "cannot create directory '%s': not a directory", p);
		goto out;
	}
	ret = 0;
out:
	free(p);
	return ret;
}

char *pv_expand_home(const char *path)
{
	const char *home;

	if (strncmp(path, "~/", 2) == 0 || strcmp(path, "~") == 0) {
		home = getenv("HOME");
		if (home && *home)
			return pv_path_join(home, path[1] ? path + 2 : "");
	}
	return xstrdup(path);
}

char *pv_path_join(const char *dir, const char *name)
{
	size_t dl = strlen(dir);

	while (dl > 1 && dir[dl - 1] == '/')
		dl--;
	while (*name == '/')
		name++;
	if (dl == 0)
		return xstrdup(name);
	if (dl == 1 && dir[0] == '/')
		return xasprintf("/%s", name);
	if (!*name)
		return xstrndup(dir, dl);
	return xasprintf("%.*s/%s", (int)dl, dir, name);
}

void pv_sha256_hex(const void *data, size_t len, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) {
		memset(out, '0', 64);
		out[64] = '\0';
		return;
	}
	for (unsigned int i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[64] = '\0';
}

long long pv_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

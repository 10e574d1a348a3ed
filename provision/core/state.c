/*
 * state.c - .provision/state.json and the run lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "provision/state.h"

#define STATE_VERSION 1

static json_t *new_root(const char *project)
{
	json_t *root = json_object();

	json_object_set_new(root, "version", json_integer(STATE_VERSION));
	json_object_set_new(root, "project", json_string(project));
	json_object_set_new(root, "environments", json_object());
	return root;
}

/*
 * The lock file says who holds it: "PID START\nprovision ARGS...\n" (the
 * command line holds no secret: those come from files and the environment).
 */
static void note_holder(int fd)
{
	char cmd[512], line[640];
	ssize_t n = -1;
	int cfd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);

	if (cfd >= 0) {
		n = read(cfd, cmd, sizeof(cmd) - 1);
		close(cfd);
	}
	if (n <= 0)
		n = 0;
	cmd[n] = '\0';
	for (ssize_t i = 0; i + 1 < n; i++)
		if (cmd[i] == '\0' || cmd[i] == '\n')
			cmd[i] = ' ';
	/* the program's own path is not the interesting part */
	const char *args = strchr(cmd, ' ');
	snprintf(line, sizeof(line), "%ld %lld\nprovision%s\n", (long)getpid(),
	         (long long)time(NULL), args ? args : "");
	if (ftruncate(fd, 0) == 0)
		(void)!pwrite(fd, line, strlen(line), 0);
}

/* "'provision backup restore' (pid 123, since 04:01:02 UTC)", or "" */
static void describe_holder(const char *path, char *dst, size_t n)
{
	char *text = NULL, when[32] = "?";
	size_t len = 0;
	long pid = 0;
	long long since = 0;

	dst[0] = '\0';
	if (pv_read_file(path, &text, &len, 4096, NULL) < 0)
		return;
	char *nl = strchr(text, '\n');
	/* a note left by a run that ended is no one's */
	if (sscanf(text, "%ld %lld", &pid, &since) == 2 && pid > 0 && nl &&
	    (kill((pid_t)pid, 0) == 0 || errno == EPERM)) {
		time_t t = (time_t)since;
		struct tm tm;
		nl[1 + strcspn(nl + 1, "\n")] = '\0';
		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%H:%M:%S UTC", &tm);
		snprintf(dst, n, " ('%s', pid %ld, since %s)", nl + 1, pid, when);
	}
	free(text);
}

static int take_lock(struct state *st, struct pv_error *err)
{
	char *path = pv_path_join(st->dir, "lock");
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	char who[600];

	if (fd < 0) {
		pv_error_set(err, "cannot open the run lock '%s': %s", path, strerror(errno));
		free(path);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK) {
			describe_holder(path, who, sizeof(who));
			pv_error_set(err,
			             "another provision run%s holds the lock '%s'; nothing was "
			             "done: wait for it to finish, then run again",
			             who, path);
		} else
			pv_error_set(err, "cannot lock '%s': %s", path, strerror(errno));
		close(fd);
		free(path);
		return -1;
	}
	free(path);
	note_holder(fd);
	st->lock_fd = fd;
	return 0;
}

int state_lock_wait(const char *dir, struct pv_error *err)
{
	return pv_lock_wait(dir, "lock", 0700, err);
}

int state_open(struct state *st, const char *dir, const char *project, bool lock,
               struct pv_error *err)
{
	char *text = NULL;
	size_t len = 0;
	json_error_t jerr;

	memset(st, 0, sizeof(*st));
	st->lock_fd = -1;
	if (pv_mkdir_p(dir, 0700, err) < 0)
		return -1;
	st->dir = xstrdup(dir);
	st->path = pv_path_join(dir, "state.json");
	if (lock && take_lock(st, err) < 0)
		goto fail;
	if (lock) {
		/* what a killed run left half-written (state, keys): nobody else writes now */
		char *keys = pv_path_join(dir, "keys");
		pv_tmp_sweep(dir);
		pv_tmp_sweep(keys);
		free(keys);
	}
	if (access(st->path, F_OK) != 0) {
		st->root = new_root(project);
		return 0;
	}
	if (pv_read_file(st->path, &text, &len, 0, err) < 0)
		goto fail;
	st->root = json_loadb(text, len, 0, &jerr);
	free(text);
	if (!st->root || !json_is_object(st->root)) {
		pv_error_set(err, "%s:%d:%d: the state file is not valid JSON: %s", st->path,
		             jerr.line, jerr.column, st->root ? "not an object" : jerr.text);
		goto fail;
	}
	const char *p = state_str(st->root, "project");
	if (p && strcmp(p, project)) {
		pv_error_set(err,
		             "the state in '%s' belongs to project '%s', not '%s'; use another "
		             "directory for this inventory",
		             st->path, p, project);
		goto fail;
	}
	json_t *v = json_object_get(st->root, "version");
	if (!json_is_integer(v) || json_integer_value(v) != STATE_VERSION) {
		pv_error_set(err, "the state file '%s' has an unknown version", st->path);
		goto fail;
	}
	if (!json_is_object(json_object_get(st->root, "environments")))
		json_object_set_new(st->root, "environments", json_object());
	return 0;
fail:
	state_close(st);
	return -1;
}

json_t *state_obj(json_t *obj, const char *key, bool create)
{
	json_t *o;

	if (!obj)
		return NULL;
	o = json_object_get(obj, key);
	if (json_is_object(o))
		return o;
	if (!create)
		return NULL;
	o = json_object();
	json_object_set_new(obj, key, o);
	return o;
}

json_t *state_env(struct state *st, const char *env, bool create)
{
	json_t *envs = state_obj(st->root, "environments", create);

	return state_obj(envs, env, create);
}

json_t *state_layout(struct state *st, const char *env, const char *layout, bool create)
{
	json_t *e = state_env(st, env, create);

	return state_obj(state_obj(e, "layouts", create), layout, create);
}

void state_remove_layout(struct state *st, const char *env, const char *layout)
{
	json_t *e = state_env(st, env, false);
	json_t *ls = state_obj(e, "layouts", false);

	if (!ls)
		return;
	json_object_del(ls, layout);
	if (json_object_size(ls) == 0)
		json_object_del(json_object_get(st->root, "environments"), env);
}

int state_save(struct state *st, struct pv_error *err)
{
	char *text = json_dumps(st->root, JSON_INDENT(2) | JSON_SORT_KEYS);
	int rc;

	if (!text)
		return pv_error_set(err, "cannot serialise the state");
	size_t len = strlen(text);
	text = xrealloc(text, len + 2);
	text[len++] = '\n';
	text[len] = '\0';
	rc = pv_write_file_atomic(st->path, text, len, 0600, err);
	free(text);
	return rc;
}

void state_close(struct state *st)
{
	if (st->lock_fd >= 0)
		close(st->lock_fd); /* releases the flock */
	if (st->root)
		json_decref(st->root);
	free(st->dir);
	free(st->path);
	memset(st, 0, sizeof(*st));
	st->lock_fd = -1;
}

const char *state_str(const json_t *obj, const char *key)
{
	json_t *v = obj ? json_object_get(obj, key) : NULL;

	return json_is_string(v) ? json_string_value(v) : NULL;
}

void state_set_str(json_t *obj, const char *key, const char *value)
{
	if (!obj)
		return;
	if (value)
		json_object_set_new(obj, key, json_string(value));
	else
		json_object_del(obj, key);
}

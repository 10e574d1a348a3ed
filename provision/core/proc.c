/*
 * proc.c - programs on this machine: run, spawn, recognise, stop.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "provision/proc.h"

static void child_stdin_null(void)
{
	int fd = open("/dev/null", O_RDONLY);

	if (fd >= 0 && fd != 0) {
		dup2(fd, 0);
		close(fd);
	}
}

int proc_run(char *const argv[], struct buf *out, struct pv_error *err)
{
	int pfd[2] = {-1, -1};
	pid_t pid;
	int status;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return pv_error_set(err, "cannot run '%s': %s", argv[0], strerror(errno));
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return pv_error_set(err, "cannot run '%s': %s", argv[0], strerror(errno));
	}
	if (pid == 0) {
		child_stdin_null();
		if (out) {
			dup2(pfd[1], 1);
			dup2(pfd[1], 2);
		} else {
			int null = open("/dev/null", O_WRONLY);
			dup2(null, 1);
			dup2(null, 2);
		}
		execvp(argv[0], argv);
		dprintf(2, "cannot run '%s': %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		char chunk[4096];
		ssize_t r = read(pfd[0], chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (out)
			buf_add(out, chunk, (size_t)r); /* past the cap the rest is dropped */
	}
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return pv_error_set(err, "cannot wait for '%s': %s", argv[0],
			                    strerror(errno));
	}
	if (WIFEXITED(status)) {
		if (WEXITSTATUS(status) == 127 && out && strstr(out->s, "cannot run '"))
			return pv_error_set(err, "%s", proc_tail(out->s, 300));
		return WEXITSTATUS(status);
	}
	return pv_error_set(err, "'%s' died by signal %d", argv[0], WTERMSIG(status));
}

pid_t proc_spawn(char *const argv[], const char *log, struct pv_error *err)
{
	int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	int pfd[2];
	pid_t pid;

	if (fd < 0) {
		pv_error_set(err, "cannot open '%s': %s", log, strerror(errno));
		return -1;
	}
	/* the exec error, if any, comes back through a close-on-exec pipe */
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		close(fd);
		pv_error_set(err, "cannot start '%s': %s", argv[0], strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		close(fd);
		close(pfd[0]);
		close(pfd[1]);
		pv_error_set(err, "cannot start '%s': %s", argv[0], strerror(errno));
		return -1;
	}
	if (pid == 0) {
		int e;
		setsid();
		child_stdin_null();
		dup2(fd, 1);
		dup2(fd, 2);
		signal(SIGPIPE, SIG_DFL);
		execvp(argv[0], argv);
		e = errno;
		if (write(pfd[1], &e, sizeof(e)) < 0)
			_exit(126);
		_exit(127);
	}
	close(fd);
	close(pfd[1]);
	int e = 0;
	ssize_t r;
	while ((r = read(pfd[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(pfd[0]);
	if (r == (ssize_t)sizeof(e)) {
		waitpid(pid, NULL, 0);
		pv_error_set(err, "cannot start '%s': %s", argv[0], strerror(e));
		return -1;
	}
	return pid;
}

bool proc_is(pid_t pid, const char *const *words)
{
	char path[64], cmd[8192];
	ssize_t len;
	int fd;

	if (pid <= 1)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	len = read(fd, cmd, sizeof(cmd) - 1);
	close(fd);
	if (len <= 0)
		return false; /* a zombie or a kernel thread */
	cmd[len] = '\0';
	for (size_t w = 0; words && words[w]; w++) {
		bool found = false;
		for (ssize_t off = 0; off < len && !found; off += (ssize_t)strlen(cmd + off) + 1)
			found = strcmp(cmd + off, words[w]) == 0;
		if (!found)
			return false;
	}
	return true;
}

static void reap(pid_t pid)
{
	/* our own children become zombies until waited for */
	waitpid(pid, NULL, WNOHANG);
}

int proc_stop(const pid_t *pids, const char *const *const *words, size_t n, int sig, int timeout_ms)
{
	bool *mine = xcalloc(n + 1, sizeof(*mine));
	long long until = pv_now_ms() + timeout_ms;
	int killed = 0;

	for (size_t i = 0; i < n; i++) {
		mine[i] = proc_is(pids[i], words[i]);
		if (mine[i])
			kill(pids[i], sig);
	}
	for (;;) {
		bool alive = false;
		for (size_t i = 0; i < n; i++) {
			if (!mine[i])
				continue;
			reap(pids[i]);
			if (proc_is(pids[i], words[i]))
				alive = true;
			else
				mine[i] = false;
		}
		if (!alive || pv_now_ms() >= until)
			break;
		poll(NULL, 0, 50);
	}
	for (size_t i = 0; i < n; i++) {
		if (mine[i] && proc_is(pids[i], words[i])) {
			kill(pids[i], SIGKILL);
			killed++;
			for (int t = 0; t < 100 && proc_is(pids[i], words[i]); t++) {
				reap(pids[i]);
				poll(NULL, 0, 20);
			}
		}
	}
	free(mine);
	return killed;
}

const char *proc_tail(const char *text, size_t max)
{
	size_t len = strlen(text);
	const char *p;

	while (len && (text[len - 1] == '\n' || text[len - 1] == ' '))
		len--;
	if (len <= max)
		return text;
	p = text + len - max;
	const char *nl = strchr(p, '\n');
	return nl && (size_t)(nl - text) < len ? nl + 1 : p;
}

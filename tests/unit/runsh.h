/*
 * runsh.h - run a script with the local /bin/sh -c and collect its
 * standard output.  Unless tools is set the shell gets an empty PATH, so a
 * quoting bug in a hostile value ("x'; rm -rf / #") can reach builtins
 * only, never a real command.
 */
#ifndef TEST_RUNSH_H
#define TEST_RUNSH_H

#include <stdbool.h>
#include <sys/wait.h>
#include <unistd.h>

#include "provision/buf.h"

/* The script's exit status, or -1; dir NULL: the current directory. */
static inline int run_sh_in(const char *script, const char *dir, bool tools, struct buf *out)
{
	char *const env[] = {"PATH=/nonexistent", NULL};
	char chunk[4096];
	int fds[2], status;
	ssize_t n;
	pid_t pid;

	if (pipe(fds) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(fds[0]);
		dup2(fds[1], 1);
		close(fds[1]);
		if (dir && chdir(dir) < 0)
			_exit(126);
		if (tools)
			execl("/bin/sh", "sh", "-c", script, (char *)NULL);
		else
			execle("/bin/sh", "sh", "-c", script, (char *)NULL, env);
		_exit(127);
	}
	close(fds[1]);
	while ((n = read(fds[0], chunk, sizeof(chunk))) > 0)
		buf_add(out, chunk, (size_t)n);
	close(fds[0]);
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

#endif

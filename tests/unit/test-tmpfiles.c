/*
 * test-tmpfiles.c - temporary files of atomic writes: made 0600, removed on
 * every error path, removed when a signal ends the process, and swept by a
 * later run after a SIGKILL.
 */
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "files.h"
#include "provision/common.h"

static char tmpdir[] = "/tmp/pv-tmpfiles-XXXXXX";

static const char *p(const char *name)
{
	static char buf[4][512];
	static int n;
	char *b = buf[n++ % 4];

	snprintf(b, sizeof(buf[0]), "%s/%s", tmpdir, name);
	return b;
}

/* The names in dir, sorted, space separated. */
static char *listing(const char *dir)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, alphasort);
	char *out = xstrdup("");

	for (int i = 0; i < n; i++) {
		if (ents[i]->d_name[0] != '.' || ents[i]->d_name[1] > '.') {
			char *t = xasprintf("%s%s%s", out, *out ? " " : "", ents[i]->d_name);
			free(out);
			out = t;
		}
		free(ents[i]);
	}
	free(ents);
	return out;
}

static void test_sweep(void)
{
	char *l;

	if (mkdir(p("s"), 0700) < 0)
		die("mkdir");
	write_file(p("s/state.json"), "{}");
	write_file(p("s/state.json.tmp.Ab12Cd"), "{\"half\":");
	write_file(p("s/id_ed25519.tmp.XyZ789"), "-----BEGIN OPENSSH PRIVATE KEY-----\n");
	write_file(p("s/notes.tmp.txt"), "not ours");
	write_file(p("s/x.tmp.ab-cd!"), "not ours either");
	if (mkdir(p("s/dir.tmp.AAAAAA"), 0700) < 0)
		die("mkdir");
	CHECK(pv_tmp_sweep(p("s")) == 2);
	CHECK_STR(l = listing(p("s")), "dir.tmp.AAAAAA notes.tmp.txt state.json x.tmp.ab-cd!");
	free(l);
	CHECK(pv_tmp_sweep(p("s")) == 0);
	CHECK(pv_tmp_sweep(p("no-such-dir")) == 0);
}

static void test_atomic_write(void)
{
	struct pv_error err = {{0}};
	struct stat st;
	char *l;

	if (mkdir(p("w"), 0700) < 0)
		die("mkdir");
	umask(0);
	CHECK(pv_write_file_atomic(p("w/key"), "secret\n", 7, 0600, &err) == 0);
	CHECK(stat(p("w/key"), &st) == 0 && (st.st_mode & 0777) == 0600);
	/* the rename fails (a directory is in the way): the temporary file goes */
	if (mkdir(p("w/busy"), 0700) < 0 || mkdir(p("w/busy/x"), 0700) < 0)
		die("mkdir");
	CHECK(pv_write_file_atomic(p("w/busy"), "text", 4, 0644, &err) < 0);
	CHECK_HAS(err.msg, "cannot rename");
	CHECK_STR(l = listing(p("w")), "busy key");
	free(l);
	umask(022);
}

/* A registered temporary file is gone when sig ends the process. */
static void signal_case(int sig)
{
	const char *f = p(sig == SIGINT ? "sig-int.tmp.Qq1111" : "sig-term.tmp.Qq2222");
	int status = 0;
	pid_t pid;

	write_file(f, "half a key");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		/* a signal that ends the process: not one ignored by whoever started the
		 * tests (a shell ignores SIGINT for commands it runs in the background) */
		signal(sig, SIG_DFL);
		pv_tmp_guard_signals();
		pv_tmp_register(f);
		kill(getpid(), sig);
		_exit(0); /* not reached when the signal ends the process */
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == sig);
	CHECK(access(f, F_OK) != 0);
}

static void test_signals(void)
{
	const char *f = p("kept.tmp.Qq3333");
	int status = 0;
	pid_t pid;

	signal_case(SIGINT);
	signal_case(SIGTERM);
	/* unregistered (renamed into place): the handler leaves it alone */
	write_file(f, "in place");
	pid = fork();
	if (pid == 0) {
		pv_tmp_guard_signals();
		pv_tmp_unregister(pv_tmp_register(f));
		kill(getpid(), SIGTERM);
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid && WIFSIGNALED(status));
	CHECK(access(f, F_OK) == 0);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_sweep);
	RUN(test_atomic_write);
	RUN(test_signals);
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		printf("warning: cannot remove %s\n", tmpdir);
	free(cmd);
	return check_done("test-tmpfiles");
}

/*
 * test-remote.c - remote.c against a real sshd on loopback, with host and
 * user keys made by keys.c.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "provision/buf.h"
#include "provision/common.h"
#include "provision/keys.h"
#include "provision/remote.h"

#define SSHD "/usr/sbin/sshd"
#define BIG (5 * 1024 * 1024)

static char tmpdir[] = "/tmp/test-remote.XXXXXX";
static pid_t sshd_pid = -1;
static int port;
static char *known_hosts, *user_key, *bare_key, *other_key, *host_key, *user_name;

static void cleanup(void)
{
	if (sshd_pid > 0) {
		kill(sshd_pid, SIGTERM);
		waitpid(sshd_pid, NULL, 0);
		sshd_pid = -1;
	}
	if (strchr(tmpdir, 'X') == NULL) {
		char *cmd = xasprintf("rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			printf("warning: cannot remove %s\n", tmpdir);
		free(cmd);
	}
}

static int free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), p = -1;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		p = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return p;
}

static char *tpath(const char *name)
{
	return pv_path_join(tmpdir, name);
}

static int write_text(const char *path, const char *text, int mode)
{
	struct pv_error err;

	if (pv_write_file_atomic(path, text, strlen(text), mode, &err) < 0) {
		printf("%s\n", err.msg);
		return -1;
	}
	return 0;
}

static int start_sshd(void)
{
	struct pv_error err = {{0}};
	char *cfg = tpath("sshd_config"), *ak = tpath("authorized_keys"), *pid = tpath("sshd.pid");
	char *log = tpath("sshd.log"), *pub = NULL, *text = NULL;
	int rc = -1;

	host_key = tpath("host_key");
	user_key = tpath("keys/id_ed25519");
	other_key = tpath("keys/other");
	bare_key = tpath("keys/bare");
	known_hosts = tpath("known_hosts");
	if (key_ensure_file(host_key, "host", &err) < 0 ||
	    key_ensure_file(user_key, "user", &err) < 0 ||
	    key_ensure_file(other_key, "other", &err) < 0 ||
	    key_ensure_file(bare_key, "bare", &err) < 0) {
		printf("%s\n", err.msg);
		goto out;
	}
	/* The bare key has no .pub beside it: libssh2 must read the private file alone. */
	char *barepub = xasprintf("%s.pub", bare_key);
	char *bare_line = NULL;
	CHECK(key_public_from_file(bare_key, &bare_line, &err) == 0);
	unlink(barepub);
	free(barepub);

	if (key_public_from_file(user_key, &pub, &err) < 0) {
		printf("%s\n", err.msg);
		free(bare_line);
		goto out;
	}
	text = xasprintf("%s\n%s\n", pub, bare_line ? bare_line : "");
	free(bare_line);
	if (write_text(ak, text, 0600) < 0)
		goto out;
	free(text);
	port = free_port();
	text = xasprintf("Port %d\nListenAddress 127.0.0.1\nHostKey %s\nAuthorizedKeysFile %s\n"
	                 "PidFile %s\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n"
	                 "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n",
	                 port, host_key, ak, pid);
	if (write_text(cfg, text, 0600) < 0)
		goto out;
	mkdir("/run/sshd", 0755);

	sshd_pid = fork();
	if (sshd_pid == 0) {
		FILE *f = freopen(log, "w", stderr);
		(void)f;
		dup2(2, 1);
		execl(SSHD, SSHD, "-D", "-e", "-f", cfg, (char *)NULL);
		_exit(127);
	}
	if (sshd_pid < 0 || remote_wait_port("127.0.0.1", port, 10000, &err) < 0) {
		printf("sshd did not start: %s\n", err.msg);
		char *cmd = xasprintf("cat '%s'", log);
		if (system(cmd) != 0)
			printf("(no log)\n");
		free(cmd);
		goto out;
	}
	free(pub);
	pub = NULL;
	if (key_public_from_file(host_key, &pub, &err) < 0 ||
	    known_hosts_pin(known_hosts, "127.0.0.1", port, pub, &err) < 0) {
		printf("%s\n", err.msg);
		goto out;
	}
	rc = 0;
out:
	free(cfg);
	free(ak);
	free(pid);
	free(log);
	free(pub);
	free(text);
	return rc;
}

static struct remote_target target(const char *key)
{
	struct remote_target t = {
	    .name = "loop1",
	    .address = "127.0.0.1",
	    .port = port,
	    .user = user_name,
	    .private_key = key,
	    .known_hosts = known_hosts,
	    .timeout_ms = 10000,
	};
	return t;
}

static void test_exec(void)
{
	struct pv_error err = {{0}};
	struct remote_target t = target(user_key);
	struct remote *r = NULL;
	struct buf out, errb;
	int st = -2;

	buf_init(&out, 0);
	buf_init(&errb, 0);
	CHECK(remote_connect(&r, &t, &err) == 0);
	if (!r) {
		printf("connect: %s\n", err.msg);
		return;
	}
	CHECK(remote_exec(r, "echo hi", NULL, 0, &out, &errb, &st, &err) == 0);
	CHECK_STR(out.s, "hi\n");
	CHECK(st == 0);
	CHECK(errb.len == 0);

	buf_reset(&out);
	CHECK(remote_exec(r, "exit 3", NULL, 0, &out, NULL, &st, &err) == 0);
	CHECK(st == 3);

	buf_reset(&out);
	CHECK(remote_exec(r, "echo out; echo oops >&2; exit 1", NULL, 0, &out, &errb, &st, &err) ==
	      0);
	CHECK_STR(out.s, "out\n");
	CHECK_STR(errb.s, "oops\n");
	CHECK(st == 1);

	/* stdin reaches the command's shell; a signal death is -1 */
	buf_reset(&out);
	CHECK(remote_exec(r, "sh -s", "echo from-stdin\n", 15, &out, NULL, &st, &err) == 0);
	CHECK_STR(out.s, "from-stdin\n");
	CHECK(st == 0);
	CHECK(remote_exec(r, "kill -9 $$", NULL, 0, &out, NULL, &st, &err) == 0);
	CHECK(st == -1);

	buf_release(&out);
	buf_release(&errb);
	remote_close(r);
}

static void test_big_stdin(void)
{
	struct pv_error err = {{0}};
	struct remote_target t = target(user_key);
	struct remote *r = NULL;
	struct buf out;
	char *data = xmalloc(BIG);
	int st = -2;

	for (size_t i = 0; i < BIG; i++)
		data[i] = (char)(i * 7 + i / 1000);
	buf_init(&out, 8 << 20);
	CHECK(remote_connect(&r, &t, &err) == 0);
	if (!r) {
		printf("connect: %s\n", err.msg);
		goto out;
	}
	/* cat echoes while we still write: needs interleaving, not a deadlock */
	CHECK(remote_exec(r, "cat", data, BIG, &out, NULL, &st, &err) == 0);
	CHECK(st == 0);
	CHECK(out.len == BIG && memcmp(out.s, data, BIG) == 0);

	/* same in reverse: stderr */
	struct buf errb;
	buf_init(&errb, 8 << 20);
	buf_reset(&out);
	CHECK(remote_exec(r, "cat >&2", data, BIG, &out, &errb, &st, &err) == 0);
	CHECK(out.len == 0 && errb.len == BIG && memcmp(errb.s, data, BIG) == 0);
	buf_release(&errb);

	/* a command that reads none of its input still finishes */
	buf_reset(&out);
	CHECK(remote_exec(r, "echo done", data, BIG, &out, NULL, &st, &err) == 0);
	CHECK_STR(out.s, "done\n");
	CHECK(st == 0);

	/* count what arrived at the far end */
	buf_reset(&out);
	CHECK(remote_exec(r, "wc -c", data, BIG, &out, NULL, &st, &err) == 0);
	CHECK(atol(out.s) == BIG);
out:
	remote_close(r);
	buf_release(&out);
	free(data);
}

static void test_output_limit(void)
{
	struct pv_error err = {{0}};
	struct remote_target t = target(user_key);
	struct remote *r = NULL;
	struct buf out;
	int st = -2;

	buf_init(&out, 4096);
	CHECK(remote_connect(&r, &t, &err) == 0);
	if (!r)
		return;
	CHECK(remote_exec(r, "head -c 3000000 /dev/zero | tr '\\0' x", NULL, 0, &out, NULL, &st,
	                  &err) == -1);
	CHECK_HAS(err.msg, "output of 'head -c 3000000");
	CHECK_HAS(err.msg, "exceeds 4096 bytes");
	CHECK(out.len == 4096 && out.s[0] == 'x' && out.s[4095] == 'x');
	CHECK(st == 0);
	/* the connection is still usable */
	buf_release(&out);
	buf_init(&out, 0);
	CHECK(remote_exec(r, "echo still", NULL, 0, &out, NULL, &st, &err) == 0);
	CHECK_STR(out.s, "still\n");
	buf_release(&out);
	remote_close(r);
}

static void test_refusals(void)
{
	struct pv_error err = {{0}};
	struct remote_target t = target(user_key);
	struct remote *r = NULL;
	char *pem = NULL, *wrong = NULL, *host = NULL, *fp = NULL, *want;

	/* wrong pinned key */
	CHECK(keygen_ed25519(&pem, &wrong, NULL, &err) == 0);
	pv_free_secret(pem);
	CHECK(known_hosts_pin(known_hosts, "127.0.0.1", port, wrong, &err) == 0);
	CHECK(remote_connect(&r, &t, &err) == -1);
	CHECK(r == NULL);
	want = xasprintf("host key of 'loop1' (127.0.0.1:%d) does not match the pinned key", port);
	CHECK_HAS(err.msg, want);
	free(want);
	CHECK(key_public_from_file(host_key, &host, &err) == 0);
	CHECK(host && key_fingerprint(host, &fp, &err) == 0);
	want = xasprintf("offered %s); refusing to connect", fp ? fp : "?");
	CHECK_HAS(err.msg, want);
	free(want);
	free(fp);
	CHECK(key_fingerprint(wrong, &fp, &err) == 0);
	want = xasprintf("(pinned %s,", fp ? fp : "?");
	r = NULL;
	CHECK(remote_connect(&r, &t, &err) == -1);
	CHECK_HAS(err.msg, want);
	free(want);
	free(fp);

	/* missing pin */
	CHECK(known_hosts_forget(known_hosts, "127.0.0.1", port, &err) == 0);
	CHECK(remote_connect(&r, &t, &err) == -1);
	want =
	    xasprintf("no pinned host key for 'loop1' (127.0.0.1:%d); refusing to connect", port);
	CHECK_STR(err.msg, want);
	free(want);

	/* the right pin again, but a user key the server does not know */
	CHECK(known_hosts_pin(known_hosts, "127.0.0.1", port, host, &err) == 0);
	t = target(other_key);
	CHECK(remote_connect(&r, &t, &err) == -1);
	want = xasprintf("authentication as '%s' on 'loop1' failed: ", user_name);
	CHECK_HAS(err.msg, want);
	free(want);

	/* a private key without .pub beside it */
	t = target(bare_key);
	r = NULL;
	CHECK(remote_connect(&r, &t, &err) == 0);
	if (!r)
		printf("bare key: %s\n", err.msg);
	remote_close(r);

	free(wrong);
	free(host);
}

static void test_ports(void)
{
	struct pv_error err = {{0}};
	struct remote_target t = target(user_key);
	struct remote *r = NULL;
	int closed = free_port();
	long long start;

	CHECK(remote_wait_port("127.0.0.1", port, 1000, &err) == 0);
	start = pv_now_ms();
	CHECK(remote_wait_port("127.0.0.1", closed, 700, &err) == -1);
	CHECK(pv_now_ms() - start >= 600);
	CHECK_HAS(err.msg, "did not open within 700 ms");

	/* a pinned key but nothing listening: refused, tried again once within
	 * the timeout's 1.5 s, then given up */
	t.port = closed;
	t.timeout_ms = 1500;
	CHECK(known_hosts_pin(known_hosts, "127.0.0.1", closed,
	                      "ssh-ed25519 "
	                      "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzr"
	                      "m0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
	                      &err) == 0);
	CHECK(remote_connect(&r, &t, &err) == -1);
	CHECK_HAS(err.msg, "cannot connect to 'loop1' (127.0.0.1:");
	CHECK_HAS(err.msg, "refused (2 tries in 1 s)");
}

/* sshd restarting: its port refuses connections for a moment, and a
 * connection made then gets in once it listens again */
static void test_refused_while_restarting(void)
{
	struct pv_error err = {{0}};
	struct remote_target t = target(user_key);
	struct remote *r = NULL;
	char *cfg = tpath("sshd_config");
	pid_t late;

	kill(sshd_pid, SIGTERM);
	waitpid(sshd_pid, NULL, 0);
	late = fork();
	if (late == 0) {
		struct timespec ts = {1, 500000000L};
		char *log = tpath("sshd-late.log");
		FILE *f = freopen(log, "w", stderr);

		(void)f;
		dup2(2, 1);
		nanosleep(&ts, NULL);
		execl(SSHD, SSHD, "-D", "-e", "-f", cfg, (char *)NULL);
		_exit(127);
	}
	sshd_pid = late;
	CHECK(remote_connect(&r, &t, &err) == 0);
	if (!r)
		printf("while restarting: %s\n", err.msg);
	remote_close(r);
	free(cfg);
}

int main(void)
{
	struct pv_error err = {{0}};
	struct passwd *pw;

	if (access(SSHD, X_OK) != 0) {
		printf("test-remote: SKIP: no sshd\n");
		return 0;
	}
	pw = getpwuid(geteuid());
	if (!pw || !mkdtemp(tmpdir)) {
		perror("test-remote setup");
		return 1;
	}
	user_name = xstrdup(pw->pw_name);
	atexit(cleanup);
	if (remote_global_init(&err) < 0) {
		printf("%s\n", err.msg);
		return 1;
	}
	check_current = "start_sshd";
	if (start_sshd() < 0) {
		CHECK(!"sshd started");
		return check_done("test-remote");
	}
	RUN(test_exec);
	RUN(test_big_stdin);
	RUN(test_output_limit);
	RUN(test_refusals);
	RUN(test_ports);
	RUN(test_refused_while_restarting);
	remote_global_cleanup();
	free(known_hosts);
	free(user_key);
	free(bare_key);
	free(other_key);
	free(host_key);
	free(user_name);
	return check_done("test-remote");
}

/*
 * test-engine.c - from roles to scripts and back.
 *
 * plan_render: variable priority, 'requires' order and cycles, the
 * did-you-mean diagnostics, 'when', only_roles and role_ports.  Then the
 * probe, apply and rollback scripts run for real by the local /bin/sh against
 * a scratch directory (no SSH), their output read back with
 * script_parse_probe / script_parse_apply; and both parsers on hand-written
 * output.
 *
 * The scripts chown to root:root, so this runs as root.  The file helpers
 * keep backups in /var/lib/provision/backup; the ones made here are removed
 * at the end.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "check.h"
#include "render.h"
#include "provision/buf.h"
#include "provision/common.h"
#include "provision/engine.h"
#include "provision/report.h"
#include "provision/inventory.h"
#include "provision/resource.h"
#include "provision/role.h"
#include "provision/scope.h"

#define BACKUP_DIR "/var/lib/provision/backup"

/* ---- scratch space ---------------------------------------------------- */

static char scratch[] = "/tmp/test-engine-XXXXXX";
static char *root_dir; /* {{ root }}: every managed path is below it */
static char *cwd_dir; /* the scripts run here; it must stay empty */
static char *marker; /* the hostile values would delete it ... */
static char *outside; /* ... and create this, outside the scratch dir */
static char *evil, *evil2, *evil3; /* the hostile values, as the shell must see them */
static struct inventory *inv;
static struct role_set roles;
static struct scope facts_container, facts_vm;
static const char *template_dirs[1];
static bool had_var_lib_provision, had_backup_dir;
static char *backups_before; /* names in BACKUP_DIR before the test */

/* Strings freed at the end. */
static char **kept;
static size_t n_kept, kept_alloc;

/* Paths of managed files, whose backups are removed at the end. */
static char *tracked[64];
static size_t n_tracked;

static char *keep(char *s)
{
	PV_GROW(kept, n_kept + 1, kept_alloc);
	kept[n_kept++] = s;
	return s;
}

static void die(const char *what)
{
	perror(what);
	exit(2);
}

/* A path below the scratch root. */
static const char *rpath(const char *rel)
{
	return keep(xasprintf("%s/%s", root_dir, rel));
}

/* A managed file: its backup is removed at the end. */
static const char *track(const char *path)
{
	if (n_tracked == PV_ARRAY_SIZE(tracked)) {
		fprintf(stderr, "too many tracked files\n");
		exit(2);
	}
	tracked[n_tracked++] = xstrdup(path);
	return path;
}

static void mkdirs(const char *dir)
{
	struct pv_error err = {{0}};

	if (pv_mkdir_p(dir, 0755, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		exit(2);
	}
}

static void write_file(const char *path, const char *text, int mode)
{
	char *dir = xstrdup(path);
	size_t len = strlen(text);
	FILE *f;

	*strrchr(dir, '/') = '\0';
	mkdirs(dir);
	free(dir);
	f = fopen(path, "w");
	if (!f)
		die(path);
	if (len && fwrite(text, 1, len, f) != len)
		die(path);
	if (fclose(f) != 0)
		die(path);
	if (chmod(path, (mode_t)mode) < 0)
		die(path);
}

/* The content of a file, or NULL when it cannot be read. */
static const char *read_text(const char *path)
{
	struct pv_error err = {{0}};
	char *text = NULL;
	size_t len;

	if (pv_read_file(path, &text, &len, 0, &err) < 0)
		return NULL;
	return keep(text);
}

/* Permission bits, or -1 when path does not exist. */
static int mode_of(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return -1;
	return (int)(st.st_mode & 07777);
}

static bool is_dir(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* The names in dir, sorted, separated by spaces; "(none)" when dir is missing. */
static const char *listing(const char *dir)
{
	struct dirent **ents;
	struct buf b = BUF_INIT;
	int n = scandir(dir, &ents, NULL, alphasort);

	if (n < 0)
		return keep(xstrdup("(none)"));
	for (int i = 0; i < n; i++) {
		if (strcmp(ents[i]->d_name, ".") && strcmp(ents[i]->d_name, ".."))
			buf_addf(&b, "%s%s", b.len ? " " : "", ents[i]->d_name);
		free(ents[i]);
	}
	free(ents);
	if (!b.len)
		return keep(xstrdup(""));
	return keep(buf_detach(&b, NULL));
}

/* ---- running shell ---------------------------------------------------- */

/*
 * Run /bin/sh with argv in cwd_dir, feed it in, collect its standard output
 * (standard error stays the test's).  Returns the exit status.
 */
static int run(const char *const *argv, const char *in, size_t in_len, struct buf *out)
{
	int ip[2], op[2], status, wfd;
	size_t off = 0;
	pid_t pid;

	if (pipe(ip) < 0 || pipe(op) < 0)
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		dup2(ip[0], 0);
		dup2(op[1], 1);
		close(ip[0]);
		close(ip[1]);
		close(op[0]);
		close(op[1]);
		if (chdir(cwd_dir) < 0)
			_exit(126);
		execv("/bin/sh", (char *const *)argv);
		_exit(127);
	}
	close(ip[0]);
	close(op[1]);
	wfd = ip[1];
	if (!in_len) {
		close(wfd);
		wfd = -1;
	} else {
		fcntl(wfd, F_SETFL, O_NONBLOCK);
	}
	for (;;) {
		struct pollfd p[2] = {{op[0], POLLIN, 0}, {wfd, POLLOUT, 0}};
		char chunk[4096];
		ssize_t n;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (wfd >= 0 && p[1].revents) {
			n = write(wfd, in + off, in_len - off);
			if (n > 0)
				off += (size_t)n;
			if ((n < 0 && errno != EAGAIN && errno != EINTR) || off == in_len) {
				close(wfd);
				wfd = -1;
			}
		}
		if (p[0].revents) {
			n = read(op[0], chunk, sizeof(chunk));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			buf_add(out, chunk, (size_t)n);
		}
	}
	if (wfd >= 0)
		close(wfd);
	close(op[0]);
	if (waitpid(pid, &status, 0) < 0)
		die("waitpid");
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A script on standard input, as converge sends it ("sh -s"). */
static int sh_stdin(const char *script, struct buf *out)
{
	const char *const argv[] = {"sh", "-s", NULL};

	return run(argv, script, strlen(script), out);
}

static void rm_rf(const char *path)
{
	const char *const argv[] = {"sh", "-c", "rm -rf -- \"$1\"", "sh", path, NULL};
	struct buf out = BUF_INIT;

	run(argv, NULL, 0, &out);
	buf_release(&out);
}

/* ---- plans ------------------------------------------------------------ */

static int render(struct host_plan *hp, struct diags *d, const char *server,
                  const struct scope *facts, const char *const *only, size_t n_only)
{
	struct test_renderer t = {inv, "staging", &roles, template_dirs, 1};

	return test_render(&t, hp, d, server, facts, only, n_only);
}

/* Render a server that must render cleanly (in a container). */
static void render_ok(struct host_plan *hp, const char *server)
{
	struct test_renderer t = {inv, "staging", &roles, template_dirs, 1};

	test_render_ok(&t, hp, server, &facts_container);
}

/* "would change ok ..." for the resources of hp. */
static const char *statuses(const struct host_plan *hp)
{
	struct buf b = BUF_INIT;

	for (size_t i = 0; i < hp->n_res; i++)
		buf_addf(&b, "%s%s", i ? " " : "", res_status_name(hp->res[i].status));
	return keep(buf_detach(&b, NULL));
}

/* "missing|-|..." : the probe reasons, "-" for none. */
static const char *reasons(const struct host_plan *hp)
{
	struct buf b = BUF_INIT;

	for (size_t i = 0; i < hp->n_res; i++)
		buf_addf(&b, "%s%s", i ? "|" : "", hp->res[i].reason ? hp->res[i].reason : "-");
	return keep(buf_detach(&b, NULL));
}

static const char *handler_statuses(const struct host_plan *hp)
{
	struct buf b = BUF_INIT;

	for (size_t i = 0; i < hp->n_handlers; i++)
		buf_addf(&b, "%s%s", i ? " " : "", res_status_name(hp->handlers[i].status));
	return keep(buf_detach(&b, NULL));
}

/* What a resource stages for the apply (the rendered file content). */
static const char *staged(const struct host_plan *hp, size_t i)
{
	struct stage st;
	char *s = NULL;
	char want[32];

	stage_init(&st);
	if (hp->res[i].type->stage)
		hp->res[i].type->stage(&hp->res[i], (int)i, &st);
	snprintf(want, sizeof(want), "f%zu", i);
	if (st.n == 1 && !strcmp(st.files[0].name, want))
		s = keep(xstrdup(st.files[0].data));
	stage_release(&st);
	return s;
}

static const char *explain(const struct resource *r)
{
	struct buf b = BUF_INIT;

	if (r->type->explain)
		r->type->explain(r, &b);
	return keep(buf_detach(&b, NULL));
}

/* Run the probe script; read its output into hp.  out receives the raw output. */
/* Take the clock's lines ("@@T ...") out of a script's output; returns how many. */
static int drop_ticks(struct buf *out)
{
	struct buf rest = BUF_INIT;
	const char *p = out->s;
	int n = 0;

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) + 1 : strlen(p);
		if (!strncmp(p, "@@T ", 4))
			n++;
		else
			buf_add(&rest, p, len);
		p += len;
	}
	buf_reset(out);
	buf_add(out, rest.s, rest.len);
	buf_release(&rest);
	return n;
}

static int probe(struct host_plan *hp, struct buf *out)
{
	struct buf sh = BUF_INIT;
	struct pv_error err = {{0}};
	int rc;

	script_probe(hp, &sh);
	buf_reset(out);
	CHECK(sh_stdin(sh.s, out) == 0);
	rc = script_parse_probe(hp, out->s, out->len, &err);
	if (rc < 0)
		printf("  probe: %s\n", err.msg);
	/* the host timed every probe by its own clock */
	for (size_t i = 0; rc == 0 && i < hp->n_res; i++)
		CHECK(hp->res[i].ms >= 0);
	/* one at the start, one after each resource */
	CHECK(drop_ticks(out) == (int)hp->n_res + 1);
	buf_release(&sh);
	return rc;
}

/*
 * Build the apply, pack it with stage_to_tar, and unpack and run it as
 * converge's APPLY_BODY does: tar on standard input, into a fresh directory
 * named by $PV_STAGE.  out receives the raw output.
 */
static int apply(struct host_plan *hp, struct buf *out)
{
	const char *body = "umask 077; tar -xf - -C \"$1\" || exit 112; "
	                   "PV_STAGE=\"$1\" sh \"$1/apply.sh\"";
	struct buf sh = BUF_INIT, tar = BUF_INIT;
	struct pv_error err = {{0}};
	struct stage st;
	char *dir = xasprintf("%s/stage-XXXXXX", scratch);
	int rc;

	stage_init(&st);
	script_apply(hp, &sh, &st);
	rc = stage_to_tar(&st, sh.s, &tar, &err);
	CHECK(rc == 0);
	if (rc < 0)
		printf("  stage_to_tar: %s\n", err.msg);
	if (!mkdtemp(dir))
		die(dir);
	{
		const char *const argv[] = {"sh", "-c", body, "sh", dir, NULL};

		buf_reset(out);
		run(argv, tar.s, tar.len, out);
	}
	rm_rf(dir);
	rc = script_parse_apply(hp, out->s, out->len, &err);
	if (rc < 0)
		printf("  apply: %s\n", err.msg);
	/* one tick at the start and one after each resource the script ran */
	for (size_t i = 0; rc == 0 && i < hp->n_res; i++)
		CHECK(hp->res[i].status != RES_CHANGED || hp->res[i].ms >= 0);
	CHECK(drop_ticks(out) >= 1);
	free(dir);
	buf_release(&sh);
	buf_release(&tar);
	stage_release(&st);
	return rc;
}

/* ---- the fixture: inventory, roles, templates ------------------------- */

static void role(const char *name, const char *yml)
{
	char *path = xasprintf("%s/roles/%s/role.yml", scratch, name);

	write_file(path, yml, 0644);
	free(path);
}

static const char role_prio[] = "vars:\n"
                                "  lvl_role: role\n"
                                "  lvl_inv: role\n"
                                "  lvl_layout: role\n"
                                "  lvl_server: role\n"
                                "  address: role\n"
                                "resources:\n"
                                "  - file:\n"
                                "      path: \"{{ root }}/prio/vars.txt\"\n"
                                "      template: prio.txt\n"
                                "  - file:\n"
                                "      path: \"{{ root }}/prio/shared.txt\"\n"
                                "      template: shared.txt\n";

static const char role_common[] = "ports: [22/tcp]\n"
                                  "resources:\n"
                                  "  - directory: { path: \"{{ root }}/order/common\" }\n";

static const char role_web[] = "requires: [common]\n"
                               "ports: [80/tcp, 443/tcp]\n"
                               "resources:\n"
                               "  - directory: { path: \"{{ root }}/order/web\" }\n";

static const char role_app[] = "description: the app\n"
                               "requires: [web]\n"
                               "ports: [443/tcp, \"8000:8100/tcp\"]\n"
                               "resources:\n"
                               "  - file:\n"
                               "      path: \"{{ root }}/order/ports\"\n"
                               "      content: '{{ role_ports | join \",\" }}'\n";

/* "PORT private": a rule from the private network only. */
/* the port it opens comes from the variable its service listens on */
static const char role_portvar[] = "ports: [\"{{ pv_port }}/tcp\", \"{{ pv_port }}/udp private\"]\n"
                                   "vars: { pv_port: 8080, private_network: 10.0.0.0/24 }\n"
                                   "resources:\n"
                                   "  - file:\n"
                                   "      path: \"{{ root }}/portvar/ports\"\n"
                                   "      content: '{{ role_ports | join \",\" }}'\n";

/* "PORT layout": a rule from each server of the layout */
static const char role_kv[] = "ports: [6379/tcp layout, vrrp layout]\n"
                              "resources:\n"
                              "  - file:\n"
                              "      path: \"{{ root }}/kv/ports\"\n"
                              "      content: '{{ role_ports | join \",\" }}'\n";

static const char role_db[] = "ports: [5432/tcp private, 9187/tcp, on tailscale0]\n"
                              "resources:\n"
                              "  - file:\n"
                              "      path: \"{{ root }}/db/ports\"\n"
                              "      content: '{{ role_ports | join \",\" }}'\n";

/* Line and column of every problem matter: the test checks them. */
static const char role_badkeys[] = "handlers:\n"
                                   "  restart foo:\n"
                                   "    command: { run: \"true\" }\n"
                                   "resources:\n"
                                   "  - fiel: { path: /x, content: a }\n"
                                   "  - file: { path: \"{{ root }}/bad/two\", content: a }\n"
                                   "    directory: { path: \"{{ root }}/bad/two\" }\n"
                                   "  - file: { path: \"{{ root }}/bad/n\", content: a }\n"
                                   "    notify: [restart fo]\n"
                                   "  - command: { run: \"echo hi\" }\n"
                                   "  - directory: { path: \"{{ root }}/bad/d\" }\n"
                                   "    notfy: [restart foo]\n";

static const char role_when[] = "resources:\n"
                                "  - directory: { path: \"{{ root }}/w/not-container\" }\n"
                                "    when: \"!container\"\n"
                                "  - directory: { path: \"{{ root }}/w/container\" }\n"
                                "    when: container\n"
                                "  - directory: { path: \"{{ root }}/w/undefined\" }\n"
                                "    when: \"!undefined_var\"\n"
                                "  - directory: { path: \"{{ root }}/w/always\" }\n";

static const char role_hostile[] =
    "resources:\n"
    "  - file:\n"
    "      path: \"{{ root }}/h/{{ evil }}\"\n"
    "      content: \"{{ evil }}\\n{{ evil2 }}\\n{{ evil3 }}\\n\"\n"
    "      format: verbatim\n"
    "      mode: \"0600\"\n"
    "  - directory:\n"
    "      path: \"{{ root }}/hd/{{ evil2 }}\"\n"
    "  - line:\n"
    "      path: \"{{ root }}/h-lines\"\n"
    "      line: \"{{ evil }} {{ evil2 }}\"\n"
    "  - command:\n"
    "      run: \"printf '%s|' {{ evil }} {{ evil2 }} {{ evil3 }} >{{ root }}/h-cmd.out\"\n"
    "      creates: \"{{ root }}/h-cmd.out\"\n"
    "      unless: \"test -e {{ root }}/{{ evil }}\"\n";

static const char role_real[] =
    "resources:\n"
    "  - file:\n"
    "      path: \"{{ root }}/real/etc/app.conf\"\n"
    "      content: \"hello {{ server_name }}\\nsecond line\\n\"\n"
    "      mode: \"0640\"\n"
    "  - directory:\n"
    "      path: \"{{ root }}/real/data\"\n"
    "      mode: \"0750\"\n"
    "  - line:\n"
    "      path: \"{{ root }}/real/etc/lines.txt\"\n"
    "      line: \"key=value\"\n"
    "      match: \"^key=\"\n"
    "  - command:\n"
    "      run: \"echo ran >>{{ root }}/real/cmd.log; touch {{ root }}/real/cmd.done\"\n"
    "      creates: \"{{ root }}/real/cmd.done\"\n";

static const char role_lines[] =
    "resources:\n"
    "  - line: { path: \"{{ root }}/ln/0\", line: \"key=new\", match: \"^key=\", state: present }\n"
    "  - line: { path: \"{{ root }}/ln/1\", line: \"key=new\", match: \"^key=\", state: present }\n"
    "  - line: { path: \"{{ root }}/ln/2\", line: \"key=new\", match: \"^key=\", state: present }\n"
    "  - line: { path: \"{{ root }}/ln/3\", line: \"key=new\", match: \"\", state: present }\n"
    "  - line: { path: \"{{ root }}/ln/4\", line: \"key=new\", match: \"\", state: present }\n"
    "  - line: { path: \"{{ root }}/ln/5\", line: \"key=new\", match: \"^key=\", state: present }\n"
    "  - line: { path: \"{{ root }}/ln/6\", line: \"key=new\", match: \"^key=\", state: present }\n"
    "  - line: { path: \"{{ root }}/ln/7\", line: \"key=new\", match: \"^#?key=\", state: present "
    "}\n"
    "  - line: { path: \"{{ root }}/ln/8\", line: \"key=new\", match: \"^key=\", state: present }\n"
    "  - line: { path: \"{{ root }}/ln/9\", line: \"key=new\", match: \"\", state: present }\n"
    "  - line: { path: \"{{ root }}/ln/10\", line: \"key=x\", match: \"\", state: absent }\n"
    "  - line: { path: \"{{ root }}/ln/11\", line: \"key=x\", match: \"\", state: absent }\n"
    "  - line: { path: \"{{ root }}/ln/12\", line: \"key=x\", match: \"^key=\", state: absent }\n"
    "  - line: { path: \"{{ root }}/ln/13\", line: \"key=x\", match: \"^key=\", state: absent }\n"
    "  - line: { path: \"{{ root }}/ln/14\", line: \"key=x\", match: \"\", state: absent }\n"
    "  - line: { path: \"{{ root }}/ln/15\", line: \"key=x\", match: \"\", state: absent }\n";

static const char role_reprobe[] =
    "resources:\n"
    "  - command:\n"
    "      run: \"touch {{ root }}/rp/ran; echo tampered >{{ root }}/rp/wanted\"\n"
    "      creates: \"{{ root }}/rp/ran\"\n"
    "  - file: { path: \"{{ root }}/rp/wanted\", content: \"wanted\\n\" }\n"
    "  - file: { path: \"{{ root }}/rp/gone\", state: absent }\n";

/* converge_metrics_file names where each run's result goes */
static const char role_recorded[] =
    "vars:\n"
    "  converge_metrics_file: { type: path, default: \"\", values: [\"\"] }\n"
    "resources:\n"
    "  - file: { path: \"{{ root }}/rec/f\", content: \"x\\n\" }\n"
    "  - command: { run: \"exit 1\", unless: \"test ! -e {{ root }}/rec/fail\" }\n";

static const char role_failing[] =
    "resources:\n"
    "  - file: { path: \"{{ root }}/fl/first\", content: \"first\\n\" }\n"
    "    notify: [after]\n"
    "  - command:\n"
    "      run: \"echo boom-out; echo boom-err >&2; exit 1\"\n"
    "      creates: \"{{ root }}/fl/never\"\n"
    "  - file: { path: \"{{ root }}/fl/third\", content: \"third\\n\" }\n"
    "  - directory: { path: \"{{ root }}/fl/fourth\" }\n"
    "handlers:\n"
    "  after:\n"
    "    command: { run: \"echo after >>{{ root }}/fl/after.count\" }\n";

static const char role_nonewline[] = "resources:\n"
                                     "  - command:\n"
                                     "      run: \"printf 'no newline at the end'; exit 1\"\n"
                                     "      creates: \"{{ root }}/nonl/never\"\n"
                                     "  - directory: { path: \"{{ root }}/nonl/later\" }\n";

static const char role_notifying[] =
    "resources:\n"
    "  - file: { path: \"{{ root }}/nt/a\", content: \"a\\n\" }\n"
    "    notify: [bump, never]\n"
    "  - file: { path: \"{{ root }}/nt/b\", content: \"b\\n\" }\n"
    "    notify: [bump, bad handler]\n"
    "  - file: { path: \"{{ root }}/nt/c\", content: \"c\\n\" }\n"
    "    notify: [quiet]\n"
    "handlers:\n"
    "  bump:\n"
    "    command: { run: \"echo bump >>{{ root }}/nt/bump.count\" }\n"
    "  bad handler:\n"
    "    command: { run: \"echo handler-broke; exit 3\" }\n"
    "  quiet:\n"
    "    command: { run: \"echo quiet >>{{ root }}/nt/quiet.count\" }\n"
    "  never:\n"
    "    command: { run: \"echo never >>{{ root }}/nt/never.count\" }\n"
    "    when: \"!container\"\n";

static const char role_validating[] = "resources:\n"
                                      "  - file:\n"
                                      "      path: \"{{ root }}/val/good.conf\"\n"
                                      "      content: \"good\\n\"\n"
                                      "      validate: \"grep -q good {{ root }}/val/good.conf\"\n"
                                      "  - file:\n"
                                      "      path: \"{{ root }}/val/existing.conf\"\n"
                                      "      content: \"new\\n\"\n"
                                      "      validate: \"false\"\n"
                                      "  - file:\n"
                                      "      path: \"{{ root }}/val/later.conf\"\n"
                                      "      content: \"later\\n\"\n";

static const char role_valnew[] =
    "resources:\n"
    "  - file:\n"
    "      path: \"{{ root }}/val/new.conf\"\n"
    "      content: \"brand new\\n\"\n"
    "      validate: \"echo checking; cat {{ root }}/val/new.conf; false\"\n";

static const char role_rollingback[] =
    "resources:\n"
    "  - file:\n"
    "      path: \"{{ root }}/rb/sshd.conf\"\n"
    "      content: \"new setting\\n\"\n"
    "    verify_login: true\n"
    "    notify: [reload]\n"
    "  - file:\n"
    "      path: \"{{ root }}/rb/other.conf\"\n"
    "      content: \"other\\n\"\n"
    "    notify: [reload]\n"
    "handlers:\n"
    "  reload:\n"
    "    command: { run: \"echo reload >>{{ root }}/rb/reload.count\" }\n";

static void setup(void)
{
	struct diags d;
	char *p, *text;

	if (!mkdtemp(scratch))
		die(scratch);
	root_dir = keep(xasprintf("%s/root", scratch));
	cwd_dir = keep(xasprintf("%s/cwd", scratch));
	marker = keep(xasprintf("%s/marker", scratch));
	outside = keep(xasprintf("/tmp/test-engine-outside-%ld", (long)getpid()));
	mkdirs(root_dir);
	mkdirs(cwd_dir);
	write_file(marker, "keep me\n", 0644);
	unlink(outside);
	evil = keep(xasprintf("x'; rm -rf %s; touch %s #", marker, outside));
	evil2 = keep(
	    xasprintf("$(rm -rf %s)`touch %s`\"; rm -rf %s; echo \"", marker, outside, marker));
	evil3 = keep(xasprintf("a\nrm -rf %s\ntouch %s", marker, outside));
	had_var_lib_provision = exists("/var/lib/provision");
	had_backup_dir = exists(BACKUP_DIR);
	backups_before = (char *)listing(BACKUP_DIR);

	text = xasprintf("project: enginetest\n"
	                 "ssh:\n"
	                 "  user: deploy\n"
	                 "  port: 2222\n"
	                 "vars:\n"
	                 "  root: %s\n"
	                 "  lvl_inv: inventory\n"
	                 "  lvl_layout: inventory\n"
	                 "  lvl_server: inventory\n"
	                 "  evil: \"x'; rm -rf %s; touch %s #\"\n"
	                 "  evil2: \"$(rm -rf %s)`touch %s`\\\"; rm -rf %s; echo \\\"\"\n"
	                 "  evil3: \"a\\nrm -rf %s\\ntouch %s\"\n"
	                 "layouts:\n"
	                 "  l1:\n"
	                 "    vars:\n"
	                 "      lvl_layout: layout\n"
	                 "      lvl_server: layout\n"
	                 "    servers:\n"
	                 "      prio:\n"
	                 "        roles: [prio]\n"
	                 "        vars: { lvl_server: server, address: server }\n"
	                 "      order: { roles: [app, common] }\n"
	                 "      db: { roles: [dbrole] }\n"
	                 "      kv: { roles: [kvrole] }\n"
	                 "      portdef: { roles: [portvar] }\n"
	                 "      portset: { roles: [portvar], vars: { pv_port: 9090 } }\n"
	                 "      portbad: { roles: [portvar], vars: { pv_port: \"80 or 81\" } }\n"
	                 "      cycle: { roles: [cyc-a] }\n"
	                 "      bad: { roles: [badkeys] }\n"
	                 "      when: { roles: [whenrole] }\n"
	                 "      hostile: { roles: [hostile] }\n"
	                 "      real: { roles: [real] }\n"
	                 "      reprobe: { roles: [reprobe] }\n"
	                 "      lines: { roles: [lines] }\n"
	                 "      fail: { roles: [failing] }\n"
	                 "      nonl: { roles: [nonewline] }\n"
	                 "      notify: { roles: [notifying] }\n"
	                 "      validate: { roles: [validating] }\n"
	                 "      valnew: { roles: [valnew] }\n"
	                 "      rollback: { roles: [rollingback] }\n"
	                 "      recorded:\n"
	                 "        roles: [recorded]\n"
	                 "        vars: { converge_metrics_file: %s/rec/m/run.prom }\n",
	                 root_dir, marker, outside, marker, outside, marker, marker, outside,
	                 root_dir);
	p = xasprintf("%s/inventory.yml", scratch);
	write_file(p, text, 0644);
	free(text);
	diags_init(&d);
	if (inventory_load(&inv, p, &d) < 0) {
		for (size_t i = 0; i < d.n; i++)
			fprintf(stderr, "%s\n", d.msgs[i]);
		exit(2);
	}
	diags_release(&d);
	free(p);

	role("prio", role_prio);
	p = xasprintf("%s/roles/prio/templates/prio.txt", scratch);
	write_file(p,
	           "{# format: plain #}\n"
	           "{{ lvl_role }} {{ lvl_inv }} {{ lvl_layout }} {{ lvl_server }} {{ address }}\n"
	           "{{ server_name }} {{ project }} {{ env }} {{ layout }} {{ admin_user }} "
	           "{{ ssh_port }}\n"
	           "{{ admin_public_key }}\n",
	           0644);
	free(p);
	template_dirs[0] = keep(xasprintf("%s/templates", scratch));
	p = xasprintf("%s/prio.txt", template_dirs[0]);
	write_file(p, "{# format: plain #}\nWRONG: the role's own templates come first\n", 0644);
	free(p);
	p = xasprintf("%s/shared.txt", template_dirs[0]);
	write_file(p, "{# format: plain #}\nshared {{ lvl_server }} {{ lvl_role }}\n", 0644);
	free(p);
	role("common", role_common);
	role("web", role_web);
	role("app", role_app);
	role("dbrole", role_db);
	role("kvrole", role_kv);
	role("portvar", role_portvar);
	role("badport", "ports: [5432/tcp privat]\n");
	role("cyc-a", "requires: [cyc-b]\n");
	role("cyc-b", "requires: [cyc-a]\n");
	role("badkeys", role_badkeys);
	role("whenrole", role_when);
	role("hostile", role_hostile);
	role("real", role_real);
	role("reprobe", role_reprobe);
	role("lines", role_lines);
	role("failing", role_failing);
	role("nonewline", role_nonewline);
	role("notifying", role_notifying);
	role("validating", role_validating);
	role("valnew", role_valnew);
	role("rollingback", role_rollingback);
	role("recorded", role_recorded);
	role_set_init(&roles);
	p = xasprintf("%s/roles", scratch);
	role_set_add_dir(&roles, p);
	free(p);

	scope_init(&facts_container);
	scope_set_str(&facts_container, "container", "true");
	scope_set_str(&facts_container, "address", "192.0.2.10");
	scope_set_str(&facts_container, "os_id", "debian");
	scope_init(&facts_vm);
	scope_set_str(&facts_vm, "container", "false");
	scope_set_str(&facts_vm, "address", "192.0.2.11");
}

/* ---- rendering -------------------------------------------------------- */

static void test_status_names(void)
{
	struct buf b = BUF_INIT;

	for (int st = RES_PENDING; st <= RES_SKIPPED; st++)
		buf_addf(&b, "%s ", res_status_name((enum res_status)st));
	CHECK_STR(b.s, "pending ok would change changed failed skipped ");
	buf_release(&b);
}

/* --json names each resource's status with these same words. */
static void test_status_json(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	struct reporter *r = reporter_new(REPORT_JSON, out);
	struct resource res = {.title = "file /etc/motd", .role = "base"};
	struct buf want = BUF_INIT;

	for (int st = RES_OK; st <= RES_SKIPPED; st++) {
		res.status = (enum res_status)st;
		report_resource(r, "web1", &res);
		buf_addf(&want, "%s\n", res_status_name(res.status));
	}
	reporter_free(r);
	fclose(out);
	struct buf got = BUF_INIT;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		json_t *o = json_loads(line, 0, NULL);
		buf_addf(&got, "%s\n",
		         o ? json_string_value(json_object_get(o, "status")) : "(not json)");
		json_decref(o);
	}
	CHECK_STR(got.s, want.s);
	CHECK_HAS(got.s, "would change\n");
	buf_release(&got);
	buf_release(&want);
	free(text);
}

static void test_var_priority(void)
{
	struct host_plan hp;

	render_ok(&hp, "prio");
	CHECK(hp.n_res == 2);
	if (hp.n_res == 2) {
		CHECK_STR(hp.res[0].title, keep(xasprintf("file %s", rpath("prio/vars.txt"))));
		CHECK_STR(hp.res[0].role, "prio");
		/* role < inventory < layout < server; the provider's facts last */
		CHECK_STR(staged(&hp, 0), "role inventory layout server 192.0.2.10\n"
		                          "prio enginetest staging l1 deploy 2222\n"
		                          "ssh-ed25519 AAAAtest test@key\n");
		/* a template the role does not have comes from the template dirs */
		CHECK_STR(staged(&hp, 1), "shared server role\n");
	}
	CHECK(hp.n_ports == 0);
	CHECK(hp.n_handlers == 0);
	plan_release(&hp);
	CHECK(hp.res == NULL && hp.n_res == 0);
}

static void test_requires_order_and_ports(void)
{
	struct host_plan hp;

	render_ok(&hp, "order");
	CHECK(hp.n_res == 3);
	if (hp.n_res == 3) {
		/* requires first, depth first, each role once */
		CHECK_STR(hp.res[0].role, "common");
		CHECK_STR(hp.res[1].role, "web");
		CHECK_STR(hp.res[2].role, "app");
		CHECK_STR(hp.res[0].title, keep(xasprintf("directory %s", rpath("order/common"))));
		CHECK_STR(hp.res[1].title, keep(xasprintf("directory %s", rpath("order/web"))));
		/* role_ports: the union of the ports the roles declare */
		CHECK_STR(staged(&hp, 2), "22/tcp,80/tcp,443/tcp,8000:8100/tcp");
	}
	CHECK(hp.n_ports == 4);
	if (hp.n_ports == 4) {
		CHECK_STR(hp.ports[0], "22/tcp");
		CHECK_STR(hp.ports[1], "80/tcp");
		CHECK_STR(hp.ports[2], "443/tcp");
		CHECK_STR(hp.ports[3], "8000:8100/tcp");
	}
	plan_release(&hp);
}

static void test_port_variables(void)
{
	struct host_plan hp;
	struct diags d;

	render_ok(&hp, "portdef");
	CHECK(hp.n_ports == 2 && !strcmp(hp.ports[0], "8080/tcp"));
	CHECK_STR(staged(&hp, 0), "8080/tcp,8080/udp from 10.0.0.0/24");
	plan_release(&hp);
	/* the server's value changes the firewall's port, not only the service's */
	render_ok(&hp, "portset");
	CHECK(hp.n_ports == 2 && !strcmp(hp.ports[0], "9090/tcp"));
	CHECK_STR(staged(&hp, 0), "9090/tcp,9090/udp from 10.0.0.0/24");
	plan_release(&hp);
	/* a value that is no port is an error naming the role's line */
	CHECK(render(&hp, &d, "portbad", &facts_container, NULL, 0) < 0);
	CHECK(d.n == 2);
	if (d.n >= 1)
		CHECK_HAS(d.msgs[0], "roles/portvar/role.yml:1:9: port '{{ pv_port }}/tcp' of role "
		                     "'portvar' is '80 or 81/tcp' on server 'portbad', not a port");
	diags_release(&d);
	plan_release(&hp);
}

static void test_private_ports(void)
{
	struct host_plan hp;
	struct diags d;
	struct scope f;

	/* the private network is a fact (local provider) or a variable */
	scope_init(&f);
	scope_copy(&f, &facts_container);
	scope_set_str(&f, "private_network", "10.213.7.0/24");
	CHECK(render(&hp, &d, "db", &f, NULL, 0) == 0);
	CHECK(hp.n_res == 1);
	if (hp.n_res == 1)
		CHECK_STR(staged(&hp, 0), "5432/tcp from 10.213.7.0/24,9187/tcp,on tailscale0");
	diags_release(&d);
	plan_release(&hp);
	scope_release(&f);

	/* without one the rule cannot be written: an error, never an open port */
	CHECK(render(&hp, &d, "db", &facts_container, NULL, 0) < 0);
	CHECK(d.n == 1);
	if (d.n == 1)
		/* at the server's line and column, where the variable can be set */
		CHECK_HAS(d.msgs[0], "/inventory.yml:23:7: server 'db' opens 5432/tcp to the "
		                     "private network only: set variable 'private_network' (e.g. "
		                     "10.0.0.0/24)");
	diags_release(&d);
	plan_release(&hp);

	/* "layout": one rule per server of the layout, from its address */
	{
		struct node *peers = NULL;
		struct pv_error err = {{0}};
		static const char yml[] = "[{name: a, address: 10.0.0.2}, {name: b, address: "
		                          "10.0.0.3}, {name: c, address: \"fd00::4\"}]";
		CHECK(node_load_string(&peers, "servers", yml, sizeof(yml) - 1, &err) == 0);
		scope_init(&f);
		scope_copy(&f, &facts_container);
		scope_set(&f, "servers", peers);
		CHECK(render(&hp, &d, "kv", &f, NULL, 0) == 0);
		CHECK(hp.n_res == 1);
		if (hp.n_res == 1)
			CHECK_STR(
			    staged(&hp, 0),
			    "6379/tcp from 10.0.0.2/32,6379/tcp from 10.0.0.3/32,6379/tcp from "
			    "fd00::4/128,vrrp from 10.0.0.2/32,vrrp from 10.0.0.3/32,vrrp "
			    "from fd00::4/128");
		diags_release(&d);
		plan_release(&hp);
		scope_release(&f);
		node_free(peers);
	}

	/* a misspelt qualifier is an error of the role */
	diags_init(&d);
	role_get(&roles, "badport", NULL, &d);
	CHECK(d.n == 1);
	if (d.n == 1)
		CHECK(strstr(d.msgs[0], "invalid port '5432/tcp privat'") != NULL);
	diags_release(&d);
}

static void test_only_roles(void)
{
	static const char *const only_web[] = {"web"};
	static const char *const only_two[] = {"app", "common"};
	static const char *const nope[] = {"nope"};
	struct host_plan hp;
	struct diags d;

	CHECK(render(&hp, &d, "order", &facts_container, only_web, 1) == 0);
	CHECK(d.n == 0);
	CHECK(hp.n_res == 1);
	if (hp.n_res == 1)
		CHECK_STR(hp.res[0].role, "web");
	/* the ports still come from every role of the server */
	CHECK(hp.n_ports == 4);
	plan_release(&hp);
	diags_release(&d);

	CHECK(render(&hp, &d, "order", &facts_container, only_two, 2) == 0);
	CHECK(hp.n_res == 2);
	if (hp.n_res == 2) {
		CHECK_STR(hp.res[0].role, "common");
		CHECK_STR(hp.res[1].role, "app");
	}
	plan_release(&hp);
	diags_release(&d);

	CHECK(render(&hp, &d, "order", &facts_container, nope, 1) == -1);
	CHECK(d.n == 1);
	CHECK_STR(d.n ? d.msgs[0] : NULL, "role 'nope' is not a role of server 'order'");
	plan_release(&hp);
	diags_release(&d);
}

static void test_requires_cycle(void)
{
	struct host_plan hp;
	struct diags d;

	CHECK(render(&hp, &d, "cycle", &facts_container, NULL, 0) == -1);
	CHECK(d.n == 1);
	CHECK_STR(d.n ? d.msgs[0] : NULL,
	          keep(xasprintf("%s/roles/cyc-b/role.yml:1:12: roles require each other in a "
	                         "cycle: cyc-a -> cyc-b -> cyc-a",
	                         scratch)));
	CHECK(hp.n_res == 0);
	plan_release(&hp);
	diags_release(&d);
}

static void test_bad_resources(void)
{
	const char *f = keep(xasprintf("%s/roles/badkeys/role.yml", scratch));
	struct host_plan hp;
	struct diags d;

	CHECK(render(&hp, &d, "bad", &facts_container, NULL, 0) == -1);
	CHECK(d.n == 5);
	for (size_t i = 0; d.n != 5 && i < d.n; i++)
		printf("  diag: %s\n", d.msgs[i]);
	CHECK_STR(d.n > 0 ? d.msgs[0] : NULL,
	          keep(xasprintf("%s:5:5: unknown key 'fiel' in resource of role 'badkeys' (did "
	                         "you mean 'file'?)",
	                         f)));
	CHECK_STR(d.n > 1 ? d.msgs[1] : NULL,
	          keep(xasprintf("%s:7:5: resource of role 'badkeys' has two types ('file' and "
	                         "'directory'); write one resource each",
	                         f)));
	CHECK_STR(d.n > 2 ? d.msgs[2] : NULL,
	          keep(xasprintf("%s:9:13: file %s notifies unknown handler 'restart fo' (did "
	                         "you mean 'restart foo'?)",
	                         f, rpath("bad/n"))));
	CHECK_STR(d.n > 3 ? d.msgs[3] : NULL,
	          keep(xasprintf("%s:10:5: command echo hi in role 'badkeys' needs 'creates' or "
	                         "'unless', so that a second run changes nothing (or make it a "
	                         "handler)",
	                         f)));
	CHECK_STR(d.n > 4 ? d.msgs[4] : NULL,
	          keep(xasprintf("%s:12:5: unknown key 'notfy' in resource of role 'badkeys' "
	                         "(did you mean 'notify'?)",
	                         f)));
	plan_release(&hp);
	diags_release(&d);
}

static void test_when(void)
{
	struct host_plan hp;
	struct diags d;

	/* in a container: "!container" is skipped, an undefined name is false */
	render_ok(&hp, "when");
	CHECK(hp.n_res == 3);
	if (hp.n_res == 3) {
		CHECK_STR(hp.res[0].title, keep(xasprintf("directory %s", rpath("w/container"))));
		CHECK_STR(hp.res[1].title, keep(xasprintf("directory %s", rpath("w/undefined"))));
		CHECK_STR(hp.res[2].title, keep(xasprintf("directory %s", rpath("w/always"))));
	}
	plan_release(&hp);

	CHECK(render(&hp, &d, "when", &facts_vm, NULL, 0) == 0);
	CHECK(hp.n_res == 3);
	if (hp.n_res == 3) {
		CHECK_STR(hp.res[0].title,
		          keep(xasprintf("directory %s", rpath("w/not-container"))));
		CHECK_STR(hp.res[1].title, keep(xasprintf("directory %s", rpath("w/undefined"))));
		CHECK_STR(hp.res[2].title, keep(xasprintf("directory %s", rpath("w/always"))));
	}
	plan_release(&hp);
	diags_release(&d);
}

/* ---- the scripts, run for real ---------------------------------------- */

static void test_stage_tar(void)
{
	const char *const argv_tpl[] = {"sh",
	                                "-c",
	                                "tar -xf - -C \"$1\" && cd \"$1\" && ls && "
	                                "PV_STAGE=\"$1\" sh apply.sh",
	                                "sh",
	                                NULL,
	                                NULL};
	const char *argv[6];
	struct buf tar = BUF_INIT, out = BUF_INIT;
	struct pv_error err = {{0}};
	struct stage st;
	char *dir = xasprintf("%s/tar-XXXXXX", scratch);

	stage_init(&st);
	stage_add(&st, "f0", "zero\n", 5, false);
	stage_add(&st, "f1", "secret\n", 7, true);
	stage_add(&st, "empty", "", 0, false);
	CHECK(st.n == 3);
	CHECK(stage_to_tar(&st, "echo from-apply \"$PV_STAGE\"\n", &tar, &err) == 0);
	CHECK(tar.len > 0 && tar.len % 512 == 0);
	if (!mkdtemp(dir))
		die(dir);
	memcpy(argv, argv_tpl, sizeof(argv));
	argv[4] = dir;
	CHECK(run(argv, tar.s, tar.len, &out) == 0);
	CHECK_STR(out.s, keep(xasprintf("apply.sh\nempty\nf0\nf1\nfrom-apply %s\n", dir)));
	CHECK_STR(read_text(keep(xasprintf("%s/f0", dir))), "zero\n");
	CHECK_STR(read_text(keep(xasprintf("%s/f1", dir))), "secret\n");
	CHECK_STR(read_text(keep(xasprintf("%s/empty", dir))), "");
	CHECK(mode_of(keep(xasprintf("%s/f0", dir))) == 0600);
	CHECK(mode_of(keep(xasprintf("%s/apply.sh", dir))) == 0700);
	rm_rf(dir);
	free(dir);
	stage_release(&st);
	CHECK(st.n == 0 && st.files == NULL);

	/* names that would leave the stage directory */
	stage_add(&st, "../up", "x", 1, false);
	CHECK(stage_to_tar(&st, "true\n", &tar, &err) == -1);
	CHECK_STR(err.msg, "invalid staged file name '../up'");
	stage_release(&st);
	stage_add(&st, "/abs", "x", 1, false);
	CHECK(stage_to_tar(&st, "true\n", &tar, &err) == -1);
	CHECK_STR(err.msg, "invalid staged file name '/abs'");
	stage_release(&st);
	stage_add(&st, "", "x", 1, false);
	CHECK(stage_to_tar(&st, "true\n", &tar, &err) == -1);
	CHECK_STR(err.msg, "invalid staged file name ''");
	stage_release(&st);
	buf_release(&tar);
	buf_release(&out);
}

static void test_real_converge(void)
{
	const char *conf = track(rpath("real/etc/app.conf"));
	const char *lines = rpath("real/etc/lines.txt");
	const char *data = rpath("real/data");
	const char *want = "hello real\nsecond line\n";
	struct buf out = BUF_INIT, sh = BUF_INIT;
	struct host_plan hp;

	render_ok(&hp, "real");
	CHECK(hp.n_res == 4);
	if (hp.n_res != 4) {
		plan_release(&hp);
		return;
	}
	CHECK_STR(hp.res[0].title, keep(xasprintf("file %s", conf)));
	CHECK_STR(hp.res[1].title, keep(xasprintf("directory %s", data)));
	CHECK_STR(hp.res[2].title, keep(xasprintf("line %s", lines)));
	/* a command's title is the command as written (rendered values may be secret) */
	CHECK_STR(hp.res[3].title,
	          "command echo ran >>{{ root }}/real/cmd.log; touch {{ root }}/real...");
	CHECK_STR(staged(&hp, 0), want);

	script_probe(&hp, &sh);
	CHECK(!strncmp(sh.s, "set +e\n", 7));
	CHECK(sh.len > 9 && !strcmp(sh.s + sh.len - 9, "echo @@Z\n"));
	buf_release(&sh);

	/* 1: nothing is there */
	CHECK(probe(&hp, &out) == 0);
	CHECK_STR(statuses(&hp), "would change would change would change would change");
	CHECK_STR(reasons(&hp), "missing|missing|file missing|creates path missing");
	CHECK(!hp.res[0].has_current);
	CHECK_STR(explain(&hp.res[0]),
	          keep(xasprintf("--- %s (on host)\n+++ %s (wanted)\n@@ -0,0 +1,2 @@\n"
	                         "+hello real\n+second line\n",
	                         conf, conf)));

	/* 2: apply makes it so */
	CHECK(apply(&hp, &out) == 0);
	CHECK_STR(out.s, "@@A 0 changed\n@@A 1 changed\n@@A 2 changed\n@@A 3 changed\n@@Z\n");
	CHECK_STR(statuses(&hp), "changed changed changed changed");
	CHECK_STR(read_text(conf), want);
	CHECK(mode_of(conf) == 0640);
	CHECK(is_dir(data));
	CHECK(mode_of(data) == 0750);
	CHECK_STR(read_text(lines), "key=value\n");
	CHECK(mode_of(lines) == 0644);
	CHECK_STR(read_text(rpath("real/cmd.log")), "ran\n");
	CHECK(exists(rpath("real/cmd.done")));
	/* no temporary files left next to the managed ones */
	CHECK_STR(listing(rpath("real/etc")), "app.conf lines.txt");
	CHECK_STR(listing(rpath("real")), "cmd.done cmd.log data etc");
	/* the file it replaced did not exist: the backup says so */
	{
		char sha[65];

		pv_sha256_hex(conf, strlen(conf), sha);
		CHECK(exists(keep(xasprintf(BACKUP_DIR "/%s.absent", sha))));
		CHECK(!exists(keep(xasprintf(BACKUP_DIR "/%s", sha))));
	}

	/* 3: idempotent: a second probe finds everything in order */
	CHECK(probe(&hp, &out) == 0);
	CHECK_STR(statuses(&hp), "ok ok ok ok");
	CHECK_STR(reasons(&hp), "-|-|-|-");
	CHECK_STR(out.s, "@@P 0 ok\n@@P 1 ok\n@@P 2 ok\n@@P 3 ok\n@@Z\n");
	/* and an apply with nothing to do does nothing */
	CHECK(apply(&hp, &out) == 0);
	CHECK_STR(out.s, "@@Z\n");
	CHECK_STR(statuses(&hp), "ok ok ok ok");
	CHECK_STR(read_text(rpath("real/cmd.log")), "ran\n");

	/* 4: a file edited by hand: only it differs, with its content sent */
	write_file(conf, "changed by hand\nsecond line\n", 0640);
	CHECK(probe(&hp, &out) == 0);
	CHECK_STR(statuses(&hp), "would change ok ok ok");
	CHECK_STR(reasons(&hp), "content differs|-|-|-");
	CHECK(hp.res[0].has_current);
	CHECK_STR(hp.res[0].current.s, "changed by hand\nsecond line\n");
	CHECK(hp.res[0].current.len == 28);
	CHECK_STR(explain(&hp.res[0]),
	          keep(xasprintf("--- %s (on host)\n+++ %s (wanted)\n@@ -1,2 +1,2 @@\n"
	                         "-changed by hand\n+hello real\n second line\n",
	                         conf, conf)));

	/* 5: too large to send: the explanation says so (no stale payload) */
	{
		size_t n = (1 << 20) + 10;
		char *big = xmalloc(n + 1);

		memset(big, 'x', n);
		big[n - 1] = '\n';
		big[n] = '\0';
		write_file(conf, big, 0640);
		free(big);
	}
	CHECK(probe(&hp, &out) == 0);
	CHECK_STR(statuses(&hp), "would change ok ok ok");
	CHECK_STR(reasons(&hp), "content differs|-|-|-");
	CHECK(!strstr(out.s, "@@B"));
	CHECK(!hp.res[0].has_current);
	CHECK_STR(explain(&hp.res[0]), "(current content not shown: larger than 1 MiB)\n");

	/* 6: apply puts back only that file; the others are probed again in the
	 * script, found in order and left alone (the command does not run again) */
	CHECK(apply(&hp, &out) == 0);
	CHECK_STR(out.s, "@@A 0 changed\n@@Z\n");
	CHECK_STR(statuses(&hp), "changed ok ok ok");
	CHECK_STR(read_text(conf), want);
	CHECK(mode_of(conf) == 0640);
	CHECK_STR(read_text(rpath("real/cmd.log")), "ran\n");
	CHECK(probe(&hp, &out) == 0);
	CHECK_STR(statuses(&hp), "ok ok ok ok");
	CHECK(!hp.res[0].has_current);

	/* 7: modes and a line drift */
	CHECK(chmod(conf, 0600) == 0);
	CHECK(chmod(data, 0700) == 0);
	write_file(lines, "# header\nkey=other\ntail\n", 0644);
	CHECK(probe(&hp, &out) == 0);
	CHECK_STR(statuses(&hp), "would change would change would change ok");
	CHECK_STR(reasons(&hp), "mode 600 != 640|mode 700 != 750|line differs|-");
	CHECK(!hp.res[0].has_current);
	CHECK_STR(explain(&hp.res[0]), ""); /* the content is right: no diff */
	CHECK(apply(&hp, &out) == 0);
	CHECK_STR(out.s, "@@A 0 changed\n@@A 1 changed\n@@A 2 changed\n@@Z\n");
	CHECK_STR(statuses(&hp), "changed changed changed ok");
	CHECK(mode_of(conf) == 0640);
	CHECK(mode_of(data) == 0750);
	CHECK_STR(read_text(lines), "# header\nkey=value\ntail\n");
	CHECK_STR(read_text(conf), want);
	CHECK(probe(&hp, &out) == 0);
	CHECK_STR(statuses(&hp), "ok ok ok ok");
	CHECK_STR(listing(rpath("real/etc")), "app.conf lines.txt");
	CHECK_STR(listing(cwd_dir), "");

	/* each tick closes the resource it names: the time since the tick before */
	struct pv_error err = {{0}};
	static const char ticks[] = "@@T - 100.00\n@@A 0 changed\n@@T 0 101.25\n@@T 1 101.30\n"
	                            "@@T x 102.00\n@@T 2 103.00\n@@T 3 102.50\n@@T 9 104.00\n@@Z\n";
	hp.res[0].ms = -1;
	hp.res[1].ms = 7;
	hp.res[2].ms = -1;
	hp.res[3].ms = -1;
	CHECK(script_parse_apply(&hp, ticks, strlen(ticks), &err) == 0);
	CHECK(hp.res[0].ms == 1250);
	CHECK(hp.res[1].ms == 57); /* added to its probe's */
	CHECK(hp.res[2].ms == 1000); /* an unknown name is a tick all the same */
	CHECK(hp.res[3].ms == -1); /* a clock that went back times nothing */

	plan_release(&hp);
	buf_release(&out);
}

/* A resource the probe found in order is applied when an earlier change broke it. */
/*
 * The run's result for the node exporter: written by the probe of 'up'
 * (keeping the last apply's success) and by the apply; not by a check run
 * nor when the directory is missing.
 */
static void test_run_record(void)
{
	const char *file = rpath("rec/m/run.prom");
	struct buf out = BUF_INIT;

	track(rpath("rec/f"));
	struct host_plan hp;
	const char *t;

	render_ok(&hp, "recorded");
	CHECK(probe(&hp, &out) == 0);
	CHECK(!exists(file)); /* record_run off: a check run */
	hp.record_run = true;
	CHECK(probe(&hp, &out) == 0);
	CHECK(!exists(file)); /* no directory: no node exporter here */
	mkdirs(rpath("rec/m"));
	CHECK(probe(&hp, &out) == 0);
	t = read_text(file);
	CHECK_HAS(t, "\nprovision_converge_success 1\n");
	CHECK_HAS(t, "\nprovision_converge_changed 0\n");
	CHECK_HAS(t, "# TYPE provision_converge_timestamp_seconds gauge\n"
	             "provision_converge_timestamp_seconds 1");
	CHECK(apply(&hp, &out) == 0);
	t = read_text(file);
	CHECK_HAS(t, "\nprovision_converge_success 1\n");
	CHECK_HAS(t, "\nprovision_converge_changed 1\n");
	plan_release(&hp);

	/* a failed apply says so, and a later run with nothing to change keeps it */
	write_file(rpath("rec/fail"), "", 0644);
	render_ok(&hp, "recorded");
	hp.record_run = true;
	CHECK(probe(&hp, &out) == 0);
	CHECK(apply(&hp, &out) == 0);
	CHECK_HAS(read_text(file), "\nprovision_converge_success 0\n");
	CHECK(probe(&hp, &out) == 0);
	CHECK_HAS(read_text(file), "\nprovision_converge_success 0\n");
	CHECK(!exists(keep(xasprintf("%s.tmp", file))));
	plan_release(&hp);
	buf_release(&out);
}

/*
 * A line resource's probe decides in one process what its apply would do:
 * for each case, the probe says "would change" exactly when the apply then
 * changes the file's bytes, and a second probe finds nothing to do.  A
 * file whose last line lacks its newline but holds the line is left as it
 * is.
 */
static const char *const lines_before[] = {"a\nkey=old\nb\n",
                                           "a\nkey=new\nb\n",
                                           "a\nb\n",
                                           "a\nkey=new\n",
                                           "a\n",
                                           "key=new\nkey=old\n",
                                           "key=old\nkey=new\n",
                                           "#key=new\n",
                                           "",
                                           NULL,
                                           "a\nkey=x\n",
                                           "a\n",
                                           "key=1\nb\n",
                                           "b\n",
                                           "b\nkey=x b\n",
                                           NULL};
static const bool lines_change[] = {true, false, true, false, true, false, true,  true,
                                    true, true,  true, false, true, false, false, false};

static void test_line_probe_agrees(void)
{
	struct host_plan hp;
	struct buf out = BUF_INIT;
	const size_t n = PV_ARRAY_SIZE(lines_before);
	const char *before[PV_ARRAY_SIZE(lines_before)];

	mkdirs(rpath("ln"));
	for (size_t i = 0; i < n; i++) {
		const char *p = track(keep(xasprintf("%s/ln/%zu", root_dir, i)));
		unlink(p);
		if (lines_before[i])
			write_file(p, lines_before[i], 0644);
	}
	render_ok(&hp, "lines");
	CHECK(hp.n_res == n);
	CHECK(probe(&hp, &out) == 0);
	for (size_t i = 0; i < n && i < hp.n_res; i++) {
		bool says = hp.res[i].status == RES_CHANGE;
		if (says != lines_change[i])
			printf("  case %zu: the probe says %s\n", i,
			       res_status_name(hp.res[i].status));
		CHECK(says == lines_change[i]);
		before[i] = lines_before[i] ? lines_before[i] : "(none)";
	}
	CHECK(apply(&hp, &out) == 0);
	for (size_t i = 0; i < n && i < hp.n_res; i++) {
		const char *p = keep(xasprintf("%s/ln/%zu", root_dir, i));
		const char *now = exists(p) ? read_text(p) : "(none)";
		bool changed = strcmp(now, before[i]) != 0;
		if (changed != lines_change[i])
			printf("  case %zu: the apply %s the file\n", i,
			       changed ? "changed" : "left");
		CHECK(changed == lines_change[i]);
	}
	plan_release(&hp);
	render_ok(&hp, "lines");
	CHECK(probe(&hp, &out) == 0);
	for (size_t i = 0; i < hp.n_res; i++)
		CHECK(hp.res[i].status == RES_OK);
	plan_release(&hp);

	/* the line is there, the last newline is not: nothing to do */
	write_file(rpath("ln/3"), "a\nkey=new", 0644);
	render_ok(&hp, "lines");
	CHECK(probe(&hp, &out) == 0);
	CHECK(hp.n_res > 3 && hp.res[3].status == RES_OK);
	plan_release(&hp);
	buf_release(&out);
}

static void test_reprobe_in_apply(void)
{
	const char *wanted = track(rpath("rp/wanted"));
	const char *gone = track(rpath("rp/gone"));
	struct buf out = BUF_INIT;
	struct host_plan hp;

	write_file(wanted, "wanted\n", 0644);
	write_file(gone, "x\n", 0644);
	render_ok(&hp, "reprobe");
	CHECK(hp.n_res == 3);
	if (hp.n_res != 3) {
		plan_release(&hp);
		return;
	}
	CHECK(probe(&hp, &out) == 0);
	CHECK_STR(statuses(&hp), "would change ok would change");
	CHECK_STR(reasons(&hp), "creates path missing|-|present");
	CHECK(apply(&hp, &out) == 0);
	CHECK_STR(out.s, "@@A 0 changed\n@@A 1 changed\n@@A 2 changed\n@@Z\n");
	CHECK_STR(statuses(&hp), "changed changed changed");
	CHECK_STR(read_text(wanted), "wanted\n");
	CHECK(!exists(gone));
	CHECK(exists(rpath("rp/ran")));
	CHECK(probe(&hp, &out) == 0);
	CHECK_STR(statuses(&hp), "ok ok ok");
	plan_release(&hp);
	buf_release(&out);
}

static void test_hostile_values(void)
{
	const char *hfile = track(keep(xasprintf("%s/h/%s", root_dir, evil)));
	const char *hdir = keep(xasprintf("%s/hd/%s", root_dir, evil2));
	struct buf out = BUF_INIT;
	struct host_plan hp;

	render_ok(&hp, "hostile");
	CHECK(hp.n_res == 4);
	if (hp.n_res != 4) {
		plan_release(&hp);
		return;
	}
	CHECK_STR(hp.res[0].title, keep(xasprintf("file %s", hfile)));
	CHECK_STR(hp.res[1].title, keep(xasprintf("directory %s", hdir)));

	CHECK(probe(&hp, &out) == 0);
	CHECK_STR(statuses(&hp), "would change would change would change would change");
	CHECK_STR(reasons(&hp),
	          "missing|missing|file missing|creates path missing and unless check failed");
	CHECK(exists(marker));
	CHECK(!exists(outside));

	CHECK(apply(&hp, &out) == 0);
	CHECK_STR(out.s, "@@A 0 changed\n@@A 1 changed\n@@A 2 changed\n@@A 3 changed\n@@Z\n");
	CHECK_STR(statuses(&hp), "changed changed changed changed");
	/* every value arrived as one word, byte for byte */
	CHECK_STR(read_text(hfile), keep(xasprintf("%s\n%s\n%s\n", evil, evil2, evil3)));
	CHECK(mode_of(hfile) == 0600);
	CHECK(is_dir(hdir));
	CHECK_STR(read_text(rpath("h-lines")), keep(xasprintf("%s %s\n", evil, evil2)));
	CHECK_STR(read_text(rpath("h-cmd.out")), keep(xasprintf("%s|%s|%s|", evil, evil2, evil3)));

	CHECK(probe(&hp, &out) == 0);
	CHECK_STR(statuses(&hp), "ok ok ok ok");

	/* nothing outside the scratch dir, nothing where the scripts ran */
	CHECK(exists(marker));
	CHECK_STR(read_text(marker), "keep me\n");
	CHECK(!exists(outside));
	CHECK_STR(listing(cwd_dir), "");
	/* (runs after the real and reprobe tests, before the others) */
	CHECK_STR(listing(root_dir), "h h-cmd.out h-lines hd real rp");
	plan_release(&hp);
	buf_release(&out);
}

static void test_failure_skips_the_rest(void)
{
	struct buf out = BUF_INIT;
	struct host_plan hp;

	track(rpath("fl/first"));
	track(rpath("fl/third"));

	render_ok(&hp, "fail");
	CHECK(hp.n_res == 4 && hp.n_handlers == 1);
	if (hp.n_res != 4 || hp.n_handlers != 1) {
		plan_release(&hp);
		return;
	}
	CHECK(probe(&hp, &out) == 0);
	CHECK_STR(statuses(&hp), "would change would change would change would change");
	CHECK(apply(&hp, &out) == 0);
	CHECK_STR(out.s, "@@A 0 changed\n@@A 1 failed\n@@L 1 boom-out\n@@L 1 boom-err\n"
	                 "@@H 0 ok\n@@Z\n");
	CHECK_STR(statuses(&hp), "changed failed skipped skipped");
	CHECK_STR(hp.res[1].output, "boom-out\nboom-err\n");
	CHECK(hp.res[0].output == NULL);
	CHECK(hp.res[2].output == NULL);
	/* the handler of the resource that did change still runs */
	CHECK_STR(handler_statuses(&hp), "changed");
	CHECK_STR(read_text(rpath("fl/after.count")), "after\n");
	CHECK_STR(read_text(rpath("fl/first")), "first\n");
	CHECK(!exists(rpath("fl/third")));
	CHECK(!exists(rpath("fl/fourth")));
	plan_release(&hp);
	buf_release(&out);
}

/* Output without a final newline must not swallow the next protocol line. */
static void test_failure_output_without_newline(void)
{
	struct buf out = BUF_INIT;
	struct host_plan hp;

	render_ok(&hp, "nonl");
	CHECK(hp.n_res == 2);
	if (hp.n_res != 2) {
		plan_release(&hp);
		return;
	}
	CHECK(probe(&hp, &out) == 0);
	CHECK_STR(statuses(&hp), "would change would change");
	CHECK(apply(&hp, &out) == 0);
	CHECK_STR(statuses(&hp), "failed skipped");
	CHECK_STR(hp.res[0].output, "no newline at the end\n");
	CHECK(!exists(rpath("nonl/later")));
	plan_release(&hp);
	buf_release(&out);
}

static void test_handlers_once(void)
{
	const char *a = track(rpath("nt/a"));
	const char *b = track(rpath("nt/b"));
	const char *c = track(rpath("nt/c"));
	struct buf out = BUF_INIT;
	struct host_plan hp;

	write_file(c, "c\n", 0644); /* in order already: its handler stays quiet */
	render_ok(&hp, "notify");
	CHECK(hp.n_res == 3 && hp.n_handlers == 4);
	if (hp.n_res != 3 || hp.n_handlers != 4) {
		plan_release(&hp);
		return;
	}
	CHECK_STR(hp.handlers[0].name, "bump");
	CHECK_STR(hp.handlers[0].res.title, "handler bump");
	CHECK_STR(hp.handlers[1].name, "bad handler");
	CHECK(hp.handlers[3].res.type == NULL); /* 'when' is false here */
	CHECK(hp.res[0].n_notify == 2 && hp.res[1].n_notify == 2 && hp.res[2].n_notify == 1);

	CHECK(probe(&hp, &out) == 0);
	CHECK_STR(statuses(&hp), "would change would change ok");
	CHECK(apply(&hp, &out) == 0);
	CHECK_STR(out.s, "@@A 0 changed\n@@A 1 changed\n@@H 0 ok\n@@H 1 failed\n"
	                 "@@L h1 handler-broke\n@@Z\n");
	CHECK_STR(statuses(&hp), "changed changed ok");
	CHECK_STR(handler_statuses(&hp), "changed failed pending pending");
	CHECK_STR(hp.handlers[1].res.output, "handler-broke\n");
	/* notified by two resources, run once */
	CHECK_STR(read_text(rpath("nt/bump.count")), "bump\n");
	CHECK(!exists(rpath("nt/quiet.count")));
	CHECK(!exists(rpath("nt/never.count")));
	CHECK_STR(read_text(a), "a\n");
	CHECK_STR(read_text(b), "b\n");

	/* nothing changes, nothing runs */
	CHECK(probe(&hp, &out) == 0);
	CHECK_STR(statuses(&hp), "ok ok ok");
	CHECK(apply(&hp, &out) == 0);
	CHECK_STR(out.s, "@@Z\n");
	CHECK_STR(handler_statuses(&hp), "pending pending pending pending");
	CHECK_STR(read_text(rpath("nt/bump.count")), "bump\n");
	plan_release(&hp);
	buf_release(&out);
}

static void test_validate_restores(void)
{
	const char *good = track(rpath("val/good.conf"));
	const char *existing = track(rpath("val/existing.conf"));
	const char *later = track(rpath("val/later.conf"));
	const char *fresh = track(rpath("val/new.conf"));
	struct buf out = BUF_INIT;
	struct host_plan hp;

	write_file(existing, "old\n", 0600);
	render_ok(&hp, "validate");
	CHECK(hp.n_res == 3);
	if (hp.n_res != 3) {
		plan_release(&hp);
		return;
	}
	CHECK(probe(&hp, &out) == 0);
	CHECK_STR(statuses(&hp), "would change would change would change");
	CHECK_STR(reasons(&hp), "missing|content differs, mode 600 != 644|missing");
	CHECK(apply(&hp, &out) == 0);
	CHECK_STR(statuses(&hp), "changed failed skipped");
	CHECK_STR(hp.res[1].output, "validation failed: the previous file is back in place\n");
	CHECK_STR(read_text(good), "good\n"); /* its validator saw it in place */
	CHECK_STR(read_text(existing), "old\n");
	CHECK(mode_of(existing) == 0600);
	CHECK(!exists(later));
	CHECK_STR(listing(rpath("val")), "existing.conf good.conf");
	plan_release(&hp);

	/* a new file that fails validation is removed again */
	render_ok(&hp, "valnew");
	CHECK(hp.n_res == 1);
	if (hp.n_res == 1) {
		CHECK(probe(&hp, &out) == 0);
		CHECK_STR(statuses(&hp), "would change");
		CHECK(apply(&hp, &out) == 0);
		CHECK_STR(statuses(&hp), "failed");
		CHECK_STR(hp.res[0].output,
		          "checking\nbrand new\nvalidation failed: the previous file is back in "
		          "place\n");
		CHECK(!exists(fresh));
		CHECK_STR(listing(rpath("val")), "existing.conf good.conf");
	}
	plan_release(&hp);
	buf_release(&out);
}

static void test_rollback(void)
{
	const char *sshd = track(rpath("rb/sshd.conf"));
	const char *other = track(rpath("rb/other.conf"));
	struct buf out = BUF_INIT, sh = BUF_INIT;
	struct host_plan hp;
	char sha[65];

	write_file(sshd, "old setting\n", 0644);
	render_ok(&hp, "rollback");
	CHECK(hp.n_res == 2 && hp.n_handlers == 1);
	if (hp.n_res != 2 || hp.n_handlers != 1) {
		plan_release(&hp);
		return;
	}
	CHECK(hp.res[0].verify_login);
	CHECK(!hp.res[1].verify_login);
	CHECK(probe(&hp, &out) == 0);
	CHECK_STR(statuses(&hp), "would change would change");
	CHECK(apply(&hp, &out) == 0);
	CHECK_STR(out.s, "@@A 0 changed\n@@A 1 changed\n@@H 0 ok\n@@Z\n");
	CHECK_STR(read_text(sshd), "new setting\n");
	CHECK_STR(read_text(rpath("rb/reload.count")), "reload\n");
	/* the replaced file is kept, by the sha256 of its path */
	pv_sha256_hex(sshd, strlen(sshd), sha);
	CHECK_STR(read_text(keep(xasprintf(BACKUP_DIR "/%s", sha))), "old setting\n");

	/* only the verify_login resource goes back, then its handlers run again */
	script_rollback(&hp, &sh);
	CHECK_HAS(sh.s, keep(xasprintf("pv_restore %s\n", sshd)));
	CHECK(!strstr(sh.s, keep(xasprintf("pv_restore %s\n", other))));
	buf_reset(&out);
	CHECK(sh_stdin(sh.s, &out) == 0);
	CHECK_STR(out.s, "@@Z\n");
	CHECK_STR(read_text(sshd), "old setting\n");
	CHECK_STR(read_text(other), "other\n");
	CHECK_STR(read_text(rpath("rb/reload.count")), "reload\nreload\n");
	CHECK_STR(listing(rpath("rb")), "other.conf reload.count sshd.conf");
	plan_release(&hp);
	buf_release(&sh);
	buf_release(&out);
}

/* ---- parsing hand-written output -------------------------------------- */

static void test_parse_probe(void)
{
	const char *conf = rpath("real/etc/app.conf");
	const char *lines = rpath("real/etc/lines.txt");
	struct pv_error err = {{0}};
	struct host_plan hp;
	const char *o;

	render_ok(&hp, "real");
	CHECK(hp.n_res == 4);
	if (hp.n_res != 4) {
		plan_release(&hp);
		return;
	}
	/* noise, a payload over two lines, a change without reason, an index out of range */
	o = "motd banner\n"
	    "@@P 0 change content differs\n@@B 0\naGVsbG8g\nd29ybGQK\n@@E 0\n"
	    "@@P 1 ok\n@@P 2 change\n@@P 3 change creates path missing\n@@P 9 ok\n@@Z\n";
	CHECK(script_parse_probe(&hp, o, strlen(o), &err) == 0);
	CHECK_STR(statuses(&hp), "would change ok would change would change");
	CHECK_STR(reasons(&hp), "content differs|-|differs|creates path missing");
	CHECK(hp.res[0].has_current);
	CHECK_STR(hp.res[0].current.s, "hello world\n");
	CHECK(!hp.res[1].has_current && !hp.res[2].has_current);

	/* a second answer replaces the first, payload included */
	o = "@@P 0 ok\n@@P 1 ok\n@@P 2 ok\n@@P 3 ok\n@@Z";
	CHECK(script_parse_probe(&hp, o, strlen(o), &err) == 0);
	CHECK_STR(statuses(&hp), "ok ok ok ok");
	CHECK_STR(reasons(&hp), "-|-|-|-");
	CHECK(!hp.res[0].has_current);
	CHECK(hp.res[0].current.len == 0);

	/* binary payload */
	o = "@@P 0 change content differs\n@@B 0\nAP8KAA==\n@@E 0\n"
	    "@@P 1 ok\n@@P 2 ok\n@@P 3 ok\n@@Z\n";
	CHECK(script_parse_probe(&hp, o, strlen(o), &err) == 0);
	CHECK(hp.res[0].has_current);
	CHECK(hp.res[0].current.len == 4 && !memcmp(hp.res[0].current.s, "\0\xff\n\0", 4));

	/* no @@Z: the script did not finish */
	o = "@@P 0 ok\n@@P 1 ok\n@@P 2 ok\n@@P 3 ok\n";
	CHECK(script_parse_probe(&hp, o, strlen(o), &err) == -1);
	CHECK_STR(err.msg, "the probe script stopped before its end");
	/* @@Z inside an unfinished payload is payload */
	o = "@@P 0 change content differs\n@@B 0\naGVsbG8K\n@@Z\n";
	CHECK(script_parse_probe(&hp, o, strlen(o), &err) == -1);
	CHECK_STR(err.msg, "the probe script stopped before its end");
	/* a resource without an answer is named */
	o = "@@P 0 ok\n@@P 1 ok\n@@P 3 ok\n@@Z\n";
	memset(&err, 0, sizeof(err));
	CHECK(script_parse_probe(&hp, o, strlen(o), &err) == -1);
	CHECK_STR(err.msg, keep(xasprintf("the probe gave no answer for 'line %s'", lines)));
	CHECK(hp.res[2].status == RES_PENDING);
	/* an unknown answer is no answer */
	o = "@@P 0 okay\n@@P 1 ok\n@@P 2 ok\n@@P 3 ok\n@@Z\n";
	CHECK(script_parse_probe(&hp, o, strlen(o), &err) == -1);
	CHECK_STR(err.msg, keep(xasprintf("the probe gave no answer for 'file %s'", conf)));
	/* invalid base64 */
	o = "@@P 0 change content differs\n@@B 0\nnot*base64\n@@E 0\n"
	    "@@P 1 ok\n@@P 2 ok\n@@P 3 ok\n@@Z\n";
	CHECK(script_parse_probe(&hp, o, strlen(o), &err) == -1);
	CHECK_STR(err.msg, keep(xasprintf("the probe sent invalid content for 'file %s'", conf)));
	plan_release(&hp);
}

static void test_parse_apply(void)
{
	struct pv_error err = {{0}};
	struct host_plan hp;
	const char *o;

	render_ok(&hp, "real");
	CHECK(hp.n_res == 4);
	if (hp.n_res != 4) {
		plan_release(&hp);
		return;
	}
	for (size_t i = 0; i < hp.n_res; i++)
		hp.res[i].status = RES_CHANGE;
	o = "@@A 0 changed\n@@A 1 failed\n@@L 1 first line\n@@L 1 second: line\n@@L 7 lost\n"
	    "@@Z\n";
	CHECK(script_parse_apply(&hp, o, strlen(o), &err) == 0);
	CHECK_STR(statuses(&hp), "changed failed skipped skipped");
	CHECK_STR(hp.res[1].output, "first line\nsecond: line\n");
	CHECK(hp.res[0].output == NULL);

	/* the connection dropped: what did not answer failed */
	for (size_t i = 0; i < hp.n_res; i++)
		hp.res[i].status = RES_CHANGE;
	o = "@@A 0 changed\n";
	CHECK(script_parse_apply(&hp, o, strlen(o), &err) == -1);
	CHECK_STR(err.msg, "the apply script stopped before its end (the connection may have "
	                   "dropped); run again to finish");
	CHECK_STR(statuses(&hp), "changed failed failed failed");
	/* resources the probe found in order stay so */
	hp.res[0].status = RES_OK;
	hp.res[1].status = RES_CHANGE;
	hp.res[2].status = RES_OK;
	hp.res[3].status = RES_OK;
	o = "@@A 1 changed\n@@A 2 changed\n@@Z\n";
	CHECK(script_parse_apply(&hp, o, strlen(o), &err) == 0);
	CHECK_STR(statuses(&hp), "ok changed changed ok");
	plan_release(&hp);

	/* handlers */
	render_ok(&hp, "notify");
	CHECK(hp.n_res == 3 && hp.n_handlers == 4);
	if (hp.n_res != 3 || hp.n_handlers != 4) {
		plan_release(&hp);
		return;
	}
	hp.res[0].status = RES_CHANGE;
	hp.res[1].status = RES_CHANGE;
	hp.res[2].status = RES_OK;
	for (size_t i = 0; i < 3; i++)
		hp.handlers[i].notified = true;
	o = "@@A 0 changed\n@@A 1 changed\n@@H 1 failed\n@@L h1 it broke\n@@L h1 twice\n@@Z\n";
	CHECK(script_parse_apply(&hp, o, strlen(o), &err) == 0);
	CHECK_STR(statuses(&hp), "changed changed ok");
	/* bump was due (its resources changed) but never answered; quiet was not due */
	CHECK_STR(handler_statuses(&hp), "failed failed pending pending");
	CHECK_STR(hp.handlers[1].res.output, "it broke\ntwice\n");
	for (size_t i = 0; i < 4; i++)
		hp.handlers[i].status = RES_PENDING;
	o = "@@H 0 ok\n@@H 1 ok\n@@Z\n";
	CHECK(script_parse_apply(&hp, o, strlen(o), &err) == 0);
	CHECK_STR(handler_statuses(&hp), "changed changed pending pending");
	plan_release(&hp);
}

/* ---- cleanup ---------------------------------------------------------- */

static void test_cleanup(void)
{
	for (size_t i = 0; i < n_tracked; i++) {
		char sha[65];
		char *b;

		pv_sha256_hex(tracked[i], strlen(tracked[i]), sha);
		b = xasprintf(BACKUP_DIR "/%s", sha);
		unlink(b);
		free(b);
		b = xasprintf(BACKUP_DIR "/%s.absent", sha);
		unlink(b);
		free(b);
		b = xasprintf(BACKUP_DIR "/%s.tmp", sha);
		unlink(b);
		free(b);
		free(tracked[i]);
	}
	n_tracked = 0;
	if (!had_backup_dir)
		rmdir(BACKUP_DIR);
	if (!had_var_lib_provision)
		rmdir("/var/lib/provision");
	/* every backup made here is gone */
	CHECK_STR(listing(BACKUP_DIR), backups_before);
	CHECK(exists(marker));
	CHECK(!exists(outside));
	unlink(outside);
	rm_rf(scratch);
	CHECK(!exists(scratch));
}

/*
 * The probe's shared answers, read back by each resource: a unit's block
 * by its place in systemctl's answer (none at all when the blocks do not
 * add up), a file's digest and stat line by its exact path (not by a path
 * it ends).
 */
/* the engine's shell functions (declared in its private res-util.h) */
extern const char res_shell_lib[];

static void test_probe_lookups(void)
{
	struct buf sh = BUF_INIT, out = BUF_INIT;

	buf_adds(&sh, res_shell_lib);
	buf_adds(
	    &sh,
	    "pv_b='ActiveState=active\nUnitFileState=enabled\n\n"
	    "ActiveState=inactive\nUnitFileState=\n\n"
	    "ActiveState=failed\nUnitFileState=disabled'\n"
	    "pv_units_split a.service b c@x\n"
	    "for u in b c@x a.service; do pv_unit $u; printf '%s|' \"$pv_s\" | tr '\\n' ,; done\n"
	    "echo\n"
	    "pv_b='ActiveState=active\nUnitFileState=enabled'\n"
	    "pv_units_split a b; echo \"short:[$pv_units]\"\n"
	    "pv_b='ActiveState=active\n\nActiveState=failed'\n"
	    "pv_units_split a; echo \"long:[$pv_units]\"\n"
	    "pv_b='UnitFileState=enabled\n\nActiveState=failed'\n"
	    "pv_units_split a b; echo \"odd:[$pv_units]\"\n"
	    "pv_fsha='\n1111  /x/a\n2222  /a\n'\n"
	    "pv_sha /a; echo \"sha:$pv_s\"\n"
	    "pv_sha /x/a; echo \"sha:$pv_s\"\n"
	    "pv_fst='\n600 root adm /x/a\n644 daemon root /a\n'\n"
	    "pv_r=; pv_meta /a 644 daemon root; echo \"meta:[$pv_r]\"\n"
	    "pv_r=; pv_meta /x/a 644 root root; echo \"meta:[$pv_r]\"\n");
	CHECK(sh_stdin(sh.s, &out) == 0);
	CHECK_STR(out.s, ",ActiveState=inactive,UnitFileState=,|"
	                 ",ActiveState=failed,UnitFileState=disabled,|"
	                 ",ActiveState=active,UnitFileState=enabled,|\n"
	                 "short:[]\nlong:[]\nodd:[]\n"
	                 "sha:2222\nsha:1111\n"
	                 "meta:[]\nmeta:[mode 600 != 644, group adm != root]\n");
	buf_release(&sh);
	buf_release(&out);
}

int main(void)
{
	int rc;

	signal(SIGPIPE, SIG_IGN);
	if (geteuid() != 0) {
		printf("test-engine: must run as root (the scripts chown to root)\n");
		return 1;
	}
	/*
	 * The scripts keep what they replace in the machine's
	 * /var/lib/provision/backup, and the test checks it is left as it was
	 * found: two runs at once (two checkouts) would see each other's.
	 */
	int lock = open("/run/provision-test-engine.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock < 0 || flock(lock, LOCK_EX) < 0) {
		perror("/run/provision-test-engine.lock");
		return 1;
	}
	setup();
	RUN(test_status_names);
	RUN(test_status_json);
	RUN(test_var_priority);
	RUN(test_requires_order_and_ports);
	RUN(test_port_variables);
	RUN(test_private_ports);
	RUN(test_only_roles);
	RUN(test_requires_cycle);
	RUN(test_bad_resources);
	RUN(test_when);
	RUN(test_stage_tar);
	RUN(test_real_converge);
	RUN(test_probe_lookups);
	RUN(test_reprobe_in_apply);
	RUN(test_hostile_values);
	RUN(test_run_record);
	RUN(test_failure_skips_the_rest);
	RUN(test_failure_output_without_newline);
	RUN(test_handlers_once);
	RUN(test_validate_restores);
	RUN(test_rollback);
	RUN(test_parse_probe);
	RUN(test_parse_apply);
	RUN(test_line_probe_agrees);
	RUN(test_cleanup);
	rc = check_done("test-engine");
	inventory_free(inv);
	role_set_release(&roles);
	scope_release(&facts_container);
	scope_release(&facts_vm);
	for (size_t i = 0; i < n_kept; i++)
		free(kept[i]);
	free(kept);
	return rc;
}

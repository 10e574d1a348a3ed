/*
 * converge.c - the per-host converge loop, one thread per host.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "provision/common.h"
#include "provision/converge.h"
#include "provision/remote.h"
#include "provision/repro.h"

/* Remote wrappers: scripts always arrive on stdin, never in argv. */
#define SH_AS_ROOT "sudo -n -- sh -s"
#define SH_ROOT "sh -s"
/*
 * The apply holds the host's run lock (PV_HOST_LOCK) while it runs, and runs
 * to its end even when the tool is gone: its output goes to a file and is
 * sent at the end, so a vanished connection cannot stop it half-way.  The
 * lock is not passed on (9>&-): a daemon a script starts must not keep it.
 * Holding the lock, it removes the stage directory a lost host left behind.
 */
#define APPLY_BODY                                                                                 \
	"'umask 077; exec 9>>" PV_HOST_LOCK                                                        \
	"; { ! command -v flock >/dev/null || flock -w 900 9; } "                                  \
	"|| exit 113; rm -rf /tmp/pv-apply.*; d=$(mktemp -d /tmp/pv-apply.XXXXXX) || exit 111; "   \
	"trap \"rm -rf \\\"$d\\\"\" EXIT; "                                                        \
	"tar -xf - -C \"$d\" || exit 112; PV_STAGE=\"$d\" sh \"$d/apply.sh\" >\"$d/@out\" "        \
	"2>\"$d/@err\" </dev/null 9>&-; rc=$?; cat \"$d/@err\" >&2; cat \"$d/@out\"; exit $rc'"

const char *converge_shell(const struct host *h)
{
	return strcmp(h->user, "root") ? SH_AS_ROOT : SH_ROOT;
}

static const char *apply_command(const struct host *h)
{
	return strcmp(h->user, "root") ? "sudo -n -- sh -c " APPLY_BODY : "sh -c " APPLY_BODY;
}

struct job {
	struct host_plan *plan;
	const struct converge_opts *o;
	struct reporter *rep;
	struct host_result *res;
};

static void fill_target(struct remote_target *t, const struct host *h,
                        const struct converge_opts *o)
{
	memset(t, 0, sizeof(*t));
	t->name = h->name;
	t->address = h->address;
	t->port = h->port;
	t->user = h->user;
	t->private_key = o->private_key;
	t->known_hosts = o->known_hosts;
}

/* Run a script; a non-zero exit with no protocol lines is a host failure. */
static int run_script(struct remote *rem, const char *cmd, const char *data, size_t len,
                      struct buf *out, struct host_result *res, struct pv_error *err)
{
	struct buf errb;
	int status = 0;

	buf_init(&errb, 1 << 20);
	buf_reset(out);
	res->round_trips++;
	if (remote_exec(rem, cmd, data, len, out, &errb, &status, err) < 0) {
		buf_release(&errb);
		return -1;
	}
	if (status != 0 && !strstr(out->s, "@@")) {
		pv_error_set(err, "remote script exited with status %d: %s", status,
		             errb.len ? errb.s : "(no output)");
		buf_release(&errb);
		return -1;
	}
	buf_release(&errb);
	return 0;
}

static bool any_changed_verify(const struct host_plan *p)
{
	for (size_t i = 0; i < p->n_res; i++)
		if (p->res[i].verify_login && p->res[i].status == RES_CHANGED)
			return true;
	return false;
}

/* A fresh connection and login must work after a change to sshd or users. */
static int verify_fresh_login(const struct host *h, const struct converge_opts *o,
                              struct host_result *res, struct pv_error *err)
{
	struct remote_target t;
	struct remote *fresh = NULL;
	struct buf out;
	int status = -1, rc = -1;
	struct buf sh = BUF_INIT;

	/* the fresh login runs as root what disarms the login guard: one round trip */
	script_disarm(&sh);
	fill_target(&t, h, o);
	buf_init(&out, 4096);
	res->round_trips++;
	/*
	 * A reloading sshd re-executes itself and is briefly not listening:
	 * wait for the port, then log in once (a failed login is counted by
	 * fail2ban, so only the connect is retried).
	 */
	if (remote_wait_port(h->address, h->port, 15000, err) < 0 ||
	    remote_connect(&fresh, &t, err) < 0)
		goto out;
	if (remote_exec(fresh, converge_shell(h), sh.s, sh.len, &out, NULL, &status, err) < 0)
		goto out;
	if (status != 0 || !strstr(out.s, "@@Z")) {
		pv_error_set(err, "fresh login works but the admin command failed (status %d)",
		             status);
		goto out;
	}
	rc = 0;
out:
	if (fresh)
		remote_close(fresh);
	buf_release(&out);
	buf_release(&sh);
	return rc;
}

/* Wait until no apply script holds the host's run lock. */
static int wait_host_lock(struct remote *rem, const struct host *h, struct host_result *res,
                          struct buf *out, struct pv_error *err)
{
	static const char wait_sh[] = "flock -w 900 " PV_HOST_LOCK " true && echo @@Z\n";

	if (run_script(rem, converge_shell(h), wait_sh, strlen(wait_sh), out, res, err) < 0)
		return -1;
	if (!strstr(out->s, "@@Z"))
		return pv_error_set(err, "a previous run's apply script still holds the host's "
		                         "lock after 15 minutes; see 'ps -ef' on the host");
	return 0;
}

static bool packages_pending(const struct host_plan *p)
{
	size_t n;
	bool present;

	for (size_t i = 0; i < p->n_res; i++)
		if (p->res[i].status == RES_CHANGE && res_package_names(&p->res[i], &n, &present))
			return true;
	return false;
}

static bool probe_says(const char *out, const char *line)
{
	size_t n = strlen(line);

	for (const char *s = out; (s = strstr(s, line)); s += n)
		if ((s == out || s[-1] == '\n') && (s[n] == '\n' || !s[n]))
			return true;
	return false;
}

static void host_run(struct job *j)
{
	struct host_plan *p = j->plan;
	const struct host *h = p->host;
	struct host_result *res = j->res;
	struct remote_target t;
	struct remote *rem = NULL;
	struct pv_error err = {{0}};
	struct buf sh, out, tar;
	struct stage st;
	long long start = pv_now_ms();
	size_t pending = 0;
	char *busy = NULL;

	buf_init(&sh, 0);
	buf_init(&out, 0);
	buf_init(&tar, 0);
	stage_init(&st);
	report_host_start(j->rep, h->name, "connecting");
	fill_target(&t, h, j->o);
	if (remote_connect(&rem, &t, &err) < 0)
		goto fail;

	report_host_start(j->rep, h->name, "probing");
	p->record_run = !j->o->check;
	p->disarm_guard = !j->o->check;
	script_probe(p, &sh);
	if (run_script(rem, converge_shell(h), sh.s, sh.len, &out, res, &err) < 0)
		goto fail;
	/* a killed run's apply script still runs there: let it finish, then look again */
	if ((busy = script_probe_busy(out.s, out.len, "run"))) {
		report_info(j->rep, h->name,
		            "a previous run is still applying on this host; waiting for it to "
		            "finish (15 minutes at most)");
		report_host_start(j->rep, h->name, "waiting for a previous run to finish");
		if (wait_host_lock(rem, h, res, &out, &err) < 0 ||
		    run_script(rem, converge_shell(h), sh.s, sh.len, &out, res, &err) < 0)
			goto fail;
	}
	if (script_parse_probe(p, out.s, out.len, &err) < 0)
		goto fail;
	/* a killed run's guard: the login just made shows sshd lets the admin in */
	if (probe_says(out.s, "@@G cancelled"))
		report_info(j->rep, h->name,
		            "an earlier run's change to sshd or users was never confirmed; this "
		            "login works, so the host's pending rollback of it is cancelled");
	repro_pkgs_parse(p, out.s, out.len);

	for (size_t i = 0; i < p->n_res; i++) {
		struct resource *r = &p->res[i];
		if (r->status != RES_CHANGE)
			continue;
		pending++;
		if (j->o->check || j->o->diff) {
			struct buf ex = BUF_INIT;
			if (r->type->explain)
				r->type->explain(r, &ex);
			report_resource(j->rep, h->name, r);
			if (ex.len)
				report_detail(j->rep, h->name, r->title, ex.s);
			buf_release(&ex);
		}
	}
	if (j->o->check) {
		res->would_change = (int)pending;
		goto count;
	}
	/* before anything changes: --frozen refuses other package versions than recorded */
	if (p->frozen && repro_frozen_check(p, &err) < 0)
		goto fail;
	/* and asks apt for exactly those: lists refreshed by the apply cannot move them */
	for (size_t i = 0; p->frozen && i < p->n_res; i++)
		res_package_pin(&p->res[i], p->frozen_pkgs);
	if (!pending)
		goto count;

	free(busy);
	if ((busy = script_probe_busy(out.s, out.len, "pkg")) && packages_pending(p))
		report_info(j->rep, h->name,
		            "the package lock is held by %s; the apply waits for it (10 minutes at "
		            "most)",
		            busy);
	report_host_start(j->rep, h->name, "applying");
	buf_reset(&sh);
	script_apply(p, &sh, &st);
	if (stage_to_tar(&st, sh.s, &tar, &err) < 0)
		goto fail;
	if (run_script(rem, apply_command(h), tar.s, tar.len, &out, res, &err) < 0 ||
	    script_parse_apply(p, out.s, out.len, &err) < 0)
		goto fail;
	repro_pkgs_parse(p, out.s, out.len);

	if (any_changed_verify(p)) {
		struct pv_error verr = {{0}};
		report_host_start(j->rep, h->name, "verifying a fresh login");
		if (verify_fresh_login(h, j->o, res, &verr) < 0) {
			/* roll back over the connection that still works */
			buf_reset(&sh);
			script_rollback(p, &sh);
			int rb = run_script(rem, converge_shell(h), sh.s, sh.len, &out, res, &err);
			for (size_t i = 0; i < p->n_res; i++) {
				struct resource *r = &p->res[i];
				if (!r->verify_login || r->status != RES_CHANGED)
					continue;
				r->status = RES_FAILED;
				free(r->output);
				r->output =
				    xasprintf("a fresh login failed after this change (%s); "
				              "%s",
				              verr.msg, rb < 0 ? "ROLLBACK FAILED" : "rolled back");
			}
		}
	}

count:
	/* counted after the apply: it may change resources the probe found in order */
	for (size_t i = 0; i < p->n_res; i++) {
		struct resource *r = &p->res[i];
		switch (r->status) {
		case RES_OK:
			res->ok++;
			break;
		case RES_CHANGE:
			if (j->o->check)
				continue; /* reported with its diff above */
			break;
		case RES_CHANGED:
			res->changed++;
			break;
		case RES_FAILED:
			res->failed++;
			break;
		case RES_SKIPPED:
			res->skipped++;
			break;
		default:
			continue;
		}
		report_resource(j->rep, h->name, r);
	}
	for (size_t i = 0; i < p->n_handlers; i++) {
		struct handler *hd = &p->handlers[i];
		if (hd->status == RES_FAILED) {
			res->failed++;
			hd->res.status = RES_FAILED;
			report_resource(j->rep, h->name, &hd->res);
		}
	}
	goto done;

fail:
	res->error = xstrdup(err.msg);
done:
	if (rem)
		remote_close(rem);
	res->ms = pv_now_ms() - start;
	report_host_done(j->rep, h->name, res);
	free(busy);
	buf_release(&sh);
	buf_release(&out);
	buf_wipe(&tar);
	stage_release(&st);
}

struct pool {
	pthread_mutex_t lock;
	struct job *jobs;
	size_t n, next;
};

static void *worker(void *arg)
{
	struct pool *pl = arg;

	for (;;) {
		pthread_mutex_lock(&pl->lock);
		size_t i = pl->next < pl->n ? pl->next++ : pl->n;
		pthread_mutex_unlock(&pl->lock);
		if (i >= pl->n)
			return NULL;
		host_run(&pl->jobs[i]);
	}
}

int converge(struct host_plan *plans, size_t n, const struct converge_opts *o, struct reporter *rep,
             struct host_result *results)
{
	struct pool pl;
	size_t workers = o->jobs > 0 && (size_t)o->jobs < n ? (size_t)o->jobs : n;
	pthread_t *th = xcalloc(workers ? workers : 1, sizeof(*th));
	int rc = 0;

	pthread_mutex_init(&pl.lock, NULL);
	pl.jobs = xcalloc(n ? n : 1, sizeof(*pl.jobs));
	pl.n = n;
	pl.next = 0;
	for (size_t i = 0; i < n; i++) {
		memset(&results[i], 0, sizeof(results[i]));
		pl.jobs[i] = (struct job){&plans[i], o, rep, &results[i]};
	}
	for (size_t i = 0; i < workers; i++)
		if (pthread_create(&th[i], NULL, worker, &pl) != 0) {
			/* fewer threads still do all the work */
			workers = i;
			break;
		}
	if (!workers)
		worker(&pl);
	for (size_t i = 0; i < workers; i++)
		pthread_join(th[i], NULL);
	for (size_t i = 0; i < n; i++)
		if (results[i].failed || results[i].error)
			rc = -1;
	pthread_mutex_destroy(&pl.lock);
	free(pl.jobs);
	free(th);
	return rc;
}

/*
 * res-service.c - a systemd unit: enabled at boot, running now.
 *
 *   service: { name: fail2ban, enabled: true, running: true }
 *   service: { name: ssh, action: reload }      # in handlers
 *
 * action (reload, restart, start, stop) runs whenever the apply half runs:
 * in a handler that is every time the handler is notified.  A reload of a
 * unit that is not running is skipped: it reads its configuration when it
 * starts.  For the same reason a restart or reload handler notified before
 * a service resource started its unit (a first install: the package's
 * start was held) has nothing left to do.
 */
#include <stdlib.h>
#include <string.h>

#include "provision/shquote.h"
#include "res-util.h"

struct svc_spec {
	char *name;
	bool enabled, enabled_set;
	bool running, running_set;
	char *action;
};

static void svc_free(void *p)
{
	struct svc_spec *v = p;

	free(v->name);
	free(v->action);
	free(v);
}

static int svc_parse(struct resource *r, const struct node *n, const struct scope *s,
                     const struct render_ctx *ctx, struct diags *d)
{
	static const char *const keys[] = {"name", "enabled", "running", "action"};
	const char *where = "service resource";
	struct svc_spec *v;
	int bad = 0;

	if (res_check_map(n, keys, PV_ARRAY_SIZE(keys), where, d) < 0)
		return -1;
	v = xcalloc(1, sizeof(*v));
	r->spec = v;
	if (res_field_str(r, n, "name", true, NULL, TPL_TEXT, s, where, &v->name, d) < 0)
		return -1;
	r->title = xasprintf("service %s", v->name);
	if (v->name[0] == '-' || !v->name[0] ||
	    strspn(v->name,
	           "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@._:-\\") !=
	        strlen(v->name)) {
		struct pos at = res_pos(n, "name");
		diags_add(d, &at, "invalid unit name '%s' in %s", v->name, where);
		bad = -1;
	}
	bad |= res_field_bool(r, n, "enabled", false, s, where, &v->enabled, &v->enabled_set, d);
	bad |= res_field_bool(r, n, "running", false, s, where, &v->running, &v->running_set, d);
	bad |= res_field_str(r, n, "action", false, NULL, TPL_TEXT, s, where, &v->action, d);
	if (v->action && strcmp(v->action, "reload") && strcmp(v->action, "restart") &&
	    strcmp(v->action, "start") && strcmp(v->action, "stop")) {
		struct pos at = res_pos(n, "action");
		diags_add(d, &at, "invalid 'action' '%s' in %s (reload, restart, start or stop)",
		          v->action, where);
		bad = -1;
	}
	return bad ? -1 : 0;
}

bool res_service_has_action(const struct resource *r)
{
	return r->type == &res_type_service && r->spec && ((struct svc_spec *)r->spec)->action;
}

const char *res_service_unit(const struct resource *r, int *running, const char **action)
{
	const struct svc_spec *v;

	if (r->type != &res_type_service || !r->spec)
		return NULL;
	v = r->spec;
	*running = v->running_set ? v->running : -1;
	*action = v->action;
	return v->name;
}

static const char *svc_probe_unit(const struct resource *r)
{
	const struct svc_spec *v = r->spec;

	return v->enabled_set || v->running_set ? v->name : NULL;
}

static void svc_probe(const struct resource *r, int idx, struct buf *sh)
{
	const struct svc_spec *v = r->spec;

	buf_adds(sh, "pv_r=\n");
	if (v->enabled_set || v->running_set) {
		/* one systemctl for both questions; the fields picked out by expansion */
		buf_adds(sh, "pv_unit");
		sh_word(sh, v->name);
		buf_adds(sh, "\npv_e=${pv_s#*\"\nUnitFileState=\"}; pv_e=${pv_e%%\"\n\"*}\n"
		             "pv_a=${pv_s#*\"\nActiveState=\"}; pv_a=${pv_a%%\"\n\"*}\n");
	}
	if (v->enabled_set) {
		if (v->enabled)
			buf_adds(sh,
			         "case \"$pv_e\" in enabled|enabled-runtime|static|alias|indirect|"
			         "generated) ;; *) pv_add \"not enabled (${pv_e:-unknown})\";; "
			         "esac\n");
		else
			buf_adds(sh, "case \"$pv_e\" in enabled|enabled-runtime) pv_add enabled;; "
			             "esac\n");
	}
	if (v->running_set) {
		if (v->running)
			buf_adds(sh, "case \"$pv_a\" in active|activating|reloading) ;; "
			             "*) pv_add \"not running (${pv_a:-unknown})\";; esac\n");
		else
			buf_adds(sh, "case \"$pv_a\" in active|activating|reloading) "
			             "pv_add running;; esac\n");
	}
	buf_addf(sh, "pv_end %d\n", idx);
}

static void svc_apply(const struct resource *r, int idx, struct buf *sh)
{
	const struct svc_spec *v = r->spec;

	if (v->enabled_set) {
		buf_adds(sh, v->enabled ? "systemctl enable" : "systemctl disable");
		sh_word(sh, v->name);
		buf_addc(sh, '\n');
	}
	if (v->running_set && v->running) {
		/* a start here reads the files written before it: FRESH_MARK */
		buf_adds(sh, "if ! systemctl is-active --quiet --");
		sh_word(sh, v->name);
		buf_adds(sh, "; then\n\tsystemctl start --");
		sh_word(sh, v->name);
		buf_addf(sh, "\n\t: >\"$PV_STAGE/" FRESH_MARK "\"\nfi\n", idx);
	} else if (v->running_set) {
		buf_adds(sh, "systemctl stop");
		sh_word(sh, v->name);
		buf_addc(sh, '\n');
	}
	if (!v->action)
		return;
	if (!strcmp(v->action, "reload")) {
		buf_adds(sh, "if systemctl is-active --quiet");
		sh_word(sh, v->name);
		buf_adds(sh, "; then systemctl reload");
		sh_word(sh, v->name);
		buf_adds(sh, "; fi\n");
		return;
	}
	buf_addf(sh, "systemctl %s", v->action);
	sh_word(sh, v->name);
	buf_addc(sh, '\n');
}

const struct res_type res_type_service = {
    .name = "service",
    .parse = svc_parse,
    .probe = svc_probe,
    .probe_unit = svc_probe_unit,
    .apply = svc_apply,
    .free_spec = svc_free,
};

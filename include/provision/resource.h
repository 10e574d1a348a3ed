/*
 * resource.h - resource types: each turns its YAML into POSIX shell.
 *
 * A resource has three halves, all pure (they only write text):
 *   probe   - shell that reports whether the host already matches;
 *   apply   - shell that makes it match;
 *   explain - human text of the pending change (a unified diff for files).
 * The engine (engine.h) concatenates the halves of all resources of a host
 * into one probe script and one apply script: two round trips per host.
 *
 * Probe protocol (stdout, one resource after another, idx = position):
 *   "@@P <idx> ok"
 *   "@@P <idx> change <short reason>"
 *   optionally "@@B <idx>", base64 lines of the current content, "@@E <idx>"
 * The engine adds "@@T <idx> <uptime>" after each resource (pv_tick), so
 * the host's own clock times every resource without a round trip more.
 * The probe snippet runs as root in "sh" with "set +e"; it must not change
 * anything.  Values reach the shell only through sh_quote (shquote.h).
 *
 * Apply: the snippet runs as root in a subshell with "set -e"; files staged
 * by the type's stage() are under "$PV_STAGE/<name>".  A non-zero exit
 * means failed; its output is shown to the user (redacted).
 */
#ifndef PROVISION_RESOURCE_H
#define PROVISION_RESOURCE_H

#include "provision/buf.h"
#include "provision/scope.h"

enum res_status {
	RES_PENDING, /* not probed yet */
	RES_OK, /* already as wanted */
	RES_CHANGE, /* probe found a difference (plan, --check) */
	RES_CHANGED, /* apply made the change */
	RES_FAILED, /* apply failed, or the change was rolled back */
	RES_SKIPPED, /* not attempted because an earlier resource failed */
};

/* The status as the output names it: "ok", "would change", "changed", ... */
const char *res_status_name(enum res_status st);

/* Files sent to the host in the apply round trip (a tar stream). */
struct stage_file {
	char *name; /* relative, no "..": "f3" */
	char *data;
	size_t len;
	bool secret;
};
struct stage {
	struct stage_file *files;
	size_t n;
	size_t alloc;
};
void stage_init(struct stage *st);
void stage_add(struct stage *st, const char *name, const void *data, size_t len, bool secret);
void stage_release(struct stage *st); /* wipes secret data */
/* Write the staged files, plus script as "apply.sh", as a tar archive (libarchive). */
int stage_to_tar(const struct stage *st, const char *script, struct buf *tar, struct pv_error *err);

/* Where templates and role files are found while parsing. */
struct render_ctx {
	const char *const *template_dirs; /* searched in order */
	size_t n_template_dirs;
	const char *role_name;
	const char *role_dir;
};

struct res_type;

struct resource {
	const struct res_type *type;
	char *title; /* "file /etc/ssh/sshd_config.d/10-provision.conf" */
	char *role;
	struct pos pos;
	char **notify; /* handler names */
	size_t n_notify;
	bool verify_login; /* after a change, a fresh SSH login must succeed */
	bool secret; /* rendered with secret values: never show content */
	void *spec; /* type-specific */

	/* results */
	enum res_status status;
	char *reason; /* short reason from the probe */
	struct buf current; /* probe payload (current file content), may be empty */
	bool has_current; /* a payload was sent (the file exists) */
	char *output; /* apply output on failure */
	long long ms; /* time the host spent on it (probe, then apply); -1 unknown */
};

struct res_type {
	const char *name; /* the key in role.yml */
	/* Render and type-check n (the value under the type key) with scope s.
	 * Fills r->spec and r->title.  Problems go to d with positions. */
	int (*parse)(struct resource *r, const struct node *n, const struct scope *s,
	             const struct render_ctx *ctx, struct diags *d);
	void (*probe)(const struct resource *r, int idx, struct buf *sh);
	/* Stage files for apply (optional). */
	void (*stage)(const struct resource *r, int idx, struct stage *st);
	void (*apply)(const struct resource *r, int idx, struct buf *sh);
	/* Human text of the pending change, after probe (optional). */
	void (*explain)(const struct resource *r, struct buf *out);
	/* The path its probe stats and, when a regular file, hashes (optional, may
	 * return NULL): the probe script reads them all in one go up front. */
	const char *(*probe_path)(const struct resource *r);
	/* The systemd unit its probe asks about (optional, may return NULL): one
	 * systemctl answers for all of them up front. */
	const char *(*probe_unit)(const struct resource *r);
	/* Shell that restores what the last apply replaced (optional). */
	void (*rollback)(const struct resource *r, int idx, struct buf *sh);
	void (*free_spec)(void *spec);
};

const struct res_type *res_type_find(const char *name);
/* The names of all types, for "did you mean". */
const char *const *res_type_names(size_t *n);

void resource_release(struct resource *r);

#endif

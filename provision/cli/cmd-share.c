/*
 * cmd-share.c - node sharing for external users through the Tailscale API:
 *
 *   provision share HOST --with EMAIL [--multi-use]   invite, print the link
 *   provision share --list                            invites of every host
 *   provision share --acl [--apply]                   the ACL for shared hosts
 *   provision unshare HOST [--with EMAIL]             revoke invites
 *
 * Only hosts the environment has created (its state records them) are
 * shared.  A host's device is the one whose node id that record keeps;
 * the first time, the device with the host's Tailscale hostname (variable
 * tailscale_hostname, default the server name) and tags (tailscale_tags)
 * that no other host or environment has recorded, and its node id is
 * recorded from then on.  The ports it shares come from share_ports
 * (default: the ports its roles declare).  The token comes from $TAILSCALE_API_KEY or
 * the inventory secret tailscale_api_key and is never shown.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provision/http.h"
#include "provision/session.h"
#include "provision/tailscale.h"
#include "provision/template.h"

/* What sharing needs to know about one server. */
struct share_host {
	const struct inv_layout *layout;
	const struct inv_server *server;
	char *hostname;
	char **tags;
	size_t n_tags;
	char **ports;
	size_t n_ports;
	json_t *record; /* the host in the environment's state (borrowed), or NULL */
	const json_t *device; /* borrowed from the device list, or NULL */
};

static void share_host_release(struct share_host *h)
{
	free(h->hostname);
	pv_free_list(h->tags, h->n_tags);
	pv_free_list(h->ports, h->n_ports);
}

/* A variable rendered as text; NULL when undefined. */
static char *var_text(const struct host_plan *hp, const struct node *v, struct pv_error *err)
{
	struct buf b = BUF_INIT;
	bool secret = false;

	if (!v)
		return NULL;
	if (tpl_render_node(&b, NULL, v, &hp->scope, TPL_TEXT, &secret, err) < 0) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

/* A variable that is a list of text (or one text); *n = 0 when undefined. */
static int var_list(const struct host_plan *hp, const char *name, char ***out, size_t *n,
                    struct pv_error *err)
{
	const struct node *v = scope_get(&hp->scope, name);
	size_t alloc = 0;

	*out = NULL;
	*n = 0;
	if (!v)
		return 0;
	if (v->kind == NODE_MAP)
		return pv_error_set(err, "%s:%d:%d: '%s' must be a list, not a mapping",
		                    v->pos.file, v->pos.line, v->pos.col, name);
	size_t count = v->kind == NODE_SEQ ? v->n : 1;
	for (size_t i = 0; i < count; i++) {
		const struct node *it = v->kind == NODE_SEQ ? v->items[i] : v;
		if (it->kind != NODE_SCALAR)
			return pv_error_set(err, "%s:%d:%d: '%s' must be a list of text",
			                    it->pos.file, it->pos.line, it->pos.col, name);
		char *t = var_text(hp, it, err);
		if (!t)
			return -1;
		PV_GROW(*out, *n + 1, alloc);
		(*out)[(*n)++] = t;
	}
	return 0;
}

/* Fill h from the server's variables. */
static int load_host(struct session *s, const struct inv_layout *l, const struct inv_server *srv,
                     struct share_host *h)
{
	struct host_plan hp;
	struct scope facts;
	struct pv_error err = {{0}};
	int rc;

	memset(h, 0, sizeof(*h));
	h->layout = l;
	h->server = srv;
	/* only its variables are needed: a secret of another role need not be set */
	if ((rc = session_preview(s, l, srv, false, &facts, &hp)) == PV_EXIT_OK) {
		const struct node *hn = scope_get(&hp.scope, "tailscale_hostname");
		h->hostname = hn ? var_text(&hp, hn, &err) : xstrdup(srv->name);
		if (!h->hostname ||
		    var_list(&hp, "tailscale_tags", &h->tags, &h->n_tags, &err) < 0 ||
		    var_list(&hp, "share_ports", &h->ports, &h->n_ports, &err) < 0) {
			pv_say_error("server '%s': %s", srv->name, err.msg);
			rc = PV_EXIT_USAGE;
		} else if (!scope_get(&hp.scope, "share_ports")) {
			for (size_t i = 0; i < hp.n_ports; i++) {
				size_t alloc = h->n_ports;
				/* "... private", "... monitoring", "on IFACE": not for outsiders */
				if (strchr(hp.ports[i], ' '))
					continue;
				PV_GROW(h->ports, h->n_ports + 1, alloc);
				h->ports[h->n_ports++] = xstrdup(hp.ports[i]);
			}
		}
	}
	plan_release(&hp);
	scope_release(&facts);
	return rc;
}

/* Every server of the environment's layouts. */
static int load_all(struct session *s, struct share_host **out, size_t *n)
{
	size_t total = 0, k = 0;

	for (size_t i = 0; i < s->inv->n_layouts; i++)
		total += s->inv->layouts[i].n_servers;
	*out = xcalloc(total ? total : 1, sizeof(**out));
	*n = 0;
	for (size_t i = 0; i < s->inv->n_layouts; i++)
		for (size_t j = 0; j < s->inv->layouts[i].n_servers; j++) {
			int rc = load_host(s, &s->inv->layouts[i], &s->inv->layouts[i].servers[j],
			                   &(*out)[k]);
			k++;
			*n = k;
			if (rc)
				return rc;
		}
	return PV_EXIT_OK;
}

static void free_all(struct share_host *hs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		share_host_release(&hs[i]);
	free(hs);
}

/* The server named name in any layout; an unknown or ambiguous name is an error. */
static struct share_host *find_host(struct session *s, struct share_host *hs, size_t n,
                                    const char *name)
{
	struct share_host *found = NULL;
	const char **names = xcalloc(n + 1, sizeof(*names));
	size_t hits = 0;

	for (size_t i = 0; i < n; i++) {
		names[i] = hs[i].server->name;
		if (!strcmp(hs[i].server->name, name)) {
			found = &hs[i];
			hits++;
		}
	}
	if (hits > 1) {
		pv_say_error("server '%s' is in %zu layouts of '%s'; sharing needs one name per "
		             "device",
		             name, hits, s->inventory_path);
		found = NULL;
	} else if (!found) {
		const char *near = pv_nearest(name, names, n);
		if (near)
			pv_say_error("unknown server '%s' in '%s' (did you mean '%s'?)", name,
			             s->inventory_path, near);
		else
			pv_say_error("unknown server '%s' in '%s'", name, s->inventory_path);
	}
	free(names);
	return found;
}

/* The token: $TAILSCALE_API_KEY, else the inventory secret tailscale_api_key. */
static int open_api(struct session *s, struct ts_api *t)
{
	struct pv_error err = {{0}};
	const char *env = getenv("TAILSCALE_API_KEY");
	struct node *secret = NULL;
	const char *token = env;
	int rc;

	if ((!token || !*token) && node_get(s->inv->secrets, "tailscale_api_key")) {
		if (inventory_secret(&secret, s->inv, "tailscale_api_key", &err) < 0) {
			pv_say_error("%s", err.msg);
			return PV_EXIT_USAGE;
		}
		token = secret->scalar;
	}
	if (!token || !*token) {
		pv_say_error(
		    "no Tailscale API token: set TAILSCALE_API_KEY, or the inventory secret "
		    "'tailscale_api_key' (a user's API access token, tskey-api-...)");
		return PV_EXIT_USAGE;
	}
	const char *base = getenv("TAILSCALE_BASE_URL");
	if (base && *base && http_endpoint_check(base, &err) < 0) {
		pv_say_error("environment variable TAILSCALE_BASE_URL: %s", err.msg);
		if (secret) {
			pv_wipe(secret->scalar, strlen(secret->scalar));
			node_free(secret);
		}
		return PV_EXIT_USAGE;
	}
	report_secret(token);
	rc = ts_open(t, token, &err);
	if (secret) {
		pv_wipe(secret->scalar, strlen(secret->scalar));
		node_free(secret);
	}
	if (rc < 0) {
		pv_say_error("%s", err.msg);
		return ts_token_is_oauth_client(env) || !env ? PV_EXIT_USAGE : PV_EXIT_FAIL;
	}
	return PV_EXIT_OK;
}

/* Each host's record in the environment's state; need must have one. */
static int attach_records(struct session *s, struct share_host *hs, size_t n,
                          struct share_host *need)
{
	for (size_t i = 0; i < n; i++) {
		json_t *lst = state_layout(&s->st, s->env, hs[i].layout->name, false);
		hs[i].record = json_object_get(json_object_get(lst, "hosts"), hs[i].server->name);
	}
	if (need && !need->record) {
		pv_say_error("server '%s' has not been created in environment '%s'; "
		             "'provision%s%s up %s' creates it",
		             need->server->name, s->env, strcmp(s->env, "default") ? " -e " : "",
		             strcmp(s->env, "default") ? s->env : "", need->layout->name);
		return PV_EXIT_USAGE;
	}
	return PV_EXIT_OK;
}

/* The Tailscale node ids the state records for every host but h, in every environment. */
static const char **taken_ids(struct session *s, const struct share_host *h, size_t *n)
{
	const char **ids = NULL;
	size_t alloc = 0;
	const char *ename, *lname, *hname;
	json_t *e, *l, *rec;

	*n = 0;
	json_object_foreach(json_object_get(s->st.root, "environments"), ename, e)
	{
		json_object_foreach(json_object_get(e, "layouts"), lname, l)
		{
			json_object_foreach(json_object_get(l, "hosts"), hname, rec)
			{
				const char *id = state_str(rec, "tailscale_node");
				if (!id || rec == h->record)
					continue;
				PV_GROW(ids, *n + 1, alloc);
				ids[(*n)++] = id;
			}
		}
	}
	return ids;
}

/*
 * Match every created host to its device; with need, a host without one is
 * an error, and a first match is recorded in the state.
 */
static int attach_devices(struct session *s, struct ts_api *t, struct share_host *hs, size_t n,
                          json_t **devices, struct share_host *need)
{
	struct pv_error err = {{0}};

	if (ts_devices(t, devices, &err) < 0) {
		pv_say_error("%s", err.msg);
		return PV_EXIT_FAIL;
	}
	for (size_t i = 0; i < n; i++) {
		size_t n_taken;
		if (!hs[i].record)
			continue;
		const char **taken = taken_ids(s, &hs[i], &n_taken);
		const char *recorded = state_str(hs[i].record, "tailscale_node");
		hs[i].device = ts_device_match(*devices, hs[i].hostname, recorded,
		                               (const char *const *)hs[i].tags, hs[i].n_tags, taken,
		                               n_taken, &err);
		free(taken);
		if (!hs[i].device && &hs[i] == need) {
			pv_say_error("server '%s': %s", hs[i].server->name, err.msg);
			return PV_EXIT_FAIL;
		}
		if (hs[i].device && &hs[i] == need && !recorded) {
			state_set_str(hs[i].record, "tailscale_node", ts_device_id(hs[i].device));
			if (state_save(&s->st, &err) < 0) {
				pv_say_error("%s", err.msg);
				return PV_EXIT_FAIL;
			}
		}
	}
	return PV_EXIT_OK;
}

/* " -e ENV" for commands to suggest, empty in the default environment. */
static const char *env_opt(const struct session *s)
{
	static char opt[40];

	if (!strcmp(s->env, "default"))
		return "";
	snprintf(opt, sizeof(opt), " -e %s", s->env);
	return opt;
}

static const char *str(const json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? v : "";
}

static int do_share(struct session *s, struct ts_api *t, struct share_host *h, const char *email,
                    bool multi)
{
	struct pv_error err = {{0}};
	json_t *inv = NULL;

	if (ts_invite(t, ts_device_id(h->device), email, multi, &inv, &err) < 0) {
		pv_say_error("server '%s': %s", h->server->name, err.msg);
		return PV_EXIT_FAIL;
	}
	if (s->mode == REPORT_JSON) {
		report_event(s->rep,
		             json_pack("{s:s, s:s, s:s, s:s, s:s}", "event", "shared", "host",
		                       h->server->name, "email", email, "invite", str(inv, "id"),
		                       "invite_url", str(inv, "inviteUrl")));
	} else {
		printf("shared %s (Tailscale device '%s') with %s\n", h->server->name, h->hostname,
		       email);
		printf("invite link: %s\n", str(inv, "inviteUrl"));
		printf("Tailscale mails it to %s; anyone holding the link can accept it%s.\n",
		       email, multi ? "" : " once");
		if (h->n_ports)
			printf("Reach only the shared ports: provision%s share --acl --apply\n",
			       env_opt(s));
		else
			printf("It has no ports to share (set its variable 'share_ports', for "
			       "example [443/tcp]);\n'provision%s share --acl --apply' keeps "
			       "outsiders off all of its ports\n",
			       env_opt(s));
	}
	json_decref(inv);
	return PV_EXIT_OK;
}

static int do_list(struct session *s, struct ts_api *t, struct share_host *hs, size_t n)
{
	struct pv_error err = {{0}};
	json_t *all = json_array();
	size_t count = 0;

	for (size_t i = 0; i < n; i++) {
		json_t *invs = NULL;
		size_t k;
		json_t *v;

		if (!hs[i].record) {
			if (s->mode != REPORT_JSON)
				printf("%s: not created in environment '%s'\n", hs[i].server->name,
				       s->env);
			continue;
		}
		if (!hs[i].device) {
			if (s->mode != REPORT_JSON)
				printf("%s: no Tailscale device of its own named '%s'\n",
				       hs[i].server->name, hs[i].hostname);
			continue;
		}
		if (ts_invites(t, ts_device_id(hs[i].device), &invs, &err) < 0) {
			pv_say_error("server '%s': %s", hs[i].server->name, err.msg);
			json_decref(all);
			return PV_EXIT_FAIL;
		}
		if (s->mode != REPORT_JSON && !json_array_size(invs))
			printf("%s: not shared\n", hs[i].server->name);
		json_array_foreach(invs, k, v)
		{
			const char *by = str(json_object_get(v, "acceptedBy"), "loginName");
			bool accepted = json_is_true(json_object_get(v, "accepted"));
			count++;
			if (s->mode == REPORT_JSON)
				json_array_append_new(
				    all,
				    json_pack("{s:s, s:s, s:s, s:b, s:s, s:s}", "host",
				              hs[i].server->name, "email", str(v, "email"),
				              "invite", str(v, "id"), "accepted", accepted,
				              "accepted_by", by, "created", str(v, "created")));
			else
				printf("%s: shared with %s, %s%s%s (invite %s, %s)\n",
				       hs[i].server->name,
				       *str(v, "email") ? str(v, "email") : "(a link)",
				       accepted ? "accepted" : "not accepted yet",
				       accepted && *by ? " by " : "", accepted ? by : "",
				       str(v, "id"), str(v, "created"));
		}
		json_decref(invs);
	}
	if (s->mode == REPORT_JSON) {
		report_event(s->rep, json_pack("{s:s, s:O}", "event", "shares", "shares", all));
	} else if (!count) {
		printf("no host of environment '%s' is shared\n", s->env);
	}
	json_decref(all);
	return PV_EXIT_OK;
}

static int do_unshare(struct session *s, struct ts_api *t, struct share_host *h, const char *email)
{
	struct pv_error err = {{0}};
	json_t *invs = NULL;
	size_t k, revoked = 0;
	json_t *v;
	int rc = PV_EXIT_OK;

	if (ts_invites(t, ts_device_id(h->device), &invs, &err) < 0) {
		pv_say_error("server '%s': %s", h->server->name, err.msg);
		return PV_EXIT_FAIL;
	}
	json_array_foreach(invs, k, v)
	{
		if (email && strcasecmp(str(v, "email"), email))
			continue;
		if (ts_revoke(t, str(v, "id"), &err) < 0) {
			pv_say_error("server '%s': %s", h->server->name, err.msg);
			rc = PV_EXIT_FAIL;
			break;
		}
		revoked++;
		report_line(s->rep,
		            json_pack("{s:s, s:s, s:s, s:s}", "event", "revoked", "host",
		                      h->server->name, "invite", str(v, "id"), "email",
		                      str(v, "email")),
		            "%s: revoked the invite %s%s%s", h->server->name, str(v, "id"),
		            *str(v, "email") ? " for " : "", str(v, "email"));
	}
	json_decref(invs);
	if (rc == PV_EXIT_OK && !revoked) {
		if (email)
			pv_say_error("server '%s' is not shared with %s", h->server->name, email);
		else
			pv_say_error("server '%s' is not shared", h->server->name);
		return PV_EXIT_FAIL;
	}
	if (rc == PV_EXIT_OK && s->mode != REPORT_JSON)
		report_line(s->rep, NULL,
		            "%s: %zu invite%s revoked; run 'provision%s share --acl --apply' to "
		            "close its ports to outsiders",
		            h->server->name, revoked, revoked == 1 ? "" : "s", env_opt(s));
	return rc;
}

static int do_acl(struct session *s, struct ts_api *t, struct share_host *hs, size_t n, bool apply)
{
	struct pv_error err = {{0}};
	struct ts_shared *sh = xcalloc(n ? n : 1, sizeof(*sh));
	const char **managed = xcalloc(n ? n : 1, sizeof(*managed));
	json_t *snippet = NULL, *policy = NULL;
	char *etag = NULL;
	size_t m = 0;
	int rc = PV_EXIT_FAIL;

	for (size_t i = 0; i < n; i++) {
		json_t *invs = NULL;
		const char *addr;

		managed[i] = hs[i].hostname;
		if (!hs[i].device)
			continue;
		if (ts_invites(t, ts_device_id(hs[i].device), &invs, &err) < 0) {
			pv_say_error("server '%s': %s", hs[i].server->name, err.msg);
			goto out;
		}
		size_t shared = json_array_size(invs);
		json_decref(invs);
		if (!shared)
			continue;
		addr = json_string_value(
		    json_array_get(json_object_get(hs[i].device, "addresses"), 0));
		if (!addr) {
			pv_say_error("server '%s': its device has no Tailscale address",
			             hs[i].server->name);
			goto out;
		}
		if (!hs[i].n_ports) {
			/* no rule for it: outsiders reach none of its ports */
			report_warn(
			    s->rep, hs[i].server->name,
			    "shared, but no ports to share: outsiders reach none of its "
			    "ports (set its variable 'share_ports', for example [443/tcp])");
			continue;
		}
		sh[m++] = (struct ts_shared){hs[i].hostname,
		                             addr,
		                             (const char *const *)hs[i].tags,
		                             hs[i].n_tags,
		                             (const char *const *)hs[i].ports,
		                             hs[i].n_ports};
	}
	if (ts_acl_snippet(&snippet, sh, m, &err) < 0) {
		pv_say_error("%s", err.msg);
		rc = PV_EXIT_USAGE;
		goto out;
	}
	if (!apply) {
		char *text = json_dumps(snippet, JSON_INDENT(2) | JSON_SORT_KEYS);
		report_line(
		    s->rep,
		    json_pack("{s:s, s:b, s:O}", "event", "acl", "applied", 0, "policy", snippet),
		    "// users who accepted a share reach only these ports of the shared "
		    "hosts;\n// merge into the tailnet policy file, or run 'provision "
		    "share --acl --apply'\n%s",
		    text);
		free(text);
		rc = PV_EXIT_OK;
		goto out;
	}
	if (ts_policy_get(t, &policy, &etag, &err) < 0) {
		pv_say_error("%s", err.msg);
		goto out;
	}
	ts_acl_merge(policy, snippet, managed, n);
	if (ts_policy_set(t, policy, etag, &err) < 0) {
		pv_say_error("%s", err.msg);
		goto out;
	}
	report_line(s->rep,
	            json_pack("{s:s, s:b, s:O}", "event", "acl", "applied", 1, "policy", snippet),
	            "policy file updated: %zu shared host%s, %zu rule%s for autogroup:shared", m,
	            m == 1 ? "" : "s", json_array_size(json_object_get(snippet, "acls")),
	            json_array_size(json_object_get(snippet, "acls")) == 1 ? "" : "s");
	rc = PV_EXIT_OK;
out:
	json_decref(snippet);
	json_decref(policy);
	free(etag);
	free(sh);
	free(managed);
	return rc;
}

static int run(struct session *s, int argc, char **argv, bool unshare)
{
	static const struct option opts[] = {
	    {"with", required_argument, NULL, 'w'}, {"list", no_argument, NULL, 'l'},
	    {"acl", no_argument, NULL, 'a'},        {"apply", no_argument, NULL, 'A'},
	    {"multi-use", no_argument, NULL, 'm'},  {NULL, 0, NULL, 0},
	};
	const struct cmd_entry *e = unshare ? &cmd_unshare_entry : &cmd_share_entry;
	const char *email = NULL;
	bool list = false, acl = false, apply = false, multi = false;
	struct share_host *hs = NULL, *h = NULL;
	size_t n = 0;
	json_t *devices = NULL;
	struct ts_api t;
	bool t_open = false;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'w':
			email = optarg;
			break;
		case 'l':
			list = true;
			break;
		case 'a':
			acl = true;
			break;
		case 'A':
			apply = true;
			break;
		case 'm':
			multi = true;
			break;
		default:
			pv_usage(e);
			return PV_EXIT_USAGE;
		}
	}
	int rest = argc - optind;
	bool bad = unshare ? (rest != 1 || list || acl || apply || multi)
	                   : (list  ? (rest || acl || apply || email || multi)
	                      : acl ? (rest || email || multi)
	                            : (rest != 1 || !email || apply));
	if (bad) {
		pv_usage(e);
		return PV_EXIT_USAGE;
	}
	if (email && (!strchr(email, '@') || strpbrk(email, " \t\r\n\"'<>,;"))) {
		pv_say_error("'%s' is not an email address", email);
		return PV_EXIT_USAGE;
	}
	if ((rc = session_load(s)) || (rc = load_all(s, &hs, &n)))
		goto out;
	if (rest == 1 && !(h = find_host(s, hs, n, argv[optind]))) {
		rc = PV_EXIT_USAGE;
		goto out;
	}
	/* share and unshare may record a host's node id: they take the run lock */
	if ((rc = session_open_state(s, h != NULL)) || (rc = attach_records(s, hs, n, h)))
		goto out;
	if ((rc = open_api(s, &t)))
		goto out;
	t_open = true;
	if ((rc = attach_devices(s, &t, hs, n, &devices, h)))
		goto out;
	if (unshare)
		rc = do_unshare(s, &t, h, email);
	else if (list)
		rc = do_list(s, &t, hs, n);
	else if (acl)
		rc = do_acl(s, &t, hs, n, apply);
	else
		rc = do_share(s, &t, h, email, multi);
out:
	json_decref(devices);
	if (t_open)
		ts_close(&t);
	free_all(hs, n);
	return rc;
}

static int cmd_share(struct session *s, int argc, char **argv)
{
	return run(s, argc, argv, false);
}

static int cmd_unshare(struct session *s, int argc, char **argv)
{
	return run(s, argc, argv, true);
}

#define SHARE_ENV                                                                                  \
	"\nThe token: $TAILSCALE_API_KEY or the inventory secret 'tailscale_api_key', a user's\n"  \
	"API access token (tskey-api-...); OAuth clients cannot share devices.\n"                  \
	"$TAILSCALE_BASE_URL (default https://api.tailscale.com) and $TAILSCALE_TAILNET\n"         \
	"(default '-', the token's tailnet) choose where the API is.\n"

const struct cmd_entry cmd_share_entry = {
    .name = "share",
    .usage = "share HOST --with EMAIL [--multi-use] | share --list | share --acl [--apply]",
    .summary = "share a host with an outside user through a Tailscale device invite",
    .help = "Options:\n"
            "      --with EMAIL      invite this user (Tailscale mails the invite link)\n"
            "      --multi-use       the link may be accepted more than once\n"
            "      --list            every invite of the environment's hosts\n"
            "      --acl             print the policy snippet: outsiders reach only the\n"
            "                        shared ports (share_ports) of shared hosts\n"
            "      --apply           with --acl: merge it into the tailnet's policy file\n"
            "                        (only if nobody changed it meanwhile: If-Match)\n" SHARE_ENV,
    .exec = cmd_share,
};

const struct cmd_entry cmd_unshare_entry = {
    .name = "unshare",
    .usage = "unshare HOST [--with EMAIL]",
    .summary = "revoke a host's device invites (all, or one user's)",
    .help = "Options:\n"
            "      --with EMAIL      only this user's invites\n" SHARE_ENV,
    .exec = cmd_unshare,
};

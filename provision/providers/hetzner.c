/*
 * hetzner.c - servers on Hetzner Cloud (https://docs.hetzner.cloud).
 *
 *   providers:
 *     hetzner:
 *       token: env:HCLOUD_TOKEN          # or file:PATH; default: $HCLOUD_TOKEN
 *       location: fsn1                   # default of every server
 *       type: cx22
 *       image: debian-12
 *       network: { ip_range: 10.0.0.0/16, subnet: 10.0.1.0/24, zone: eu-central }
 *       load_balancer: { type: lb11, health_path: /up, targets: [web1, web2] }
 *       poll_interval: 1                 # seconds between action polls
 *       action_timeout: 600              # seconds an action may take
 *       request_timeout: 60              # seconds one HTTP request may take
 *       parallel: 10                     # servers created, awaited, deleted at once
 *       snapshot_keep: 7                 # snapshot: the tool's newest 7 of each server stay
 *       endpoint: https://api.hetzner.cloud/v1   # https; plain http only to loopback
 *   servers:
 *     app1: { type: cx32, image: debian-12, location: nbg1,
 *             volumes: [{ name: data, size: 20 }] }
 *
 * A layout is one SSH key, one private network, one firewall, its servers
 * (with their volumes) and, when asked for, one load balancer.  Every one
 * carries the labels project, env, layout (and server), so the tool finds
 * what it made by listing with a label selector: what exists is adopted,
 * never created twice.  The id of everything created is written to the
 * state the moment the API returns it; a server's entry (with the public
 * half of its new host key) is written before the create is even sent, so
 * an interrupted run is finished by the next one and destroy finds it.
 *
 * No trust on first use: the tool makes each server's ed25519 host key and
 * hands it over in the cloud-init user_data (ssh_keys), pins it, and SSH
 * accepts only that key.  The root password the API returns when no SSH
 * key is given is never read (an SSH key is always given).
 *
 * The base URL is https://api.hetzner.cloud/v1, or 'endpoint', or
 * $HCLOUD_ENDPOINT as for the hcloud CLI; it must be https (plain http only
 * to a loopback address), checked before any request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "provision/cloud.h"
#include "provision/http.h"
#include "provision/keys.h"
#include "provision/provider.h"
#include "provision/remote.h"
#include "provision/role.h"
#include "provision/volume.h"

#define DEFAULT_ENDPOINT "https://api.hetzner.cloud/v1"
#define BOOT_TIMEOUT_MS 300000

static const char *const setting_keys[] = {
    "token",         "location",         "type",           "image",           "network",
    "load_balancer", "poll_interval",    "action_timeout", "request_timeout", "endpoint",
    "parallel",      "rotate_host_keys", "snapshot_keep"};
/* the network's, the load balancer's and a volume's keys with their types (vartype.h) */
static const char nested_types[] = "network: { ip_range: cidr, subnet: cidr, zone: name }\n"
                                   "load_balancer:\n"
                                   "  type: name\n"
                                   "  health_path: path\n"
                                   "  targets: { type: list, of: name }\n"
                                   "  location: name\n"
                                   "volume:\n"
                                   "  name: name\n"
                                   "  size: { type: int, min: 10, max: 10240 }\n" VOLUME_KEY_TYPES;

struct hz {
	struct provider_ctx *c;
	struct http_client http;
	bool http_open;
	char *prefix; /* shop-default-phase1: names of what the layout owns */
	char *selector; /* project==shop,env==default,layout==phase1 (escaped) */
	double poll_s;
	long action_timeout_s;
	const char *ip_range, *subnet, *zone;
};

static bool valid_label_value(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		             (ch >= '0' && ch <= '9');
		if (!alnum && ((i == 0 || i == n - 1) || !strchr("-_.", ch)))
			return false;
	}
	return true;
}

static bool volume_name_ok(const char *s)
{
	return s && valid_label_value(s);
}

static const struct cloud_rules settings_rules = {
    .provider = "hetzner",
    .keys = setting_keys,
    .n_keys = PV_ARRAY_SIZE(setting_keys),
    .net = "network",
    .nested_types = nested_types,
    .foreign_provider = "DigitalOcean",
    .foreign = {"region", "size"},
    .own = {"location", "type"},
    .volume_name_ok = volume_name_ok,
    .volume_name_rule = "a volume's 'name' must be made of letters, digits and '-'",
    .endpoint_env = "HCLOUD_ENDPOINT",
};

static void hetzner_validate(const struct inventory *inv, const struct inv_layout *l,
                             const struct node *settings, struct diags *d)
{
	cloud_validate(&settings_rules, inv, l, settings, d);
	if (!valid_label_value(inv->project))
		diags_add(d, &l->pos, "project name '%s' cannot be a Hetzner label", inv->project);
}

static void hetzner_check_api(const struct node *settings, struct diags *d)
{
	cloud_check_endpoint(&settings_rules, settings, d);
}

/* ---- the API ---- */

static void note(void *arg, const char *msg)
{
	struct hz *z = arg;

	report_info(z->c->rep, NULL, "hetzner: %s", msg);
}

static int hz_open(struct hz *z, struct provider_ctx *c, bool api, struct pv_error *err)
{
	const struct node *net = node_get(c->settings, "network");
	const char *ep = getenv("HCLOUD_ENDPOINT");
	char *token = NULL, *sel;

	memset(z, 0, sizeof(*z));
	z->c = c;
	z->prefix = xasprintf("%s-%s-%s", c->inv->project, c->env, c->layout->name);
	sel = xasprintf("project==%s,env==%s,layout==%s", c->inv->project, c->env, c->layout->name);
	z->selector = http_escape(sel);
	free(sel);
	z->poll_s = strtod(cloud_setting(c, "poll_interval", "1"), NULL);
	z->action_timeout_s = strtol(cloud_setting(c, "action_timeout", "600"), NULL, 10);
	z->ip_range = cloud_str(net, "ip_range") ? cloud_str(net, "ip_range") : "10.0.0.0/16";
	z->subnet = cloud_str(net, "subnet") ? cloud_str(net, "subnet") : "10.0.1.0/24";
	z->zone = cloud_str(net, "zone") ? cloud_str(net, "zone") : "eu-central";
	if (!api)
		return 0;
	if (provider_token(&provider_hetzner, c->settings, &token, err) < 0)
		return -1;
	report_secret(token);
	int rc = http_client_init(
	    &z->http, ep && *ep ? ep : cloud_setting(c, "endpoint", DEFAULT_ENDPOINT), token, err);
	pv_free_secret(token);
	if (rc < 0)
		return -1;
	z->http_open = true;
	/* one attempt's limit; a request that takes longer is retried (reads) or looked for */
	z->http.timeout_s = strtol(cloud_setting(c, "request_timeout", "60"), NULL, 10);
	z->http.note = note;
	z->http.note_arg = z;
	z->http.rl_gradual = true; /* the budget refills evenly until the reset */
	return 0;
}

static void hz_close(struct hz *z)
{
	if (z->http_open)
		http_client_release(&z->http);
	free(z->prefix);
	free(z->selector);
}

static json_t *labels(const struct hz *z, const char *kind, const char *server)
{
	json_t *l =
	    json_pack("{s:s, s:s, s:s, s:s, s:s}", "project", z->c->inv->project, "env", z->c->env,
	              "layout", z->c->layout->name, "managed-by", "provision", "resource", kind);

	if (server)
		json_object_set_new(l, "server", json_string(server));
	return l;
}

/* Does the resource carry the tool's mark? */
static bool managed(const json_t *r, void *arg)
{
	const char *m = cloud_jstr(json_object_get(r, "labels"), "managed-by");

	(void)arg;
	return m && !strcmp(m, "provision");
}

/*
 * The element named name, when the tool made it (managed-by): one carrying
 * the layout's labels but not that mark is someone else's, never adopted.
 */
static json_t *find_mine(json_t *arr, const char *name)
{
	json_t *v = cloud_find_name(arr, name);

	return v && managed(v, NULL) ? v : NULL;
}

struct kind_arg {
	struct hz *z;
	const char *kind; /* "networks" */
};

static int list(struct hz *z, const char *kind, json_t **out, struct pv_error *err);

static int list_kind(void *arg, json_t **all, struct pv_error *err)
{
	struct kind_arg *a = arg;

	return list(a->z, a->kind, all, err);
}

/* The resource of kind named name, whoever made it: a new reference, or NULL. */
static int by_name(struct hz *z, const char *kind, const char *name, json_t **found,
                   struct pv_error *err)
{
	char *esc = http_escape(name), *path = xasprintf("/%s?name=%s", kind, esc);
	json_t *all = NULL;
	int rc = http_get_all(&z->http, path, kind, HTTP_PAGES_HETZNER, &all, err);

	*found = rc == 0 && json_array_size(all) ? json_incref(json_array_get(all, 0)) : NULL;
	json_decref(all);
	free(path);
	free(esc);
	return rc;
}

/* Why a resource that has the layout's name is not ours. */
static const char *not_ours_why(struct hz *z, const json_t *v)
{
	json_t *l = json_object_get(v, "labels");
	const char *p = cloud_jstr(l, "project"), *e = cloud_jstr(l, "env"),
	           *y = cloud_jstr(l, "layout");

	if (p && e && y && !strcmp(p, z->c->inv->project) && !strcmp(e, z->c->env) &&
	    !strcmp(y, z->c->layout->name))
		return "it has this layout's labels but not managed-by=provision";
	return "it does not carry this layout's labels";
}

/* After a 409: name the resource that holds the name, and say what to do. */
static void name_taken(struct hz *z, const char *kind, const char *what, const char *name,
                       struct pv_error *err)
{
	struct pv_error e = {{0}};
	json_t *v = NULL;

	if (by_name(z, kind, name, &v, &e) < 0 || !v)
		return;
	pv_error_set(err,
	             "%s %s: the name is taken by %s %lld, which is not ours (%s): rename or "
	             "delete it, or use another project, environment or layout name",
	             what, name, what, cloud_jid(v, "id"), not_ours_why(z, v));
	json_decref(v);
}

/*
 * POST /kind once (cloud_create): the id of what was made or found goes to
 * *id; the create's action (or actions), when it answered, to *actions.
 */
static int create(struct hz *z, const char *kind, const char *one, const char *name,
                  const char *what, const char *host, json_t *body, long long *id, json_t **actions,
                  long *status, struct pv_error *err)
{
	struct kind_arg ka = {z, kind};
	char *path = xasprintf("/%s", kind);
	struct cloud_create cc = {.http = &z->http,
	                          .rep = z->c->rep,
	                          .host = host,
	                          .what = what,
	                          .name = name,
	                          .path = path,
	                          .body = body,
	                          .one = one,
	                          .list = list_kind,
	                          .mine = managed,
	                          .arg = &ka};
	json_t *made = NULL, *resp = NULL;
	int rc = cloud_create(&cc, &made, &resp, err);

	if (rc < 0 && cc.status == 409)
		name_taken(z, kind, what, name, err);
	*id = cloud_jid(made, "id");
	if (actions)
		*actions = json_object_get(resp, "action")
		               ? json_pack("[O]", json_object_get(resp, "action"))
		               : json_incref(json_object_get(resp, "actions"));
	if (status)
		*status = cc.status;
	json_decref(made);
	json_decref(resp);
	free(path);
	return rc;
}

/* Send and expect one of the statuses (0 ends the list); the response stays in r. */
static int call(struct hz *z, const char *method, const char *path, json_t *body, unsigned flags,
                struct http_response *r, struct pv_error *err, const char *what)
{
	struct http_opts o = {.flags = flags, .body = body};
	int rc;

	http_response_init(r);
	rc = http_request(&z->http, method, path, &o, r, err);
	if (rc < 0)
		return pv_error_prefix(err, "%s", what);
	if (r->status < 200 || r->status > 299)
		return http_fail(r, err, "%s", what);
	return 0;
}

/* What the layout owns of one kind: GET /kind?label_selector=..., every page. */
static int list(struct hz *z, const char *kind, json_t **out, struct pv_error *err)
{
	char *path = xasprintf("/%s?label_selector=%s", kind, z->selector);
	int rc = http_get_all(&z->http, path, kind, HTTP_PAGES_HETZNER, out, err);

	free(path);
	return rc;
}

static json_t *find_id(json_t *arr, long long id)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
	{
		if (id && cloud_jid(v, "id") == id)
			return v;
	}
	return NULL;
}

/* Poll an action to its end, with progress (host's line, or NULL), within the time limit. */
static int wait_host_action(struct hz *z, long long id, const char *host, const char *what,
                            struct pv_error *err)
{
	long long deadline = pv_now_ms() + z->action_timeout_s * 1000LL;
	long last = -1;

	for (;;) {
		struct http_response r;
		char *path = xasprintf("/actions/%lld", id);
		int rc = call(z, "GET", path, NULL, 0, &r, err, what);
		free(path);
		if (rc < 0) {
			http_response_release(&r);
			return -1;
		}
		json_t *a = json_object_get(r.json, "action");
		const char *st = cloud_jstr(a, "status");
		long prog = (long)cloud_jid(a, "progress");
		if (st && !strcmp(st, "success")) {
			if (last >= 0)
				report_progress_end(z->c->rep, host, what, "done");
			http_response_release(&r);
			return 0;
		}
		if (st && !strcmp(st, "error")) {
			json_t *e = json_object_get(a, "error");
			report_progress_end(z->c->rep, host, what, "failed");
			pv_error_set(err, "%s: action %lld (%s) failed: %s: %s", what, id,
			             cloud_jstr(a, "command") ? cloud_jstr(a, "command") : "?",
			             cloud_jstr(e, "code") ? cloud_jstr(e, "code") : "error",
			             cloud_jstr(e, "message") ? cloud_jstr(e, "message")
			                                      : "no message");
			http_response_release(&r);
			return -1;
		}
		if (prog != last) {
			report_progress(z->c->rep, host, what, "%ld%%", prog);
			last = prog;
		}
		http_response_release(&r);
		if (pv_now_ms() > deadline) {
			report_progress_end(z->c->rep, host, what, "not done in time");
			return pv_error_set(err, "%s: action %lld did not finish within %ld s",
			                    what, id, z->action_timeout_s);
		}
		usleep((useconds_t)(z->poll_s * 1e6));
	}
}

static int wait_action(struct hz *z, long long id, const char *what, struct pv_error *err)
{
	return wait_host_action(z, id, NULL, what, err);
}

static int wait_actions(struct hz *z, json_t *acts, const char *what, struct pv_error *err)
{
	size_t i;
	json_t *a;

	json_array_foreach(acts, i, a)
	{
		if (wait_action(z, cloud_jid(a, "id"), what, err) < 0)
			return -1;
	}
	return 0;
}

static json_t *pdata(struct provider_ctx *c)
{
	return state_obj(c->lstate, "provider_data", true);
}

static json_t *hosts_obj(struct provider_ctx *c, bool create)
{
	return state_obj(c->lstate, "hosts", create);
}

static void set_id(json_t *o, const char *key, long long id)
{
	json_object_set_new(o, key, json_integer(id));
}

/* ---- what the layout should have ---- */

static char *ssh_key_name(const struct hz *z)
{
	return xasprintf("%s", z->prefix);
}

/*
 * Server names are unique per project: app1.phase1.default.shop, so every
 * environment and layout of a project can have its app1.  The host name on
 * the server is app1 (cloud-init sets it).
 */
static char *server_name(const struct hz *z, const char *server)
{
	return xasprintf("%s.%s.%s.%s", server, z->c->layout->name, z->c->env, z->c->inv->project);
}

/* Firewall rules mirroring the hosts' own firewalls. */
static json_t *firewall_rules(struct hz *z, struct pv_error *err)
{
	json_t *rules = json_array();
	struct cloud_port ports[64];
	size_t n = cloud_firewall_ports(z->c, ports, PV_ARRAY_SIZE(ports));

	for (size_t i = 0; i < n; i++) {
		char port[32];
		if (ports[i].port_end > ports[i].port)
			snprintf(port, sizeof(port), "%d-%d", ports[i].port, ports[i].port_end);
		else
			snprintf(port, sizeof(port), "%d", ports[i].port);
		json_t *src = *ports[i].source        ? json_pack("[s]", ports[i].source)
		              : ports[i].private_only ? json_pack("[s]", z->ip_range)
		                                      : json_pack("[s,s]", "0.0.0.0/0", "::/0");
		json_array_append_new(
		    rules, json_pack("{s:s, s:s, s:s, s:o, s:s}", "direction", "in", "protocol",
		                     ports[i].proto, "port", port, "source_ips", src, "description",
		                     *ports[i].source        ? "from one network"
		                     : ports[i].private_only ? "private network only"
		                                             : "open"));
	}
	json_array_append_new(rules, json_pack("{s:s, s:s, s:[s,s], s:s}", "direction", "in",
	                                       "protocol", "icmp", "source_ips", "0.0.0.0/0",
	                                       "::/0", "description", "ping"));
	(void)err;
	return rules;
}

/* Do two rule lists say the same (the fields the tool sets)? */
static bool rules_equal(json_t *a, json_t *b)
{
	static const char *const keys[] = {"direction", "protocol", "port"};

	if (json_array_size(a) != json_array_size(b))
		return false;
	for (size_t i = 0; i < json_array_size(a); i++) {
		json_t *x = json_array_get(a, i), *y = json_array_get(b, i);
		for (size_t k = 0; k < PV_ARRAY_SIZE(keys); k++) {
			const char *p = cloud_jstr(x, keys[k]), *q = cloud_jstr(y, keys[k]);
			if ((p || q) && (!p || !q || strcmp(p, q)))
				return false;
		}
		if (!json_equal(json_object_get(x, "source_ips"), json_object_get(y, "source_ips")))
			return false;
	}
	return true;
}

/*
 * What the inventory asks for but an existing server is not (type, image,
 * location): not changed in place, which would mean a resize or a rebuild
 * the operator should choose.  One line each, to the plan or as warnings.
 */
static void drift(const struct provider_ctx *c, const struct inv_server *s, json_t *srv,
                  struct buf *plan)
{
	static const char *const keys[][3] = {
	    {"type", "server_type", "cx22"},
	    {"image", "image", "debian-12"},
	    {"location", "location", "fsn1"},
	};

	for (size_t i = 0; i < PV_ARRAY_SIZE(keys); i++)
		cloud_drift(c, "server", s, keys[i][0],
		            cloud_jstr(json_object_get(srv, keys[i][1]), "name"),
		            cloud_server_setting(c, s, keys[i][0], keys[i][2]), plan);
}

/* ---- hosts from the state ---- */

char *hetzner_volume_device(long long volume_id)
{
	/* the API's linux_device: the volume's id is its SCSI serial */
	return volume_id > 0 ? xasprintf("/dev/disk/by-id/scsi-0HC_Volume_%lld", volume_id) : NULL;
}

static char *volume_device(const struct provider_ctx *c, const struct inv_server *s,
                           const char *name)
{
	json_t *pd = state_obj(c->lstate, "provider_data", false);
	char *key = xasprintf("%s/%s", s->name, name);
	long long id = cloud_jid(state_obj(pd, "volumes", false), key);

	free(key);
	return hetzner_volume_device(id);
}

static int hetzner_hosts(struct provider_ctx *c, struct host **out, size_t *n, struct pv_error *err)
{
	const char *subnet = cloud_str(node_get(c->settings, "network"), "subnet");

	(void)err;
	return cloud_hosts(c, "hetzner", "server_id", "image", "debian-12",
	                   subnet ? subnet : "10.0.1.0/24", volume_device, out, n);
}

/* ---- up ---- */

static int ensure_ssh_key(struct hz *z, bool *changed, struct pv_error *err)
{
	json_t *pd = pdata(z->c), *keys = NULL, *k;
	char *name = ssh_key_name(z);
	struct http_response r;
	int rc = -1;

	if (list(z, "ssh_keys", &keys, err) < 0)
		goto out;
	k = find_id(keys, cloud_jid(pd, "ssh_key_id"));
	if (!k)
		k = find_mine(keys, name);
	if (k && cloud_same_key(cloud_jstr(k, "public_key"), z->c->admin_public_key)) {
		set_id(pd, "ssh_key_id", cloud_jid(k, "id"));
		rc = state_save(z->c->state, err);
		goto out;
	}
	if (k) {
		/* the operator's key changed: the old one goes, the new one comes */
		char *p = xasprintf("/ssh_keys/%lld", cloud_jid(k, "id"));
		rc = call(z, "DELETE", p, NULL, 0, &r, err, "deleting the old SSH key");
		free(p);
		http_response_release(&r);
		if (rc < 0)
			goto out;
		rc = -1;
	}
	if (!k) {
		/* the project may have the key already, unlabelled, under another name */
		json_t *every = NULL, *v;
		size_t i;
		if (http_get_all(&z->http, "/ssh_keys", "ssh_keys", HTTP_PAGES_HETZNER, &every,
		                 err) < 0)
			goto out;
		json_array_foreach(every, i, v)
		{
			if (!k &&
			    cloud_same_key(cloud_jstr(v, "public_key"), z->c->admin_public_key)) {
				report_info(z->c->rep, NULL,
				            "the project has this SSH key as '%s'; using it",
				            cloud_jstr(v, "name") ? cloud_jstr(v, "name") : "?");
				set_id(pd, "ssh_key_id", cloud_jid(v, "id"));
				k = v;
			}
		}
		json_decref(every);
		if (k) {
			rc = state_save(z->c->state, err);
			goto out;
		}
	}
	report_info(z->c->rep, NULL, "creating SSH key %s", name);
	json_t *body = json_pack("{s:s, s:s, s:o}", "name", name, "public_key",
	                         z->c->admin_public_key, "labels", labels(z, "ssh-key", NULL));
	long long id;
	long status;
	int c1 =
	    create(z, "ssh_keys", "ssh_key", name, "SSH key", NULL, body, &id, NULL, &status, err);
	json_decref(body);
	if (c1 < 0 && status == 409) {
		/* the project has this key under another name: use it, never delete it */
		json_t *every = NULL, *v;
		size_t i;
		struct pv_error e2 = {{0}};
		if (http_get_all(&z->http, "/ssh_keys", "ssh_keys", HTTP_PAGES_HETZNER, &every,
		                 &e2) == 0) {
			json_array_foreach(every, i, v)
			{
				if (cloud_same_key(cloud_jstr(v, "public_key"),
				                   z->c->admin_public_key)) {
					report_info(
					    z->c->rep, NULL,
					    "the project has this SSH key as '%s'; using it",
					    cloud_jstr(v, "name") ? cloud_jstr(v, "name") : "?");
					set_id(pd, "ssh_key_id", cloud_jid(v, "id"));
					c1 = 0;
				}
			}
		}
		json_decref(every);
		if (c1 < 0)
			goto out;
		rc = state_save(z->c->state, err);
		goto out;
	}
	if (c1 < 0)
		goto out;
	set_id(pd, "ssh_key_id", id);
	*changed = true;
	rc = state_save(z->c->state, err);
out:
	json_decref(keys);
	free(name);
	return rc;
}

static int ensure_network(struct hz *z, bool *changed, struct pv_error *err)
{
	json_t *pd = pdata(z->c), *nets = NULL, *n;
	int rc = -1;

	if (list(z, "networks", &nets, err) < 0)
		goto out;
	n = find_id(nets, cloud_jid(pd, "network_id"));
	if (!n)
		n = find_mine(nets, z->prefix);
	if (n) {
		if (cloud_jstr(n, "ip_range") && strcmp(cloud_jstr(n, "ip_range"), z->ip_range)) {
			pv_error_set(err,
			             "network %s has ip_range %s, the inventory asks for %s; a "
			             "network's range is not changed in place",
			             z->prefix, cloud_jstr(n, "ip_range"), z->ip_range);
			goto out;
		}
		set_id(pd, "network_id", cloud_jid(n, "id"));
		rc = state_save(z->c->state, err);
		goto out;
	}
	report_info(z->c->rep, NULL, "creating network %s (%s)", z->prefix, z->ip_range);
	json_t *body =
	    json_pack("{s:s, s:s, s:[{s:s, s:s, s:s}], s:o}", "name", z->prefix, "ip_range",
	              z->ip_range, "subnets", "type", "cloud", "ip_range", z->subnet,
	              "network_zone", z->zone, "labels", labels(z, "network", NULL));
	long long id;
	int c1 = create(z, "networks", "network", z->prefix, "network", NULL, body, &id, NULL, NULL,
	                err);
	json_decref(body);
	if (c1 == 0) {
		set_id(pd, "network_id", id);
		*changed = true;
		rc = state_save(z->c->state, err);
	}
out:
	json_decref(nets);
	return rc;
}

static int ensure_firewall(struct hz *z, bool *changed, struct pv_error *err)
{
	json_t *pd = pdata(z->c), *fws = NULL, *f, *rules = firewall_rules(z, err);
	struct http_response r;
	int rc = -1;

	if (list(z, "firewalls", &fws, err) < 0)
		goto out;
	f = find_id(fws, cloud_jid(pd, "firewall_id"));
	if (!f)
		f = find_mine(fws, z->prefix);
	if (f) {
		set_id(pd, "firewall_id", cloud_jid(f, "id"));
		if (state_save(z->c->state, err) < 0)
			goto out;
		if (!rules_equal(json_object_get(f, "rules"), rules)) {
			report_info(z->c->rep, NULL, "updating the rules of firewall %s",
			            z->prefix);
			char *p =
			    xasprintf("/firewalls/%lld/actions/set_rules", cloud_jid(f, "id"));
			json_t *body = json_pack("{s:O}", "rules", rules);
			int c1 =
			    call(z, "POST", p, body, 0, &r, err, "updating the firewall rules");
			json_decref(body);
			free(p);
			if (c1 == 0)
				c1 = wait_actions(z, json_object_get(r.json, "actions"),
				                  "firewall rules", err);
			http_response_release(&r);
			if (c1 < 0)
				goto out;
			*changed = true;
		}
		rc = 0;
		goto out;
	}
	report_info(z->c->rep, NULL, "creating firewall %s (%zu rules)", z->prefix,
	            json_array_size(rules));
	json_t *body = json_pack("{s:s, s:O, s:o}", "name", z->prefix, "rules", rules, "labels",
	                         labels(z, "firewall", NULL));
	long long id;
	json_t *acts = NULL;
	int c1 = create(z, "firewalls", "firewall", z->prefix, "firewall", NULL, body, &id, &acts,
	                NULL, err);
	json_decref(body);
	if (c1 == 0) {
		set_id(pd, "firewall_id", id);
		*changed = true;
		rc = state_save(z->c->state, err);
		if (rc == 0)
			rc = wait_actions(z, acts, "firewall", err);
	}
	json_decref(acts);
out:
	json_decref(fws);
	json_decref(rules);
	return rc;
}

/* Record what the API says of a server: id, addresses (under cloud_lock). */
static void record_server(json_t *o, json_t *srv)
{
	json_t *pn = json_object_get(srv, "private_net");
	const char *ip =
	    cloud_jstr(json_object_get(json_object_get(srv, "public_net"), "ipv4"), "ip");

	set_id(o, "server_id", cloud_jid(srv, "id"));
	if (ip)
		state_set_str(o, "address", ip);
	if (json_array_size(pn) && cloud_jstr(json_array_get(pn, 0), "ip"))
		state_set_str(o, "private_address", cloud_jstr(json_array_get(pn, 0), "ip"));
}

/* Wait until a server is running, and record its addresses. */
static int wait_server(struct hz *z, long long id, const char *name, json_t *o,
                       struct pv_error *err)
{
	long long deadline = pv_now_ms() + z->action_timeout_s * 1000LL;
	char *path = xasprintf("/servers/%lld", id), *what = xasprintf("server %s", name);
	char last[32] = "";
	int rc = -1;

	for (;;) {
		struct http_response r;
		int c1 = call(z, "GET", path, NULL, 0, &r, err, what);
		if (c1 < 0) {
			http_response_release(&r);
			break;
		}
		json_t *srv = json_object_get(r.json, "server");
		cloud_lock();
		record_server(o, srv);
		cloud_unlock();
		const char *st = cloud_jstr(srv, "status");
		bool running = st && !strcmp(st, "running");
		if (!running && strcmp(st ? st : "?", last))
			report_info(z->c->rep, name, "server %s is %s; waiting until it runs", name,
			            st ? st : "?");
		snprintf(last, sizeof(last), "%s", st ? st : "?");
		http_response_release(&r);
		if (running) {
			rc = 0;
			break;
		}
		if (pv_now_ms() > deadline) {
			pv_error_set(err, "server %s is not running after %ld s (status %s)", name,
			             z->action_timeout_s, st ? st : "?");
			break;
		}
		usleep((useconds_t)(z->poll_s * 1e6));
	}
	free(what);
	free(path);
	return rc;
}

/*
 * Create one server (cloud_create: a lost answer or a 5xx is looked for
 * before the create is sent again, after the answer's Retry-After).  Its
 * host key is made and recorded first, so the server found later is
 * trusted with the key it was given.
 */
static int create_server(struct hz *z, const struct inv_server *s, json_t *o, long long *action,
                         struct pv_error *err)
{
	struct provider_ctx *c = z->c;
	json_t *pd = pdata(c), *acts = NULL;
	char *priv = NULL, *pub = NULL, *comment = xasprintf("root@%s", s->name);
	char *name = server_name(z, s->name), *ud = NULL;
	long long id = 0;
	int rc = -1;

	if (keygen_ed25519(&priv, &pub, comment, err) < 0)
		goto out;
	/* recorded before the request: an interrupted create is found and finished */
	cloud_lock();
	state_set_str(o, "host_key", pub);
	state_set_str(o, "status", "creating");
	json_object_del(o, "server_id");
	rc = state_save(c->state, err);
	cloud_unlock();
	if (rc < 0)
		goto out;
	ud = cloud_user_data(s->name, c->admin_user, c->admin_public_key, priv, pub);
	json_t *lab = labels(z, "server", s->name);
	if (cloud_is_lb_target(c, s->name))
		json_object_set_new(lab, "lb-target", json_string("true"));
	/* the API takes SSH key names or ids as strings */
	char idbuf[32];
	snprintf(idbuf, sizeof(idbuf), "%lld", cloud_jid(pd, "ssh_key_id"));
	json_t *body =
	    json_pack("{s:s, s:s, s:s, s:s, s:[s], s:[I], s:[{s:I}], s:s, s:o, s:b, s:{s:b, s:b}}",
	              "name", name, "server_type", cloud_server_setting(c, s, "type", "cx22"),
	              "image", cloud_server_setting(c, s, "image", "debian-12"), "location",
	              cloud_server_setting(c, s, "location", "fsn1"), "ssh_keys", idbuf, "networks",
	              (json_int_t)cloud_jid(pd, "network_id"), "firewalls", "firewall",
	              (json_int_t)cloud_jid(pd, "firewall_id"), "user_data", ud, "labels", lab,
	              "start_after_create", 1, "public_net", "enable_ipv4", 1, "enable_ipv6", 1);
	report_info(c->rep, s->name, "creating server %s (%s, %s, %s)", name,
	            cloud_server_setting(c, s, "type", "cx22"),
	            cloud_server_setting(c, s, "image", "debian-12"),
	            cloud_server_setting(c, s, "location", "fsn1"));
	/* root_password in the answer is never read: the server was given an SSH key */
	rc = create(z, "servers", "server", name, "server", s->name, body, &id, &acts, NULL, err);
	json_decref(body);
	if (rc < 0)
		goto out;
	*action = cloud_jid(json_array_get(acts, 0), "id");
	cloud_lock();
	set_id(o, "server_id", id);
	state_set_str(o, "status", "created");
	rc = state_save(c->state, err);
	cloud_unlock();
out:
	json_decref(acts);
	pv_free_secret(priv);
	if (ud)
		pv_free_secret(ud);
	free(pub);
	free(comment);
	free(name);
	return rc;
}

static json_t *server_find(void *arg, json_t *listed, const struct inv_server *s, json_t *o)
{
	char *name = server_name(arg, s->name);
	json_t *srv = find_id(listed, cloud_jid(o, "server_id"));

	if (!srv)
		srv = find_mine(listed, name);
	free(name);
	return srv;
}

static int server_power_on(void *arg, json_t *srv, long long *action, struct pv_error *err)
{
	char *p = xasprintf("/servers/%lld/actions/poweron", cloud_jid(srv, "id"));
	struct http_response r;
	int rc = call(arg, "POST", p, NULL, 0, &r, err, "powering on");

	if (rc == 0)
		*action = cloud_jid(json_object_get(r.json, "action"), "id");
	http_response_release(&r);
	free(p);
	return rc;
}

static int server_create(void *arg, const struct inv_server *s, json_t *o, long long *action,
                         struct pv_error *err)
{
	return create_server(arg, s, o, action, err);
}

static int server_wait(void *arg, const struct inv_server *s, json_t *o, long long action,
                       bool running, struct pv_error *err)
{
	char *what = xasprintf("server %s", s->name);
	int rc = action ? wait_host_action(arg, action, s->name, what, err) : 0;

	free(what);
	if (rc == 0 && !running)
		rc = wait_server(arg, cloud_jid(o, "server_id"), s->name, o, err);
	return rc;
}

/* Hetzner's daily backups are on when the server has a backup window. */
static bool server_backups_on(json_t *srv)
{
	return json_is_string(json_object_get(srv, "backup_window"));
}

static int server_backups(void *arg, const struct inv_server *s, json_t *o, bool on,
                          struct pv_error *err)
{
	struct hz *z = arg;
	long long id = cloud_jid(o, "server_id");
	char *path =
	    xasprintf("/servers/%lld/actions/%s", id, on ? "enable_backup" : "disable_backup");
	char *get = xasprintf("/servers/%lld", id);
	struct cloud_backups b = {.http = &z->http,
	                          .rep = z->c->rep,
	                          .kind = "server",
	                          .host = s->name,
	                          .on = on,
	                          .path = path,
	                          .get = get,
	                          .one = "server",
	                          .on_now = server_backups_on};
	int rc = cloud_backups_switch(&b, err);

	if (rc == 0 && b.action)
		rc = wait_host_action(z, b.action, s->name, b.what, err);
	free(get);
	free(path);
	return rc;
}

static const char *server_listed_name(json_t *srv)
{
	return cloud_jstr(json_object_get(srv, "labels"), "server");
}

static int ensure_servers(struct hz *z, bool *changed, struct pv_error *err)
{
	struct cloud_servers cs = {.c = z->c,
	                           .kind = "server",
	                           .marks = "labels",
	                           .id_key = "server_id",
	                           .running = "running",
	                           .arg = z,
	                           .find = server_find,
	                           .record = record_server,
	                           .drift = drift,
	                           .power_on = server_power_on,
	                           .create = server_create,
	                           .wait = server_wait,
	                           .listed_name = server_listed_name,
	                           .backups_on = server_backups_on,
	                           .backups = server_backups};
	int rc = -1;

	if (list(z, "servers", &cs.listed, err) == 0)
		rc = cloud_servers(&cs, err);
	*changed = *changed || cs.changed;
	json_decref(cs.listed);
	return rc;
}

static int ensure_volumes(struct hz *z, bool *changed, struct pv_error *err)
{
	struct provider_ctx *c = z->c;
	json_t *vols = NULL, *vs = state_obj(pdata(c), "volumes", true);
	int rc = -1;

	bool any = false;
	for (size_t i = 0; i < c->layout->n_servers; i++)
		any = any || cloud_server_volumes(&c->layout->servers[i]);
	if (!any)
		return 0;
	if (list(z, "volumes", &vols, err) < 0)
		return -1;
	for (size_t i = 0; i < c->layout->n_servers; i++) {
		const struct inv_server *s = &c->layout->servers[i];
		const struct node *sv = cloud_server_volumes(s);
		json_t *o = state_obj(hosts_obj(c, true), s->name, false);
		for (size_t k = 0; sv && k < sv->n; k++) {
			const char *vn = cloud_str(sv->items[k], "name");
			char *key = xasprintf("%s/%s", s->name, vn);
			char *name = xasprintf("%s-%s-%s", z->prefix, s->name, vn);
			json_t *v = find_id(vols, cloud_jid(vs, key));
			if (!v)
				v = find_mine(vols, name);
			if (v) {
				set_id(vs, key, cloud_jid(v, "id"));
				free(key);
				free(name);
				continue;
			}
			report_info(c->rep, s->name, "creating volume %s (%s GB)", name,
			            cloud_str(sv->items[k], "size"));
			json_t *lab = labels(z, "volume", s->name);
			json_object_set_new(lab, "volume", json_string(vn));
			json_t *body =
			    json_pack("{s:s, s:I, s:I, s:b, s:s, s:o}", "name", name, "size",
			              (json_int_t)atoll(cloud_str(sv->items[k], "size")), "server",
			              (json_int_t)cloud_jid(o, "server_id"), "automount", 0,
			              "format", volume_filesystem(sv->items[k]), "labels", lab);
			long long id;
			json_t *acts = NULL;
			int c1 = create(z, "volumes", "volume", name, "volume", s->name, body, &id,
			                &acts, NULL, err);
			json_decref(body);
			if (c1 == 0) {
				set_id(vs, key, id);
				c1 = state_save(c->state, err);
				if (c1 == 0)
					c1 = wait_actions(z, acts, name, err);
			}
			json_decref(acts);
			free(key);
			free(name);
			if (c1 < 0)
				goto out;
			*changed = true;
		}
	}
	rc = state_save(c->state, err);
out:
	json_decref(vols);
	return rc;
}

/* The health check path of the load balancer's HTTP service on port 80, or NULL. */
static const char *lb_health_path(json_t *lb)
{
	size_t i;
	json_t *svc;

	json_array_foreach(json_object_get(lb, "services"), i, svc)
	{
		if (cloud_jid(svc, "listen_port") == 80)
			return cloud_jstr(
			    json_object_get(json_object_get(svc, "health_check"), "http"), "path");
	}
	return NULL;
}

/* POST body (taken) to the load balancer's action ACTION and wait for it. */
static int lb_action(struct hz *z, json_t *lb, const char *action, json_t *body, const char *doing,
                     struct pv_error *err)
{
	char *p = xasprintf("/load_balancers/%lld/actions/%s", cloud_jid(lb, "id"), action);
	struct http_response r;
	int rc = call(z, "POST", p, body, 0, &r, err, doing);

	json_decref(body);
	free(p);
	if (rc == 0)
		rc = wait_action(z, cloud_jid(json_object_get(r.json, "action"), "id"),
		                 "load balancer", err);
	http_response_release(&r);
	return rc;
}

/* The load balancer's type as the inventory wants it and as the cloud has it. */
static const char *lb_type_want(const struct provider_ctx *c)
{
	const char *t = cloud_str(cloud_lb(c), "type");

	return t ? t : "lb11";
}

static const char *lb_type_have(json_t *lb)
{
	return cloud_jstr(json_object_get(lb, "load_balancer_type"), "name");
}

/*
 * Whether a server of the layout is to join (1) or leave (-1) the load
 * balancer's targets, which it picks by the label lb-target: set at the
 * server's create, and changed here when the inventory's targets change.
 */
static int lb_target_move(const struct provider_ctx *c, const struct inv_server *s, json_t *srv)
{
	bool want = cloud_lb(c) && cloud_is_lb_target(c, s->name);
	const char *have = cloud_jstr(json_object_get(srv, "labels"), "lb-target");
	bool is = have && !strcmp(have, "true");

	return want == is ? 0 : want ? 1 : -1;
}

static int ensure_lb_targets(struct hz *z, bool *changed, struct pv_error *err)
{
	struct provider_ctx *c = z->c;
	json_t *srvs = NULL;
	int rc = 0;

	if (list(z, "servers", &srvs, err) < 0)
		return -1;
	for (size_t i = 0; rc == 0 && i < c->layout->n_servers; i++) {
		const struct inv_server *s = &c->layout->servers[i];
		char *name = server_name(z, s->name);
		json_t *srv = find_mine(srvs, name);
		int move = srv ? lb_target_move(c, s, srv) : 0;
		if (move) {
			report_info(c->rep, s->name, "server %s %s the load balancer's targets",
			            name, move > 0 ? "joins" : "leaves");
			json_t *lab = json_deep_copy(json_object_get(srv, "labels"));
			if (move > 0)
				json_object_set_new(lab, "lb-target", json_string("true"));
			else
				json_object_del(lab, "lb-target");
			json_t *body = json_pack("{s:o}", "labels", lab);
			char *p = xasprintf("/servers/%lld", cloud_jid(srv, "id"));
			struct http_response r;
			rc = call(z, "PUT", p, body, 0, &r, err, "changing a server's labels");
			http_response_release(&r);
			json_decref(body);
			free(p);
			*changed = true;
		}
		free(name);
	}
	json_decref(srvs);
	return rc;
}

static int ensure_lb(struct hz *z, bool *changed, struct pv_error *err)
{
	struct provider_ctx *c = z->c;
	const struct node *lbs = cloud_lb(c);
	json_t *pd = pdata(c), *all = NULL, *lb;
	const char *hp = cloud_str(lbs, "health_path") ? cloud_str(lbs, "health_path") : "/";
	char *name = NULL, *sel = NULL;
	int rc = -1;

	if (!lbs)
		return 0;
	name = xasprintf("%s-lb", z->prefix);
	if (list(z, "load_balancers", &all, err) < 0)
		goto out;
	lb = find_id(all, cloud_jid(pd, "load_balancer_id"));
	if (!lb)
		lb = find_mine(all, name);
	if (lb) {
		set_id(pd, "load_balancer_id", cloud_jid(lb, "id"));
		if ((rc = state_save(c->state, err)) < 0)
			goto out;
		const char *ty = lb_type_have(lb);
		if (ty && strcmp(ty, lb_type_want(c))) {
			report_info(c->rep, NULL, "load balancer %s: type %s -> %s", name, ty,
			            lb_type_want(c));
			rc = lb_action(z, lb, "change_type",
			               json_pack("{s:s}", "load_balancer_type", lb_type_want(c)),
			               "changing the load balancer's type", err);
			*changed = true;
			if (rc < 0)
				goto out;
		}
		const char *have = lb_health_path(lb);
		if (have && strcmp(have, hp)) {
			report_info(c->rep, NULL, "load balancer %s: health check path %s -> %s",
			            name, have, hp);
			json_t *body = json_pack(
			    "{s:i, s:{s:s, s:i, s:i, s:i, s:i, s:{s:s, s:n, s:[s,s], s:b}}}",
			    "listen_port", 80, "health_check", "protocol", "http", "port", 80,
			    "interval", 15, "timeout", 10, "retries", 3, "http", "path", hp,
			    "domain", "status_codes", "2??", "3??", "tls", 0);
			rc = lb_action(z, lb, "update_service", body, "updating the load balancer",
			               err);
			*changed = true;
		}
		goto out;
	}
	sel = xasprintf("project==%s,env==%s,layout==%s,lb-target==true", c->inv->project, c->env,
	                c->layout->name);
	report_info(c->rep, NULL, "creating load balancer %s (HTTP and HTTPS, health check %s)",
	            name, hp);
	json_t *hc_http = json_pack("{s:s, s:s, s:n, s:[s,s], s:b}", "protocol", "http", "path", hp,
	                            "domain", "status_codes", "2??", "3??", "tls", 0);
	json_object_del(hc_http, "protocol");
	json_t *svc_http = json_pack(
	    "{s:s, s:i, s:i, s:b, s:{s:s, s:i, s:i, s:i, s:i, s:o}, s:{s:s, s:i, s:i, s:b}}",
	    "protocol", "http", "listen_port", 80, "destination_port", 80, "proxyprotocol", 0,
	    "health_check", "protocol", "http", "port", 80, "interval", 15, "timeout", 10,
	    "retries", 3, "http", hc_http, "http", "cookie_name", "HCLBSTICKY", "cookie_lifetime",
	    300, "timeout_idle", 60, "sticky_sessions", 0);
	json_t *svc_tls = json_pack("{s:s, s:i, s:i, s:b, s:{s:s, s:i, s:i, s:i, s:i}}", "protocol",
	                            "tcp", "listen_port", 443, "destination_port", 443,
	                            "proxyprotocol", 0, "health_check", "protocol", "tcp", "port",
	                            443, "interval", 15, "timeout", 10, "retries", 3);
	json_t *body =
	    json_pack("{s:s, s:s, s:s, s:I, s:{s:s}, s:[o,o], s:[{s:s, s:{s:s}, s:b}], s:b, s:o}",
	              "name", name, "load_balancer_type",
	              cloud_str(lbs, "type") ? cloud_str(lbs, "type") : "lb11", "location",
	              cloud_str(lbs, "location") ? cloud_str(lbs, "location")
	                                         : cloud_setting(c, "location", "fsn1"),
	              "network", (json_int_t)cloud_jid(pd, "network_id"), "algorithm", "type",
	              "round_robin", "services", svc_http, svc_tls, "targets", "type",
	              "label_selector", "label_selector", "selector", sel, "use_private_ip", 1,
	              "public_interface", 1, "labels", labels(z, "load-balancer", NULL));
	long long id;
	json_t *acts = NULL;
	int c1 = create(z, "load_balancers", "load_balancer", name, "load balancer", NULL, body,
	                &id, &acts, NULL, err);
	json_decref(body);
	if (c1 == 0) {
		set_id(pd, "load_balancer_id", id);
		c1 = state_save(c->state, err);
		if (c1 == 0)
			c1 = wait_actions(z, acts, "load balancer", err);
		*changed = true;
	}
	json_decref(acts);
	rc = c1;
out:
	json_decref(all);
	free(name);
	free(sel);
	return rc;
}

/* ---- the load balancer pair's floating IP (lb_pair: floating_ip) ---- */

static char *fip_name(const struct hz *z)
{
	return xasprintf("%s-lb", z->prefix);
}

/* The server id of the pair's first server, from the state (0: not made). */
static long long fip_first_server(struct hz *z, const char **name)
{
	const struct inv_server *s = cloud_lb_pair_server(z->c->layout, 0);

	*name = s->name;
	return cloud_jid(state_obj(hosts_obj(z->c, false), s->name, false), "server_id");
}

struct fip_look {
	struct hz *z;
	long long id, server;
};

/* After a lost answer or a 5xx of an assign: is the IP on that server? */
static int fip_assigned(void *arg, bool *done, struct pv_error *err)
{
	struct fip_look *a = arg;
	struct http_response r;
	char *p = xasprintf("/floating_ips/%lld", a->id);
	int rc = call(a->z, "GET", p, NULL, 0, &r, err, "looking at the floating IP");

	*done = rc == 0 && cloud_jid(json_object_get(r.json, "floating_ip"), "server") == a->server;
	http_response_release(&r);
	free(p);
	return rc;
}

/* Assign floating IP id to server sid (cloud_switch), and wait for it. */
static int fip_assign(struct hz *z, long long id, long long sid, const char *host,
                      struct pv_error *err)
{
	struct fip_look look = {z, id, sid};
	char *path = xasprintf("/floating_ips/%lld/actions/assign", id);
	json_t *body = json_pack("{s:I}", "server", (json_int_t)sid);
	char what[160];
	struct cloud_switch sw = {.http = &z->http,
	                          .rep = z->c->rep,
	                          .host = host,
	                          .what = what,
	                          .path = path,
	                          .body = body,
	                          .look = fip_assigned,
	                          .arg = &look,
	                          .done_says = "the floating IP is assigned to it",
	                          .not_done_says = "it is not assigned to it"};
	int rc;

	snprintf(what, sizeof(what), "assigning the floating IP to server %s", host);
	report_info(z->c->rep, host, "assigning floating IP %lld to server %s", id, host);
	rc = cloud_switch(&sw, err);
	if (rc == 0 && sw.action)
		rc = wait_host_action(z, sw.action, host, "floating IP", err);
	json_decref(body);
	free(path);
	return rc;
}

/*
 * The pair's floating IP: made once (assigned at its creation to the
 * pair's first server), recorded in the state; one that exists is adopted
 * and, only when it is assigned to no server, assigned to the first: where
 * a failover moved it, it stays.
 */
static int ensure_floating_ip(struct hz *z, bool *changed, struct pv_error *err)
{
	struct provider_ctx *c = z->c;
	json_t *pd = pdata(c), *all = NULL, *fip;
	const char *host;
	long long sid = fip_first_server(z, &host), id;
	char *name = fip_name(z);
	int rc = -1;

	if (list(z, "floating_ips", &all, err) < 0)
		goto out;
	fip = find_id(all, cloud_jid(pd, "floating_ip_id"));
	if (!fip)
		fip = find_mine(all, name);
	if (fip) {
		id = cloud_jid(fip, "id");
		set_id(pd, "floating_ip_id", id);
		if (cloud_jstr(fip, "ip"))
			state_set_str(pd, "floating_ip", cloud_jstr(fip, "ip"));
		if ((rc = state_save(c->state, err)) < 0 || cloud_jid(fip, "server"))
			goto out;
		rc = fip_assign(z, id, sid, host, err);
		*changed = true;
		goto out;
	}
	report_info(c->rep, NULL, "creating floating IP %s (ipv4, assigned to server %s)", name,
	            host);
	json_t *body =
	    json_pack("{s:s, s:s, s:I, s:s, s:o}", "type", "ipv4", "name", name, "server",
	              (json_int_t)sid, "description", "the load balancer pair's address", "labels",
	              labels(z, "floating-ip", NULL));
	json_t *acts = NULL;
	rc = create(z, "floating_ips", "floating_ip", name, "floating IP", NULL, body, &id, &acts,
	            NULL, err);
	json_decref(body);
	if (rc == 0) {
		set_id(pd, "floating_ip_id", id);
		rc = state_save(c->state, err);
	}
	json_t *a = json_array_get(acts, 0);
	if (rc == 0 && json_is_object(a))
		rc = wait_host_action(z, cloud_jid(a, "id"), host, "floating IP", err);
	json_decref(acts);
	if (rc < 0)
		goto out;
	*changed = true;
	/* its address, whether the create answered or the IP was found by looking */
	struct http_response r;
	char *p = xasprintf("/floating_ips/%lld", id);
	rc = call(z, "GET", p, NULL, 0, &r, err, "looking at the floating IP");
	free(p);
	json_t *got = json_object_get(r.json, "floating_ip");
	bool on_none = !cloud_jid(got, "server");
	if (rc == 0 && cloud_jstr(got, "ip")) {
		state_set_str(pd, "floating_ip", cloud_jstr(got, "ip"));
		rc = state_save(c->state, err);
	}
	http_response_release(&r);
	if (rc == 0 && on_none)
		rc = fip_assign(z, id, sid, host, err);
out:
	json_decref(all);
	free(name);
	return rc;
}

static int hetzner_up(struct provider_ctx *c, struct host **out, size_t *n, struct pv_error *err)
{
	long long start = pv_now_ms();
	struct hz z;
	bool changed = false;
	int rc = -1;

	*out = NULL;
	*n = 0;
	if (hz_open(&z, c, true, err) < 0)
		goto out;
	if (ensure_ssh_key(&z, &changed, err) < 0 || ensure_network(&z, &changed, err) < 0 ||
	    ensure_firewall(&z, &changed, err) < 0 || ensure_servers(&z, &changed, err) < 0 ||
	    ensure_volumes(&z, &changed, err) < 0 || ensure_lb(&z, &changed, err) < 0 ||
	    ensure_lb_targets(&z, &changed, err) < 0 ||
	    (cloud_lb_pair(c->layout) && ensure_floating_ip(&z, &changed, err) < 0))
		goto out;
	if (cloud_pin_and_wait(c, "server", BOOT_TIMEOUT_MS, err) < 0)
		goto out;
	cloud_report_requests(c, "hetzner",
	                      changed ? "cloud resources created or updated"
	                              : "cloud resources up to date",
	                      &z.http, start);
	rc = hetzner_hosts(c, out, n, err);
out:
	hz_close(&z);
	return rc;
}

/* ---- plan ---- */

/*
 * Plan for one named resource: 0 when up would create it, 1 when it is
 * ours, 2 when the name is taken by one that is not ours (a line says so
 * and what to do), -1 on error.
 */
static int plan_named(struct hz *z, const char *kind, const char *what, const char *name,
                      json_t *labelled, struct buf *out, struct pv_error *err)
{
	json_t *v = cloud_find_name(labelled, name), *other = NULL;
	int rc = 2;

	if (v && managed(v, NULL))
		return 1;
	if (!v && by_name(z, kind, name, &other, err) < 0)
		return -1;
	if (!v && !(v = other))
		return 0;
	if (!strcmp(kind, "ssh_keys") &&
	    cloud_same_key(cloud_jstr(v, "public_key"), z->c->admin_public_key))
		rc = 1; /* the operator's own key: up uses it */
	else
		buf_addf(out,
		         "  ! cloud: %s %s: the name is taken by %s %lld, which is not ours (%s); "
		         "up would fail: rename or delete it, or use another project, environment "
		         "or layout name\n",
		         what, name, what, cloud_jid(v, "id"), not_ours_why(z, v));
	json_decref(other);
	return rc;
}

static int hetzner_plan(struct provider_ctx *c, struct buf *out, struct pv_error *err)
{
	struct hz z;
	json_t *keys = NULL, *nets = NULL, *fws = NULL, *srvs = NULL, *vols = NULL, *lbs = NULL;
	json_t *fips = NULL;
	json_t *rules = NULL, *f;
	char *kn = NULL;
	int rc = -1;

	if (hz_open(&z, c, true, err) < 0)
		goto out;
	if (list(&z, "ssh_keys", &keys, err) < 0 || list(&z, "networks", &nets, err) < 0 ||
	    list(&z, "firewalls", &fws, err) < 0 || list(&z, "servers", &srvs, err) < 0 ||
	    list(&z, "volumes", &vols, err) < 0 || list(&z, "load_balancers", &lbs, err) < 0)
		goto out;
	kn = ssh_key_name(&z);
	int have;
	if ((have = plan_named(&z, "ssh_keys", "SSH key", kn, keys, out, err)) < 0)
		goto out;
	if (have == 0)
		buf_addf(out, "  + cloud: SSH key %s\n", kn);
	if ((have = plan_named(&z, "networks", "network", z.prefix, nets, out, err)) < 0)
		goto out;
	if (have == 0)
		buf_addf(out, "  + cloud: network %s (%s, subnet %s)\n", z.prefix, z.ip_range,
		         z.subnet);
	rules = firewall_rules(&z, err);
	if ((have = plan_named(&z, "firewalls", "firewall", z.prefix, fws, out, err)) < 0)
		goto out;
	f = find_mine(fws, z.prefix);
	if (have == 0)
		buf_addf(out, "  + cloud: firewall %s (%zu rules)\n", z.prefix,
		         json_array_size(rules));
	else if (f && !rules_equal(json_object_get(f, "rules"), rules))
		buf_addf(out, "  ~ cloud: firewall %s: rules change\n", z.prefix);
	for (size_t i = 0; i < c->layout->n_servers; i++) {
		const struct inv_server *s = &c->layout->servers[i];
		char *name = server_name(&z, s->name);
		json_t *srv = find_mine(srvs, name);
		if ((have = plan_named(&z, "servers", "server", name, srvs, out, err)) < 0) {
			free(name);
			goto out;
		}
		if (have == 0)
			buf_addf(out,
			         "  + cloud: server %s (%s, %s, %s), host key pinned before first "
			         "boot\n",
			         s->name, cloud_server_setting(c, s, "type", "cx22"),
			         cloud_server_setting(c, s, "image", "debian-12"),
			         cloud_server_setting(c, s, "location", "fsn1"));
		else if (cloud_jstr(srv, "status") && !strcmp(cloud_jstr(srv, "status"), "off"))
			buf_addf(out, "  ~ cloud: power on server %s (id %lld)\n", name,
			         cloud_jid(srv, "id"));
		if (srv)
			drift(c, s, srv, out);
		if (srv && lb_target_move(c, s, srv))
			buf_addf(out, "  ~ cloud: server %s %s the load balancer's targets\n",
			         s->name, lb_target_move(c, s, srv) > 0 ? "joins" : "leaves");
		cloud_plan_backups(s, "server", srv ? server_backups_on(srv) : false, out);
		const struct node *sv = cloud_server_volumes(s);
		for (size_t k = 0; sv && k < sv->n; k++) {
			char *vn = xasprintf("%s-%s-%s", z.prefix, s->name,
			                     cloud_str(sv->items[k], "name"));
			if ((have = plan_named(&z, "volumes", "volume", vn, vols, out, err)) < 0) {
				free(vn);
				free(name);
				goto out;
			}
			if (have == 0)
				buf_addf(out, "  + cloud: volume %s (%s GB) on %s\n", vn,
				         cloud_str(sv->items[k], "size"), name);
			free(vn);
		}
		free(name);
	}
	if (cloud_lb(c)) {
		char *ln = xasprintf("%s-lb", z.prefix);
		json_t *lb = find_mine(lbs, ln);
		const char *hp = cloud_str(cloud_lb(c), "health_path");
		if ((have = plan_named(&z, "load_balancers", "load balancer", ln, lbs, out, err)) <
		    0) {
			free(ln);
			goto out;
		}
		if (have == 0)
			buf_addf(out, "  + cloud: load balancer %s\n", ln);
		else if (lb_health_path(lb) && strcmp(lb_health_path(lb), hp ? hp : "/"))
			buf_addf(out, "  ~ cloud: load balancer %s: health check path %s -> %s\n",
			         ln, lb_health_path(lb), hp ? hp : "/");
		if (have && lb_type_have(lb) && strcmp(lb_type_have(lb), lb_type_want(c)))
			buf_addf(out, "  ~ cloud: load balancer %s: type %s -> %s\n", ln,
			         lb_type_have(lb), lb_type_want(c));
		free(ln);
	}
	if (cloud_lb_pair(c->layout)) {
		char *fn = fip_name(&z);
		const char *first = cloud_lb_pair_server(c->layout, 0)->name;
		if (list(&z, "floating_ips", &fips, err) < 0 ||
		    (have = plan_named(&z, "floating_ips", "floating IP", fn, fips, out, err)) <
		        0) {
			free(fn);
			goto out;
		}
		json_t *fip = find_mine(fips, fn);
		if (have == 0)
			buf_addf(
			    out,
			    "  + cloud: floating IP %s (ipv4), assigned to server %s; it moves "
			    "to the server of the pair that takes over\n",
			    fn, first);
		else if (fip && !cloud_jid(fip, "server"))
			buf_addf(out, "  ~ cloud: floating IP %s (%s): assign to server %s\n", fn,
			         cloud_jstr(fip, "ip") ? cloud_jstr(fip, "ip") : "?", first);
		free(fn);
	}
	size_t i;
	json_t *v;
	json_array_foreach(srvs, i, v)
	{
		const char *sv = cloud_jstr(json_object_get(v, "labels"), "server");
		if (sv && !layout_server(c->layout, sv))
			buf_addf(
			    out,
			    "  ! cloud: server %s is no longer in the layout; kept until destroy\n",
			    sv);
	}
	rc = 0;
out:
	json_decref(keys);
	json_decref(nets);
	json_decref(fws);
	json_decref(srvs);
	json_decref(vols);
	json_decref(lbs);
	json_decref(fips);
	json_decref(rules);
	free(kn);
	hz_close(&z);
	return rc;
}

/* ---- destroy ---- */

/* Is this resource labelled as this project's, environment's and layout's? */
static bool ours(const struct hz *z, json_t *r)
{
	json_t *l = json_object_get(r, "labels");
	const char *p = cloud_jstr(l, "project"), *e = cloud_jstr(l, "env"),
	           *y = cloud_jstr(l, "layout");

	return p && e && y && !strcmp(p, z->c->inv->project) && !strcmp(e, z->c->env) &&
	       !strcmp(y, z->c->layout->name);
}

/* The ids of one kind the state records. */
static json_t *recorded(struct hz *z, const char *kind)
{
	json_t *pd = pdata(z->c), *ids = json_array(), *v;
	const char *k;

	if (!strcmp(kind, "servers")) {
		json_object_foreach(hosts_obj(z->c, false), k, v)
		{
			if (cloud_jid(v, "server_id"))
				json_array_append(ids, json_object_get(v, "server_id"));
		}
	} else if (!strcmp(kind, "volumes")) {
		json_object_foreach(state_obj(pd, "volumes", false), k, v)
		{
			json_array_append(ids, v);
		}
	} else {
		static const char *const keys[][2] = {{"load_balancers", "load_balancer_id"},
		                                      {"floating_ips", "floating_ip_id"},
		                                      {"firewalls", "firewall_id"},
		                                      {"networks", "network_id"},
		                                      {"ssh_keys", "ssh_key_id"}};
		for (size_t i = 0; i < PV_ARRAY_SIZE(keys); i++)
			if (!strcmp(kind, keys[i][0]) && json_object_get(pd, keys[i][1]))
				json_array_append(ids, json_object_get(pd, keys[i][1]));
	}
	return ids;
}

struct del_arg {
	struct hz *z;
	const char *kind;
};

/* A request that succeeds also when the resource is gone (404); waits for its action. */
static int gone_ok(struct hz *z, const char *method, const char *path, const char *msg,
                   const char *name, struct pv_error *err)
{
	struct http_response r;
	/* a detach or delete may be sent again: a second one finds it done or gone */
	struct http_opts o = {.flags = HTTP_IDEMPOTENT};
	int rc;

	http_response_init(&r);
	rc = http_request(&z->http, method, path, &o, &r, err);
	if (rc < 0)
		pv_error_prefix(err, "%s", msg);
	else if (r.status != 404 && (r.status < 200 || r.status > 299))
		rc = http_fail(&r, err, "%s", msg);
	if (rc == 0 && r.status != 404 && json_object_get(r.json, "action"))
		rc = wait_action(z, cloud_jid(json_object_get(r.json, "action"), "id"), name, err);
	http_response_release(&r);
	return rc;
}

/* Is the volume still attached (a fresh look; a volume that is gone is not)? */
static int still_attached(struct hz *z, long long id, bool *attached, struct pv_error *err)
{
	struct http_response r;
	char *p = xasprintf("/volumes/%lld", id);
	int rc;

	http_response_init(&r);
	rc = http_request(&z->http, "GET", p, NULL, &r, err);
	free(p);
	if (rc == 0 && r.status != 404 && r.status != 200)
		rc = http_fail(&r, err, "looking at a volume");
	*attached = rc == 0 && r.status == 200 &&
	            cloud_jid(json_object_get(r.json, "volume"), "server") != 0;
	http_response_release(&r);
	return rc;
}

static int delete_one(const json_t *v, void *arg, struct pv_error *err)
{
	struct del_arg *a = arg;
	struct hz *z = a->z;
	long long id = cloud_jid(v, "id");
	const char *name = cloud_jstr(v, "name") ? cloud_jstr(v, "name") : "?";
	char *p, *msg;
	int rc = 0;

	if (!strcmp(a->kind, "volumes") && cloud_jid(v, "server")) {
		p = xasprintf("/volumes/%lld/actions/detach", id);
		msg = xasprintf("detaching volume %s", name);
		rc = gone_ok(z, "POST", p, msg, name, err);
		free(p);
		free(msg);
		/* a detach whose answer was lost may have happened: look before failing */
		bool attached = true;
		if (rc < 0 && still_attached(z, id, &attached, err) == 0 && !attached)
			rc = 0;
		if (rc < 0)
			return -1;
	}
	p = xasprintf("/%s/%lld", a->kind, id);
	msg = xasprintf("deleting %s", name);
	rc = gone_ok(z, "DELETE", p, msg, name, err);
	free(p);
	free(msg);
	return rc;
}

/* Delete what is ours of one kind among what carries the layout's labels. */
static int delete_kind(struct hz *z, const char *kind, const char *what, struct pv_error *err)
{
	json_t *all = NULL, *mine = json_array(), *ids = recorded(z, kind), *v;
	struct del_arg a = {z, kind};
	struct cloud_sweep sw = {.c = z->c,
	                         .what = what,
	                         .recorded = ids,
	                         .managed = managed,
	                         .del = delete_one,
	                         .arg = &a,
	                         .parallel = true};
	size_t i;
	int rc = -1;

	if (list(z, kind, &all, err) < 0)
		goto out;
	json_array_foreach(all, i, v)
	{
		if (ours(z, v)) /* the selector said so; the labels must too */
			json_array_append(mine, v);
	}
	rc = cloud_sweep(&sw, mine, err);
out:
	json_decref(all);
	json_decref(mine);
	json_decref(ids);
	return rc;
}

static int hetzner_destroy(struct provider_ctx *c, struct pv_error *err)
{
	long long start = pv_now_ms();
	struct hz z;
	int rc = -1;

	if (hz_open(&z, c, true, err) < 0)
		goto out;
	/* what depends on others goes first */
	if (delete_kind(&z, "floating_ips", "floating IP", err) < 0 ||
	    delete_kind(&z, "load_balancers", "load balancer", err) < 0 ||
	    delete_kind(&z, "volumes", "volume", err) < 0 ||
	    delete_kind(&z, "servers", "server", err) < 0 ||
	    delete_kind(&z, "firewalls", "firewall", err) < 0 ||
	    delete_kind(&z, "networks", "network", err) < 0 ||
	    delete_kind(&z, "ssh_keys", "SSH key", err) < 0)
		goto out;
	if (cloud_forget_hosts(c, err) < 0)
		goto out;
	cloud_report_requests(c, "hetzner", "destroyed", &z.http, start);
	rc = 0;
out:
	hz_close(&z);
	return rc;
}

static int hetzner_status(struct provider_ctx *c, json_t *out, struct pv_error *err)
{
	struct hz z;
	struct pv_error e = {{0}};
	json_t *listed = NULL;

	(void)err;
	if (hz_open(&z, c, true, &e) == 0)
		list(&z, "servers", &listed, &e);
	int rc = cloud_status(c, "server", "server_id", listed, listed ? NULL : e.msg, out);
	json_decref(listed);
	hz_close(&z);
	return rc;
}

/* ---- snapshots ---- */

/*
 * A snapshot is an image of type snapshot (create_image), labelled like
 * everything the tool makes (project, env, layout, server, managed-by) and
 * described with its name, since a snapshot image has no name of its own.
 * The tool's own: managed-by=provision and this layout's labels.
 */

/* Every snapshot image of the project, each with "name" set to its description. */
static int list_snapshots(struct hz *z, json_t **out, struct pv_error *err)
{
	size_t i;
	json_t *v;

	if (http_get_all(&z->http, "/images?type=snapshot", "images", HTTP_PAGES_HETZNER, out,
	                 err) < 0)
		return -1;
	json_array_foreach(*out, i, v)
	{
		const char *d = cloud_jstr(v, "description");
		json_object_set_new(v, "name", json_string(d ? d : ""));
	}
	return 0;
}

static int list_snapshots_cb(void *arg, json_t **all, struct pv_error *err)
{
	return list_snapshots(arg, all, err);
}

static const char *snapshot_server(const json_t *img)
{
	return cloud_jstr(json_object_get(img, "labels"), "server");
}

/* Made by the tool for this layout (of server, when given). */
static bool snapshot_mine(struct hz *z, json_t *img, const char *server)
{
	const char *sv = snapshot_server(img);

	return managed(img, NULL) && ours(z, img) && sv && (!server || !strcmp(sv, server));
}

static json_t *snapshot_entry(const json_t *img, const char *host, const char *state)
{
	return cloud_snapshot_entry(img, "image_size", host, state);
}

/* Wait until image id is available; its description becomes "name" of *img. */
static int wait_image(struct hz *z, long long id, const char *host, const char *what, json_t **img,
                      struct pv_error *err)
{
	long long deadline = pv_now_ms() + z->action_timeout_s * 1000LL;
	char *path = xasprintf("/images/%lld", id);
	bool shown = false;
	int rc = -1;

	*img = NULL;
	for (;;) {
		struct http_response r;
		if (call(z, "GET", path, NULL, 0, &r, err, what) < 0) {
			http_response_release(&r);
			break;
		}
		json_t *v = json_object_get(r.json, "image");
		const char *st = cloud_jstr(v, "status");
		if (st && !strcmp(st, "available")) {
			if (shown)
				report_progress_end(z->c->rep, host, what, "available");
			*img = json_incref(v);
			json_object_set_new(*img, "name",
			                    json_string(cloud_jstr(v, "description")
			                                    ? cloud_jstr(v, "description")
			                                    : ""));
			http_response_release(&r);
			rc = 0;
			break;
		}
		http_response_release(&r);
		if (st && !strcmp(st, "unavailable")) {
			report_progress_end(z->c->rep, host, what, "unavailable");
			pv_error_set(err, "%s: image %lld is unavailable", what, id);
			break;
		}
		if (pv_now_ms() > deadline) {
			report_progress_end(z->c->rep, host, what, "not done in time");
			pv_error_set(err, "%s: image %lld is not available after %ld s", what, id,
			             z->action_timeout_s);
			break;
		}
		report_progress(z->c->rep, host, what, "image %s", st ? st : "?");
		shown = true;
		usleep((useconds_t)(z->poll_s * 1e6));
	}
	free(path);
	return rc;
}

/* What snapshot works with: the API, and every snapshot listed once, for
 * the retention of each server. */
struct snap_arg {
	struct hz *z;
	json_t *all;
};

/* Snapshot one server, and wait until the image is there. */
static int snapshot_one(void *arg, const char *host, json_t **entry, struct pv_error *err)
{
	struct snap_arg *a = arg;
	struct hz *z = a->z;
	json_t *o = state_obj(hosts_obj(z->c, false), host, false);
	long long sid = cloud_jid(o, "server_id");
	json_t *made = NULL, *resp = NULL, *img = NULL, *body;
	char *name, *path, *what;
	int rc;

	if (!sid)
		return cloud_not_created(z->c, "server", host, err);
	name = cloud_snapshot_name(z->c, host, (long long)time(NULL));
	path = xasprintf("/servers/%lld/actions/create_image", sid);
	what = xasprintf("snapshot %s", name);
	body = json_pack("{s:s, s:s, s:o}", "type", "snapshot", "description", name, "labels",
	                 labels(z, "snapshot", host));
	struct cloud_create cc = {.http = &z->http,
	                          .rep = z->c->rep,
	                          .host = host,
	                          .what = "snapshot",
	                          .name = name,
	                          .path = path,
	                          .body = body,
	                          .one = "image",
	                          .list = list_snapshots_cb,
	                          .mine = managed,
	                          .arg = z};
	report_info(z->c->rep, host, "creating snapshot %s of server %lld", name, sid);
	rc = cloud_create(&cc, &made, &resp, err);
	long long action = cloud_jid(json_object_get(resp, "action"), "id");
	if (rc == 0 && action)
		rc = wait_host_action(z, action, host, what, err);
	if (rc == 0)
		rc = wait_image(z, cloud_jid(made, "id"), host, what, &img, err);
	if (rc == 0)
		*entry = snapshot_entry(img, host, "made");
	json_decref(img);
	json_decref(made);
	json_decref(resp);
	json_decref(body);
	free(what);
	free(path);
	free(name);
	return rc;
}

/*
 * Retention for one server: the tool's own snapshots beyond the keep
 * newest are deleted; a snapshot of the server (by its labels or its
 * origin) that the tool did not make is named and kept.
 */
static int snapshot_retain(void *arg, const char *host, size_t keep, json_t *out,
                           struct pv_error *err)
{
	struct snap_arg *a = arg;
	struct hz *z = a->z;
	long long sid = cloud_jid(state_obj(hosts_obj(z->c, false), host, false), "server_id");
	json_t *mine, *excess, *v;
	size_t i;
	int rc = 0;

	if (!a->all && list_snapshots(z, &a->all, err) < 0)
		return -1;
	mine = json_array();
	json_array_foreach(a->all, i, v)
	{
		const char *sv = snapshot_server(v);
		bool labelled = ours(z, v) && sv && !strcmp(sv, host);
		long long from = cloud_jid(json_object_get(v, "created_from"), "id");
		if (snapshot_mine(z, v, host)) {
			json_array_append(mine, v);
		} else if (labelled || (sid && from == sid)) {
			json_t *e = snapshot_entry(v, host, "kept");
			json_object_set_new(
			    e, "why",
			    json_string(labelled
			                    ? "it has this layout's labels but not "
			                      "managed-by=provision: not made by the tool"
			                    : "a snapshot of this server the tool did not make"));
			json_array_append_new(out, e);
		}
	}
	excess = cloud_snapshots_excess(mine, keep);
	json_array_foreach(excess, i, v)
	{
		char *p = xasprintf("/images/%lld", cloud_jid(v, "id"));
		char *msg = xasprintf("deleting snapshot %s", cloud_jstr(v, "name"));
		rc = gone_ok(z, "DELETE", p, msg, cloud_jstr(v, "name"), err);
		free(msg);
		free(p);
		if (rc < 0)
			break;
		json_array_append_new(out, snapshot_entry(v, host, "deleted"));
	}
	json_decref(excess);
	json_decref(mine);
	return rc;
}

static int hetzner_snapshot(struct provider_ctx *c, const char *host, json_t *out,
                            struct pv_error *err)
{
	struct hz z;
	struct snap_arg a = {&z, NULL};
	struct cloud_snapshot_ops ops = {"hetzner", &z.http, snapshot_one, snapshot_retain, &a};
	int rc = -1;

	if (hz_open(&z, c, true, err) == 0)
		rc = cloud_snapshot_run(c, host, &ops, out, err);
	json_decref(a.all);
	hz_close(&z);
	return rc;
}

static int hetzner_snapshots(struct provider_ctx *c, json_t *out, struct pv_error *err)
{
	struct hz z;
	json_t *all = NULL, *v;
	size_t i;
	int rc = -1;

	if (hz_open(&z, c, true, err) < 0 || list_snapshots(&z, &all, err) < 0)
		goto out;
	cloud_snapshots_sort(all);
	json_array_foreach(all, i, v)
	{
		if (snapshot_mine(&z, v, NULL))
			json_array_append_new(out, snapshot_entry(v, snapshot_server(v), "listed"));
	}
	rc = 0;
out:
	json_decref(all);
	hz_close(&z);
	return rc;
}

const struct provider_ops provider_hetzner = {
    .name = "hetzner",
    .token_env = "HCLOUD_TOKEN",
    .validate = hetzner_validate,
    .check_api = hetzner_check_api,
    .plan = hetzner_plan,
    .up = hetzner_up,
    .hosts = hetzner_hosts,
    .destroy = hetzner_destroy,
    .status = hetzner_status,
    .snapshot = hetzner_snapshot,
    .snapshots = hetzner_snapshots,
};

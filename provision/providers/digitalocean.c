/*
 * digitalocean.c - droplets on DigitalOcean (https://docs.digitalocean.com/reference/api/).
 *
 *   providers:
 *     digitalocean:
 *       token: env:DIGITALOCEAN_TOKEN    # or file:PATH; default: $DIGITALOCEAN_TOKEN
 *       region: fra1                     # default of every droplet
 *       size: s-1vcpu-2gb
 *       image: debian-12-x64
 *       vpc: { ip_range: 10.10.10.0/24 }   # default: DigitalOcean picks a free /20
 *       load_balancer: { size_unit: 1, health_path: /up, targets: [web1, web2] }
 *       poll_interval: 1
 *       action_timeout: 600
 *       request_timeout: 60
 *       parallel: 10                     # droplets created, awaited, deleted at once
 *       snapshot_keep: 7                 # snapshot: the tool's newest 7 of each droplet stay
 *       endpoint: https://api.digitalocean.com   # https; plain http only to loopback
 *   servers:
 *     app1: { size: s-2vcpu-4gb, region: ams3, volumes: [{ name: data, size: 20 }] }
 *
 * The same design as the hetzner provider (read hetzner.c): a layout is one
 * SSH key, one VPC, one firewall, its droplets with their volumes and, when
 * asked for, a load balancer.  DigitalOcean has tags instead of labels, and
 * only droplets, volumes (and the firewall's and load balancer's targets)
 * carry them: droplets get "pv:PROJECT:ENV:LAYOUT" and
 * "pv:PROJECT:ENV:LAYOUT:SERVER" and the tool's mark "managed-by:provision",
 * so they are listed with tag_name and adopted, never made twice; one
 * without the mark (and not in the state) is someone else's.  The SSH
 * key, VPC, firewall and load balancer are found by their names
 * (PROJECT-ENV-LAYOUT...) and the ids in the state; the firewall and the
 * load balancer also by the layout's tag they target; destroy deletes only
 * those whose id the state records, then the tags it made.  Host keys go
 * in the user_data, are pinned, and are the only ones SSH accepts.
 *
 * The base URL is https://api.digitalocean.com, or 'endpoint', or
 * $DIGITALOCEAN_API_URL as for doctl; it must be https (plain http only to
 * a loopback address), checked before any request.
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

#define DEFAULT_ENDPOINT "https://api.digitalocean.com"
#define BOOT_TIMEOUT_MS 300000
/* what the tool made carries this tag (droplets and volumes; the others cannot) */
#define MANAGED_TAG "managed-by:provision"

static const char *const setting_keys[] = {
    "token",         "region",           "size",           "image",           "vpc",
    "load_balancer", "poll_interval",    "action_timeout", "request_timeout", "endpoint",
    "parallel",      "rotate_host_keys", "snapshot_keep"};
/* the VPC's, the load balancer's and a volume's keys with their types (vartype.h) */
static const char nested_types[] = "vpc: { ip_range: cidr }\n"
                                   "load_balancer:\n"
                                   "  size_unit: { type: int, min: 1, max: 100 }\n"
                                   "  health_path: path\n"
                                   "  targets: { type: list, of: name }\n"
                                   "volume:\n"
                                   "  name: name\n"
                                   "  size: { type: int, min: 1, max: 16384 }\n" VOLUME_KEY_TYPES;

struct dz {
	struct provider_ctx *c;
	struct http_client http;
	bool http_open;
	char *prefix; /* shop-default-phase1 */
	char *tag; /* pv:shop:default:phase1 */
	double poll_s;
	long action_timeout_s;
	const char *want_range; /* the inventory's vpc.ip_range, or NULL */
	const char *ip_range; /* the VPC's, once known */
};

/*
 * The range of VPCs the tool made while 10.10.10.0/24 was the default (a
 * state from then records no vpc_ip_range).  Every layout's VPC had it, and
 * DigitalOcean refuses a VPC whose range overlaps another of the account:
 * now the range is DigitalOcean's choice unless the inventory names one.
 */
#define OLD_DEFAULT_RANGE "10.10.10.0/24"

static const struct cloud_rules settings_rules = {
    .provider = "digitalocean",
    .keys = setting_keys,
    .n_keys = PV_ARRAY_SIZE(setting_keys),
    .net = "vpc",
    .nested_types = nested_types,
    .foreign_provider = "Hetzner",
    .foreign = {"location", "type"},
    .own = {"region", "size"},
    .volume_name_ok = volume_name_short,
    .volume_name_rule = VOLUME_NAME_SHORT_RULE,
    .endpoint_env = "DIGITALOCEAN_API_URL",
};

static void do_validate(const struct inventory *inv, const struct inv_layout *l,
                        const struct node *settings, struct diags *d)
{
	cloud_validate(&settings_rules, inv, l, settings, d);
	/* DigitalOcean's own bounds of a VPC range (a malformed one is said by the types) */
	const struct node *vpc =
	    settings && settings->kind == NODE_MAP ? node_get(settings, "vpc") : NULL;
	const struct node *r = vpc && vpc->kind == NODE_MAP ? node_get(vpc, "ip_range") : NULL;
	unsigned a;
	int bits;
	if (r && r->kind == NODE_SCALAR && cloud_ipv4_net(r->scalar, &a, &bits) &&
	    (bits < 16 || bits > 28 ||
	     !((a >> 24) == 10 || (a >> 20) == (172u << 4 | 1) || (a >> 16) == (192u << 8 | 168))))
		diags_add(d, &r->pos,
		          "'vpc.ip_range' of provider 'digitalocean' must be a private network "
		          "(10/8, 172.16/12, 192.168/16) from /16 to /28, not %s",
		          r->scalar);
}

static void do_check_api(const struct node *settings, struct diags *d)
{
	cloud_check_endpoint(&settings_rules, settings, d);
}

/* ---- the API ---- */

static void note(void *arg, const char *msg)
{
	struct dz *z = arg;

	report_info(z->c->rep, NULL, "digitalocean: %s", msg);
}

static int dz_open(struct dz *z, struct provider_ctx *c, struct pv_error *err)
{
	const char *ep = getenv("DIGITALOCEAN_API_URL");
	char *token = NULL;

	memset(z, 0, sizeof(*z));
	z->c = c;
	z->prefix = xasprintf("%s-%s-%s", c->inv->project, c->env, c->layout->name);
	z->tag = xasprintf("pv:%s:%s:%s", c->inv->project, c->env, c->layout->name);
	z->poll_s = strtod(cloud_setting(c, "poll_interval", "1"), NULL);
	z->action_timeout_s = strtol(cloud_setting(c, "action_timeout", "600"), NULL, 10);
	z->want_range = cloud_str(node_get(c->settings, "vpc"), "ip_range");
	z->ip_range = state_str(state_obj(c->lstate, "provider_data", false), "vpc_ip_range");
	if (!z->ip_range)
		z->ip_range = z->want_range ? z->want_range : OLD_DEFAULT_RANGE;
	if (provider_token(&provider_digitalocean, c->settings, &token, err) < 0)
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
	return 0;
}

static void dz_close(struct dz *z)
{
	if (z->http_open)
		http_client_release(&z->http);
	free(z->prefix);
	free(z->tag);
}

static int call(struct dz *z, const char *method, const char *path, json_t *body,
                struct http_response *r, struct pv_error *err, const char *what)
{
	struct http_opts o = {.body = body};

	http_response_init(r);
	if (http_request(&z->http, method, path, &o, r, err) < 0)
		return pv_error_prefix(err, "%s", what);
	if (r->status < 200 || r->status > 299)
		return http_fail(r, err, "%s", what);
	return 0;
}

static int list(struct dz *z, const char *path, const char *key, json_t **out, struct pv_error *err)
{
	return http_get_all(&z->http, path, key, HTTP_PAGES_DIGITALOCEAN, out, err);
}

/* Match an id that is a number (droplets, keys) or a string (UUIDs). */
static json_t *find_id(json_t *arr, const json_t *id)
{
	size_t i;
	json_t *v;

	if (!id)
		return NULL;
	json_array_foreach(arr, i, v)
	{
		if (json_equal(json_object_get(v, "id"), id))
			return v;
	}
	return NULL;
}

/* Does o's list of strings key (its "tags", a droplet's "features") hold word? */
static bool listed_in(const json_t *o, const char *key, const char *word)
{
	size_t i;
	json_t *t;

	json_array_foreach(json_object_get(o, key), i, t)
	{
		if (json_is_string(t) && !strcmp(json_string_value(t), word))
			return true;
	}
	return false;
}

static bool has_tag(const json_t *o, const char *tag)
{
	return listed_in(o, "tags", tag);
}

struct kind_arg {
	struct dz *z;
	const char *path, *key, *tag; /* what is listed, and the tag what is ours has */
	bool managed; /* ours also carries MANAGED_TAG */
};

static int list_kind(void *arg, json_t **all, struct pv_error *err)
{
	struct kind_arg *a = arg;

	return list(a->z, a->path, a->key, all, err);
}

static bool tagged(const json_t *r, void *arg)
{
	struct kind_arg *a = arg;

	return (!a->tag || has_tag(r, a->tag)) && (!a->managed || has_tag(r, MANAGED_TAG));
}

/*
 * POST to path once (cloud_create), looking for what a lost answer made as
 * ka says; *made is what was made or found (a new reference), *resp the
 * create's answer (a new reference, or NULL), *status the last answer's
 * status.
 */
static int create_as(struct dz *z, struct kind_arg *ka, const char *path, const char *one,
                     const char *name, const char *what, const char *host, json_t *body,
                     json_t **made, json_t **resp, long *status, struct pv_error *err)
{
	struct cloud_create cc = {.http = &z->http,
	                          .rep = z->c->rep,
	                          .host = host,
	                          .what = what,
	                          .name = name,
	                          .path = path,
	                          .body = body,
	                          .one = one,
	                          .list = list_kind,
	                          .mine = tagged,
	                          .arg = ka};
	int rc = cloud_create(&cc, made, resp, err);

	if (status)
		*status = cc.status;
	return rc;
}

/* create_as for what is listed at its create's path: ours carries tag (or any, NULL). */
static int create(struct dz *z, const char *path, const char *key, const char *one,
                  const char *name, const char *tag, const char *what, const char *host,
                  json_t *body, json_t **made, long *status, struct pv_error *err)
{
	struct kind_arg ka = {z, path, key, tag, false};
	json_t *resp = NULL;
	int rc = create_as(z, &ka, path, one, name, what, host, body, made, &resp, status, err);

	json_decref(resp);
	return rc;
}

static json_t *pdata(struct provider_ctx *c)
{
	return state_obj(c->lstate, "provider_data", true);
}

/*
 * A VPC, firewall or load balancer (no tags): the one whose id the state
 * records (id_key), or the one named name when this tool sent its create
 * (the flag id_key_creating, written before the request).  One that only
 * has the name is someone else's: an error says which and what to do.
 */
static int find_untagged(struct dz *z, json_t *all, const char *id_key, const char *what,
                         const char *name, json_t **out, struct pv_error *err)
{
	json_t *pd = pdata(z->c), *v = find_id(all, json_object_get(pd, id_key));
	char *flag = xasprintf("%s_creating", id_key);
	char id[96];
	int rc = 0;

	if (!v && (v = cloud_find_name(all, name)) && !json_is_true(json_object_get(pd, flag))) {
		cloud_id_text(json_object_get(v, "id"), id, sizeof(id));
		rc =
		    pv_error_set(err,
		                 "%s %s: the name is taken by %s %s, which is not ours (its id is "
		                 "not in this layout's state): rename or delete it, or use another "
		                 "project, environment or layout name",
		                 what, name, what, id);
		v = NULL;
	}
	free(flag);
	*out = v;
	return rc;
}

/* Before a create of id_key's resource: the flag that makes it ours when found later. */
static int creating(struct dz *z, const char *id_key, bool on, struct pv_error *err)
{
	char *flag = xasprintf("%s_creating", id_key);

	if (on)
		json_object_set_new(pdata(z->c), flag, json_true());
	else
		json_object_del(pdata(z->c), flag);
	free(flag);
	return state_save(z->c->state, err);
}

static json_t *hosts_obj(struct provider_ctx *c, bool create)
{
	return state_obj(c->lstate, "hosts", create);
}

/* Actions: in-progress, then completed or errored (host: whose line shows it, or NULL). */
static int wait_host_action(struct dz *z, long long id, const char *host, const char *what,
                            struct pv_error *err)
{
	long long deadline = pv_now_ms() + z->action_timeout_s * 1000LL;
	bool shown = false;

	for (;;) {
		struct http_response r;
		char *path = xasprintf("/v2/actions/%lld", id);
		int rc = call(z, "GET", path, NULL, &r, err, what);
		free(path);
		if (rc < 0) {
			http_response_release(&r);
			return -1;
		}
		json_t *a = json_object_get(r.json, "action");
		const char *st = cloud_jstr(a, "status");
		if (st && !strcmp(st, "completed")) {
			if (shown)
				report_progress_end(z->c->rep, host, what, "done");
			http_response_release(&r);
			return 0;
		}
		if (st && !strcmp(st, "errored")) {
			report_progress_end(z->c->rep, host, what, "failed");
			pv_error_set(err, "%s: action %lld (%s) errored", what, id,
			             cloud_jstr(a, "type") ? cloud_jstr(a, "type") : "?");
			http_response_release(&r);
			return -1;
		}
		if (!shown) {
			report_progress(z->c->rep, host, what, "%s", st ? st : "in progress");
			shown = true;
		}
		http_response_release(&r);
		if (pv_now_ms() > deadline)
			return pv_error_set(err, "%s: action %lld did not finish within %ld s",
			                    what, id, z->action_timeout_s);
		usleep((useconds_t)(z->poll_s * 1e6));
	}
}

static int wait_action(struct dz *z, long long id, const char *what, struct pv_error *err)
{
	return wait_host_action(z, id, NULL, what, err);
}

/* Poll GET path until obj.status is want (or the object is gone, when want is NULL). */
static int wait_status(struct dz *z, const char *path, const char *key, const char *want,
                       json_t *keep, const char *host, const char *what, struct pv_error *err)
{
	long long deadline = pv_now_ms() + z->action_timeout_s * 1000LL;
	bool shown = false;

	for (;;) {
		struct http_response r;
		struct http_opts o = {0};
		http_response_init(&r);
		if (http_request(&z->http, "GET", path, &o, &r, err) < 0) {
			http_response_release(&r);
			return pv_error_prefix(err, "%s", what);
		}
		if (!want && r.status == 404) {
			if (shown)
				report_progress_end(z->c->rep, host, what, "gone");
			http_response_release(&r);
			return 0;
		}
		if (r.status != 200) {
			http_fail(&r, err, "%s", what);
			http_response_release(&r);
			return -1;
		}
		json_t *obj = json_object_get(r.json, key);
		const char *st = cloud_jstr(obj, "status");
		if (keep)
			json_object_update(keep, obj);
		if (want && st && !strcmp(st, want)) {
			if (shown)
				report_progress_end(z->c->rep, host, what, "%s", st);
			http_response_release(&r);
			return 0;
		}
		if (!shown) {
			report_progress(z->c->rep, host, what, "%s", st ? st : "waiting");
			shown = true;
		}
		http_response_release(&r);
		if (pv_now_ms() > deadline)
			return pv_error_set(err, "%s: not done within %ld s", what,
			                    z->action_timeout_s);
		usleep((useconds_t)(z->poll_s * 1e6));
	}
}

/* ---- what the layout should have ---- */

static json_t *firewall_body(struct dz *z)
{
	json_t *in = json_array(), *outr = json_array();
	struct cloud_port ports[64];
	size_t n = cloud_firewall_ports(z->c, ports, PV_ARRAY_SIZE(ports));
	const char *oprotos[] = {"tcp", "udp", "icmp"};

	for (size_t i = 0; i < n; i++) {
		char port[32];
		if (ports[i].port_end > ports[i].port)
			snprintf(port, sizeof(port), "%d-%d", ports[i].port, ports[i].port_end);
		else
			snprintf(port, sizeof(port), "%d", ports[i].port);
		json_t *src = *ports[i].source ? json_pack("{s:[s]}", "addresses", ports[i].source)
		              : ports[i].private_only
		                  ? json_pack("{s:[s]}", "addresses", z->ip_range)
		                  : json_pack("{s:[s,s]}", "addresses", "0.0.0.0/0", "::/0");
		json_array_append_new(in, json_pack("{s:s, s:s, s:o}", "protocol", ports[i].proto,
		                                    "ports", port, "sources", src));
	}
	json_array_append_new(in, json_pack("{s:s, s:s, s:{s:[s,s]}}", "protocol", "icmp", "ports",
	                                    "0", "sources", "addresses", "0.0.0.0/0", "::/0"));
	/* a DigitalOcean firewall without outbound rules blocks all outbound traffic */
	for (size_t i = 0; i < PV_ARRAY_SIZE(oprotos); i++)
		json_array_append_new(outr,
		                      json_pack("{s:s, s:s, s:{s:[s,s]}}", "protocol", oprotos[i],
		                                "ports", i < 2 ? "all" : "0", "destinations",
		                                "addresses", "0.0.0.0/0", "::/0"));
	return json_pack("{s:s, s:o, s:o, s:[s]}", "name", z->prefix, "inbound_rules", in,
	                 "outbound_rules", outr, "tags", z->tag);
}

static bool rules_equal(json_t *have, json_t *want)
{
	return json_equal(json_object_get(have, "inbound_rules"),
	                  json_object_get(want, "inbound_rules")) &&
	       json_equal(json_object_get(have, "outbound_rules"),
	                  json_object_get(want, "outbound_rules")) &&
	       json_equal(json_object_get(have, "tags"), json_object_get(want, "tags"));
}

/* Size, image or region an existing droplet has other than the inventory's. */
static void drift(const struct provider_ctx *c, const struct inv_server *s, json_t *d,
                  struct buf *plan)
{
	const char *have[3] = {cloud_jstr(d, "size_slug"),
	                       cloud_jstr(json_object_get(d, "image"), "slug"),
	                       cloud_jstr(json_object_get(d, "region"), "slug")};
	const char *what[3] = {"size", "image", "region"};
	const char *defs[3] = {"s-1vcpu-2gb", "debian-12-x64", "fra1"};

	for (size_t i = 0; i < 3; i++)
		cloud_drift(c, "droplet", s, what[i], have[i],
		            cloud_server_setting(c, s, what[i], defs[i]), plan);
}

/* ---- hosts ---- */

char *digitalocean_volume_device(const char *volume_name)
{
	/* DigitalOcean names a volume's disk after the volume */
	return xasprintf("/dev/disk/by-id/scsi-0DO_Volume_%s", volume_name);
}

/* The name the volume has at DigitalOcean (unique per region). */
static char *volume_name(const struct provider_ctx *c, const struct inv_server *s, const char *vn)
{
	if (!strcmp(c->env, "default"))
		return xasprintf("%s-%s-%s", c->inv->project, s->name, vn);
	return xasprintf("%s-%s-%s-%s", c->inv->project, c->env, s->name, vn);
}

static char *volume_device(const struct provider_ctx *c, const struct inv_server *s,
                           const char *name)
{
	char *full = volume_name(c, s, name), *dev = digitalocean_volume_device(full);

	free(full);
	return dev;
}

static int do_hosts(struct provider_ctx *c, struct host **out, size_t *n, struct pv_error *err)
{
	(void)err;
	const char *range = state_str(state_obj(c->lstate, "provider_data", false), "vpc_ip_range");

	if (!range)
		range = cloud_str(node_get(c->settings, "vpc"), "ip_range");
	return cloud_hosts(c, "digitalocean", "droplet_id", "image", "debian-12-x64",
	                   range ? range : OLD_DEFAULT_RANGE, volume_device, out, n);
}

/* ---- up ---- */

static int del(struct dz *z, const char *path, const char *what, struct pv_error *err);

static int ensure_ssh_key(struct dz *z, bool *changed, struct pv_error *err)
{
	json_t *pd = pdata(z->c), *keys = NULL, *k, *named = NULL;
	const char *mine = z->c->admin_public_key;
	char old[96] = "";
	int rc = -1;

	if (list(z, "/v2/account/keys", "ssh_keys", &keys, err) < 0)
		return -1;
	k = find_id(keys, json_object_get(pd, "ssh_key_id"));
	/* ours (made by this tool for the layout), with the operator's former key */
	if (k && !cloud_same_key(cloud_jstr(k, "public_key"), mine) &&
	    !json_is_true(json_object_get(pd, "ssh_key_foreign")))
		cloud_id_text(json_object_get(k, "id"), old, sizeof(old));
	if (!k && (k = cloud_find_name(keys, z->prefix))) {
		if (!cloud_same_key(cloud_jstr(k, "public_key"), mine))
			k = NULL; /* another key of the layout's name: looked at below */
		else if (!json_is_true(json_object_get(pd, "ssh_key_id_creating")))
			/* keys carry no tags: only one whose create this tool sent is ours */
			json_object_set_new(pd, "ssh_key_foreign", json_true());
	}
	if (!k) {
		/* the same key under another name: DigitalOcean keeps one per account */
		size_t i;
		json_t *v;
		json_array_foreach(keys, i, v)
		{
			if (cloud_same_key(cloud_jstr(v, "public_key"), mine)) {
				k = v;
				json_object_set_new(pd, "ssh_key_foreign", json_true());
			}
		}
	}
	if (k && cloud_same_key(cloud_jstr(k, "public_key"), mine)) {
		json_object_set(pd, "ssh_key_id", json_object_get(k, "id"));
		json_object_del(pd, "ssh_key_id_creating");
		rc = state_save(z->c->state, err);
		goto out;
	}
	/* a key of the layout's name that is not ours: the create would fail */
	if (find_untagged(z, keys, "ssh_key_id", "SSH key", z->prefix, &named, err) < 0)
		goto out;
	/*
	 * Ours, with the operator's former key: it goes first (the name is
	 * taken while it exists).  A run that stops here finds no key by the
	 * state's id or the name next time, and creates one.
	 */
	if (old[0]) {
		char *path = xasprintf("/v2/account/keys/%s", old);
		report_info(z->c->rep, NULL, "deleting the former SSH key %s (id %s)", z->prefix,
		            old);
		rc = del(z, path, "the former SSH key", err);
		free(path);
		if (rc < 0)
			goto out;
		rc = -1;
	}
	report_info(z->c->rep, NULL, "creating SSH key %s%s", z->prefix,
	            old[0] ? " (the operator's key changed)" : "");
	/* recorded before the request: a key found later by this name is then ours */
	if (creating(z, "ssh_key_id", true, err) < 0)
		goto out;
	json_t *body = json_pack("{s:s, s:s}", "name", z->prefix, "public_key", mine);
	json_t *made = NULL;
	rc = create(z, "/v2/account/keys", "ssh_keys", "ssh_key", z->prefix, NULL, "SSH key", NULL,
	            body, &made, NULL, err);
	json_decref(body);
	if (rc == 0) {
		json_object_set(pd, "ssh_key_id", json_object_get(made, "id"));
		json_object_del(pd, "ssh_key_foreign");
		*changed = true;
		rc = creating(z, "ssh_key_id", false, err);
	}

	json_decref(made);
out:
	json_decref(keys);
	return rc;
}

/* The VPC's own range goes to the state: the firewall's and the hosts' private network. */
static void vpc_range_known(struct dz *z, const char *range)
{
	json_t *pd = pdata(z->c);

	if (!range)
		return;
	json_object_set_new(pd, "vpc_ip_range", json_string(range));
	z->ip_range = state_str(pd, "vpc_ip_range");
}

/*
 * DigitalOcean refuses a VPC whose range overlaps another network of the
 * account; said before anything of the layout is made, with the VPC in the
 * way.
 */
static const json_t *vpc_overlapping(const struct dz *z, json_t *vpcs)
{
	size_t i;
	json_t *v;

	if (!z->want_range)
		return NULL;
	json_array_foreach(vpcs, i, v)
	{
		const char *name = cloud_jstr(v, "name");
		if (!(name && !strcmp(name, z->prefix)) &&
		    cloud_ipv4_overlap(z->want_range, cloud_jstr(v, "ip_range")))
			return v;
	}
	return NULL;
}

static int vpc_overlap_error(const struct dz *z, json_t *vpcs, struct pv_error *err)
{
	const json_t *o = vpc_overlapping(z, vpcs);

	if (!o)
		return 0;
	pv_error_set(err,
	             "the inventory's vpc.ip_range %s overlaps VPC %s (%s) of this DigitalOcean "
	             "account, and DigitalOcean refuses overlapping VPC ranges; leave ip_range out "
	             "(DigitalOcean then picks a free range for each layout's VPC)",
	             z->want_range, cloud_jstr(o, "name"), cloud_jstr(o, "ip_range"));
	return -1;
}

static int ensure_vpc(struct dz *z, bool *changed, struct pv_error *err)
{
	json_t *pd = pdata(z->c), *vpcs = NULL, *v;
	int rc = -1;

	if (list(z, "/v2/vpcs", "vpcs", &vpcs, err) < 0)
		return -1;
	if (find_untagged(z, vpcs, "vpc_id", "VPC", z->prefix, &v, err) < 0)
		goto out;
	if (v) {
		const char *have = cloud_jstr(v, "ip_range");
		if (have && z->want_range && strcmp(have, z->want_range)) {
			pv_error_set(err,
			             "VPC %s has ip_range %s, the inventory asks for %s; a VPC's "
			             "range cannot be changed",
			             z->prefix, have, z->want_range);
			goto out;
		}
		json_object_set(pd, "vpc_id", json_object_get(v, "id"));
		vpc_range_known(z, have);
		rc = state_save(z->c->state, err);
		goto out;
	}
	if (vpc_overlap_error(z, vpcs, err) < 0)
		goto out;
	report_info(z->c->rep, NULL, "creating VPC %s (%s)", z->prefix,
	            z->want_range ? z->want_range : "a free range DigitalOcean picks");
	if (creating(z, "vpc_id", true, err) < 0)
		goto out;
	json_t *body = json_pack("{s:s, s:s, s:s}", "name", z->prefix, "region",
	                         cloud_setting(z->c, "region", "fra1"), "description",
	                         "made by provision for this layout");
	if (z->want_range)
		json_object_set_new(body, "ip_range", json_string(z->want_range));
	json_t *made = NULL;
	rc = create(z, "/v2/vpcs", "vpcs", "vpc", z->prefix, NULL, "VPC", NULL, body, &made, NULL,
	            err);
	json_decref(body);
	if (rc == 0) {
		json_object_set(pd, "vpc_id", json_object_get(made, "id"));
		vpc_range_known(z, cloud_jstr(made, "ip_range"));
		*changed = true;
		rc = creating(z, "vpc_id", false, err);
	}
	json_decref(made);
out:
	json_decref(vpcs);
	return rc;
}

static int ensure_firewall(struct dz *z, bool *changed, struct pv_error *err)
{
	json_t *pd = pdata(z->c), *fws = NULL, *f, *want = firewall_body(z);
	struct http_response r;
	int rc = -1;

	if (list(z, "/v2/firewalls", "firewalls", &fws, err) < 0)
		goto out;
	if (find_untagged(z, fws, "firewall_id", "firewall", z->prefix, &f, err) < 0)
		goto out;
	if (f) {
		json_object_set(pd, "firewall_id", json_object_get(f, "id"));
		if (state_save(z->c->state, err) < 0)
			goto out;
		if (!rules_equal(f, want)) {
			char *p = xasprintf("/v2/firewalls/%s", cloud_jstr(f, "id"));
			report_info(z->c->rep, NULL, "updating the rules of firewall %s",
			            z->prefix);
			rc = call(z, "PUT", p, want, &r, err, "updating the firewall");
			free(p);
			http_response_release(&r);
			if (rc < 0)
				goto out;
			*changed = true;
		}
		rc = 0;
		goto out;
	}
	report_info(z->c->rep, NULL, "creating firewall %s", z->prefix);
	if (creating(z, "firewall_id", true, err) < 0)
		goto out;
	json_t *made = NULL;
	rc = create(z, "/v2/firewalls", "firewalls", "firewall", z->prefix, z->tag, "firewall",
	            NULL, want, &made, NULL, err);
	if (rc == 0) {
		json_object_set(pd, "firewall_id", json_object_get(made, "id"));
		*changed = true;
		rc = creating(z, "firewall_id", false, err);
	}
	json_decref(made);
out:
	json_decref(fws);
	json_decref(want);
	return rc;
}

static void record_droplet(json_t *o, json_t *d)
{
	size_t i;
	json_t *n;

	json_object_set_new(o, "droplet_id", json_integer(cloud_jid(d, "id")));
	json_array_foreach(json_object_get(json_object_get(d, "networks"), "v4"), i, n)
	{
		const char *t = cloud_jstr(n, "type"), *ip = cloud_jstr(n, "ip_address");
		if (t && ip && !strcmp(t, "public"))
			state_set_str(o, "address", ip);
		else if (t && ip && !strcmp(t, "private"))
			state_set_str(o, "private_address", ip);
	}
}

static char *server_tag(const struct dz *z, const char *server)
{
	return xasprintf("%s:%s", z->tag, server);
}

/*
 * Create one droplet (cloud_create: a lost answer or a 5xx is looked for,
 * by the server's tag and the tool's mark, before the create is sent again
 * after the answer's Retry-After).  Its host key is made and recorded
 * first, so the droplet found later is trusted with the key it was given.
 */
static int create_droplet(struct dz *z, const struct inv_server *s, json_t *o, long long *action,
                          struct pv_error *err)
{
	struct provider_ctx *c = z->c;
	json_t *pd = pdata(c), *made = NULL, *resp = NULL;
	char *priv = NULL, *pub = NULL, *comment = xasprintf("root@%s", s->name), *ud = NULL;
	char *stag = server_tag(z, s->name), *etag = http_escape(stag);
	char *lpath = xasprintf("/v2/droplets?tag_name=%s", etag);
	struct kind_arg ka = {z, lpath, "droplets", stag, true};
	int rc = -1;

	if (keygen_ed25519(&priv, &pub, comment, err) < 0)
		goto out;
	cloud_lock();
	state_set_str(o, "host_key", pub);
	state_set_str(o, "status", "creating");
	json_object_del(o, "droplet_id");
	rc = state_save(c->state, err);
	cloud_unlock();
	if (rc < 0)
		goto out;
	ud = cloud_user_data(s->name, c->admin_user, c->admin_public_key, priv, pub);
	json_t *tags = json_pack("[s,s,s]", z->tag, stag, MANAGED_TAG);
	if (cloud_is_lb_target(c, s->name)) {
		char *lt = xasprintf("%s:lb", z->tag);
		json_array_append_new(tags, json_string(lt));
		free(lt);
	}
	json_t *body =
	    json_pack("{s:s, s:s, s:s, s:s, s:[O], s:o, s:s, s:O, s:b, s:b}", "name", s->name,
	              "region", cloud_server_setting(c, s, "region", "fra1"), "size",
	              cloud_server_setting(c, s, "size", "s-1vcpu-2gb"), "image",
	              cloud_server_setting(c, s, "image", "debian-12-x64"), "ssh_keys",
	              json_object_get(pd, "ssh_key_id"), "tags", tags, "user_data", ud, "vpc_uuid",
	              json_object_get(pd, "vpc_id"), "ipv6", 1, "monitoring", 0);
	if (cloud_server_backups(s) >= 0)
		json_object_set_new(body, "backups", json_boolean(cloud_server_backups(s) == 1));
	report_info(c->rep, s->name, "creating droplet %s (%s, %s, %s)", s->name,
	            cloud_server_setting(c, s, "size", "s-1vcpu-2gb"),
	            cloud_server_setting(c, s, "image", "debian-12-x64"),
	            cloud_server_setting(c, s, "region", "fra1"));
	rc = create_as(z, &ka, "/v2/droplets", "droplet", s->name, "droplet", s->name, body, &made,
	               &resp, NULL, err);
	json_decref(body);
	if (rc < 0)
		goto out;
	json_t *acts = json_object_get(json_object_get(resp, "links"), "actions");
	*action = cloud_jid(json_array_get(acts, 0), "id");
	cloud_lock();
	record_droplet(o, made);
	state_set_str(o, "status", "created");
	rc = state_save(c->state, err);
	cloud_unlock();
out:
	json_decref(made);
	json_decref(resp);
	pv_free_secret(priv);
	if (ud)
		pv_free_secret(ud);
	free(pub);
	free(comment);
	free(stag);
	free(etag);
	free(lpath);
	return rc;
}

/* The droplet of server: its id in the state, or its tags and the tool's mark. */
static json_t *find_server(struct dz *z, json_t *drops, const char *server)
{
	char *stag = server_tag(z, server);
	long long known = cloud_jid(state_obj(hosts_obj(z->c, false), server, false), "droplet_id");
	size_t i;
	json_t *v, *found = NULL;

	json_array_foreach(drops, i, v)
	{
		if (has_tag(v, stag) && (has_tag(v, MANAGED_TAG) || cloud_jid(v, "id") == known))
			found = v;
	}
	free(stag);
	return found;
}

static int list_droplets(struct dz *z, json_t **out, struct pv_error *err)
{
	char *tag = http_escape(z->tag);
	char *path = xasprintf("/v2/droplets?tag_name=%s", tag);
	int rc = list(z, path, "droplets", out, err);

	free(tag);
	free(path);
	return rc;
}

static json_t *droplet_find(void *arg, json_t *listed, const struct inv_server *s, json_t *o)
{
	(void)o;
	return find_server(arg, listed, s->name);
}

static int droplet_power_on(void *arg, json_t *d, long long *action, struct pv_error *err)
{
	char *p = xasprintf("/v2/droplets/%lld/actions", cloud_jid(d, "id"));
	json_t *body = json_pack("{s:s}", "type", "power_on");
	struct http_response r;
	int rc = call(arg, "POST", p, body, &r, err, "powering on");

	if (rc == 0)
		*action = cloud_jid(json_object_get(r.json, "action"), "id");
	http_response_release(&r);
	json_decref(body);
	free(p);
	return rc;
}

static int droplet_create(void *arg, const struct inv_server *s, json_t *o, long long *action,
                          struct pv_error *err)
{
	return create_droplet(arg, s, o, action, err);
}

static int droplet_wait(void *arg, const struct inv_server *s, json_t *o, long long action,
                        bool running, struct pv_error *err)
{
	struct dz *z = arg;
	char *what = xasprintf("droplet %s", s->name);
	int rc = action ? wait_host_action(z, action, s->name, what, err) : 0;

	if (rc == 0 && !running) {
		char *p = xasprintf("/v2/droplets/%lld", cloud_jid(o, "droplet_id"));
		json_t *d = json_object();
		rc = wait_status(z, p, "droplet", "active", d, s->name, what, err);
		if (rc == 0) {
			cloud_lock();
			record_droplet(o, d);
			cloud_unlock();
		}
		json_decref(d);
		free(p);
	}
	free(what);
	return rc;
}

/* DigitalOcean's backups are on when the droplet lists the feature. */
static bool droplet_backups_on(json_t *d)
{
	return listed_in(d, "features", "backups");
}

static int droplet_backups(void *arg, const struct inv_server *s, json_t *o, bool on,
                           struct pv_error *err)
{
	struct dz *z = arg;
	long long id = cloud_jid(o, "droplet_id");
	char *path = xasprintf("/v2/droplets/%lld/actions", id),
	     *get = xasprintf("/v2/droplets/%lld", id);
	json_t *body = json_pack("{s:s}", "type", on ? "enable_backups" : "disable_backups");
	struct cloud_backups b = {.http = &z->http,
	                          .rep = z->c->rep,
	                          .kind = "droplet",
	                          .host = s->name,
	                          .on = on,
	                          .path = path,
	                          .body = body,
	                          .get = get,
	                          .one = "droplet",
	                          .on_now = droplet_backups_on};
	int rc = cloud_backups_switch(&b, err);

	if (rc == 0 && b.action)
		rc = wait_host_action(z, b.action, s->name, b.what, err);
	json_decref(body);
	free(get);
	free(path);
	return rc;
}

static const char *droplet_listed_name(json_t *d)
{
	return cloud_jstr(d, "name");
}

static int ensure_droplets(struct dz *z, bool *changed, struct pv_error *err)
{
	struct cloud_servers cs = {.c = z->c,
	                           .kind = "droplet",
	                           .marks = "tags",
	                           .id_key = "droplet_id",
	                           .running = "active",
	                           .arg = z,
	                           .find = droplet_find,
	                           .record = record_droplet,
	                           .drift = drift,
	                           .power_on = droplet_power_on,
	                           .create = droplet_create,
	                           .wait = droplet_wait,
	                           .listed_name = droplet_listed_name,
	                           .backups_on = droplet_backups_on,
	                           .backups = droplet_backups,
	                           .backups_at_create = true};
	int rc = -1;

	if (list_droplets(z, &cs.listed, err) == 0)
		rc = cloud_servers(&cs, err);
	*changed = *changed || cs.changed;
	json_decref(cs.listed);
	return rc;
}

/*
 * Whether the volume named name (*v, or NULL) is someone else's: it lacks
 * the layout's tag or the tool's mark, and *err says so and what to do.
 */
/*
 * A volume's name: unique per region in the account, so it names the
 * environment too (but "default", whose volumes kept their first names).
 */
static bool volume_taken(struct dz *z, json_t *vols, const char *name, json_t **v,
                         struct pv_error *err)
{
	*v = cloud_find_name(vols, name);
	if (!*v || (has_tag(*v, z->tag) && has_tag(*v, MANAGED_TAG)))
		return false;
	pv_error_set(err,
	             "a volume named %s exists but is not ours (no tags %s and %s); not "
	             "touching it: rename or delete it",
	             name, z->tag, MANAGED_TAG);
	*v = NULL;
	return true;
}

/* Is volume id attached to droplet (a fresh look)? */
static int volume_attached(struct dz *z, const char *id, long long droplet, bool *attached,
                           struct pv_error *err)
{
	char *p = xasprintf("/v2/volumes/%s", id);
	struct http_response r;
	size_t i;
	json_t *x;
	int rc = call(z, "GET", p, NULL, &r, err, "looking at a volume");

	*attached = false;
	json_array_foreach(json_object_get(json_object_get(r.json, "volume"), "droplet_ids"), i, x)
	{
		*attached = *attached || (rc == 0 && json_integer_value(x) == droplet);
	}
	http_response_release(&r);
	free(p);
	return rc;
}

struct attach_look {
	struct dz *z;
	const char *id;
	long long droplet;
};

static int attach_look(void *arg, bool *done, struct pv_error *err)
{
	struct attach_look *a = arg;

	return volume_attached(a->z, a->id, a->droplet, done, err);
}

/*
 * Attach volume id (named name) to server s's droplet.  An attach whose
 * answer was lost or a 5xx may have been carried out: look before sending
 * it again (cloud_switch).
 */
static int attach_volume(struct dz *z, const char *id, const char *name, const struct inv_server *s,
                         long long droplet, struct pv_error *err)
{
	char *p = xasprintf("/v2/volumes/%s/actions", id),
	     *what = xasprintf("attaching volume %s", name);
	json_t *body =
	    json_pack("{s:s, s:I, s:s}", "type", "attach", "droplet_id", (json_int_t)droplet,
	              "region", cloud_server_setting(z->c, s, "region", "fra1"));
	struct attach_look a = {z, id, droplet};
	struct cloud_switch sw = {.http = &z->http,
	                          .rep = z->c->rep,
	                          .host = s->name,
	                          .what = what,
	                          .path = p,
	                          .body = body,
	                          .look = attach_look,
	                          .arg = &a,
	                          .done_says = "the volume is attached",
	                          .not_done_says = "it is not attached"};
	int rc = cloud_switch(&sw, err);

	if (rc == 0 && sw.action)
		rc = wait_host_action(z, sw.action, s->name, name, err);
	json_decref(body);
	free(what);
	free(p);
	return rc;
}

static int ensure_volumes(struct dz *z, bool *changed, struct pv_error *err)
{
	struct provider_ctx *c = z->c;
	json_t *vols = NULL, *vs = state_obj(pdata(c), "volumes", true);
	bool any = false;
	int rc = -1;

	for (size_t i = 0; i < c->layout->n_servers; i++)
		any = any || cloud_server_volumes(&c->layout->servers[i]);
	if (!any)
		return 0;
	if (list(z, "/v2/volumes", "volumes", &vols, err) < 0)
		return -1;
	for (size_t i = 0; i < c->layout->n_servers; i++) {
		const struct inv_server *s = &c->layout->servers[i];
		const struct node *sv = cloud_server_volumes(s);
		json_t *o = state_obj(hosts_obj(c, true), s->name, false);
		for (size_t k = 0; sv && k < sv->n; k++) {
			const char *vn = cloud_str(sv->items[k], "name");
			char *key = xasprintf("%s/%s", s->name, vn);
			char *name = volume_name(c, s, vn);
			json_t *v = find_id(vols, json_object_get(vs, key));
			if (!v && volume_taken(z, vols, name, &v, err)) {
				free(key);
				free(name);
				goto out;
			}
			int c1 = 0;
			if (!v) {
				report_info(c->rep, s->name, "creating volume %s (%s GB)", name,
				            cloud_str(sv->items[k], "size"));
				json_t *body = json_pack(
				    "{s:s, s:I, s:s, s:s, s:[s,s]}", "name", name, "size_gigabytes",
				    (json_int_t)atoll(cloud_str(sv->items[k], "size")), "region",
				    cloud_server_setting(c, s, "region", "fra1"), "filesystem_type",
				    volume_filesystem(sv->items[k]), "tags", z->tag, MANAGED_TAG);
				json_t *made = NULL;
				c1 = create(z, "/v2/volumes", "volumes", "volume", name,
				            MANAGED_TAG, "volume", s->name, body, &made, NULL, err);
				json_decref(body);
				if (c1 == 0) {
					json_object_set(vs, key, json_object_get(made, "id"));
					c1 = state_save(c->state, err);
				}
				json_decref(made);
				*changed = true;
			} else {
				json_object_set(vs, key, json_object_get(v, "id"));
			}
			bool attached = false;
			size_t q;
			json_t *x;
			json_array_foreach(json_object_get(v, "droplet_ids"), q, x)
			{
				attached =
				    attached || json_integer_value(x) == cloud_jid(o, "droplet_id");
			}
			if (c1 == 0 && !attached) {
				c1 = attach_volume(z, json_string_value(json_object_get(vs, key)),
				                   name, s, cloud_jid(o, "droplet_id"), err);
				*changed = true;
			}
			free(key);
			free(name);
			if (c1 < 0)
				goto out;
		}
	}
	rc = state_save(c->state, err);
out:
	json_decref(vols);
	return rc;
}

/* The size_unit the inventory wants (default 1) and the one the cloud has (0: none said). */
static long long lb_size_want(const struct node *lbs)
{
	return atoll(cloud_str(lbs, "size_unit") ? cloud_str(lbs, "size_unit") : "1");
}

static long long lb_size_have(json_t *lb)
{
	return cloud_jid(lb, "size_unit");
}

static int ensure_lb(struct dz *z, bool *changed, struct pv_error *err)
{
	struct provider_ctx *c = z->c;
	const struct node *lbs = cloud_lb(c);
	json_t *pd = pdata(c), *all = NULL, *lb, *body = NULL;
	const char *hp = cloud_str(lbs, "health_path") ? cloud_str(lbs, "health_path") : "/";
	char *name = NULL, *tag = NULL;
	int rc = -1;

	if (!lbs)
		return 0;
	name = xasprintf("%s-lb", z->prefix);
	tag = xasprintf("%s:lb", z->tag);
	if (list(z, "/v2/load_balancers", "load_balancers", &all, err) < 0)
		goto out;
	if (find_untagged(z, all, "load_balancer_id", "load balancer", name, &lb, err) < 0)
		goto out;
	body = json_pack(
	    "{s:s, s:s, s:I, s:s, s:O, s:[{s:s, s:i, s:s, s:i}, {s:s, s:i, s:s, s:i, s:b}], "
	    "s:{s:s, s:i, s:s, s:i, s:i, s:i, s:i}}",
	    "name", name, "region", cloud_setting(c, "region", "fra1"), "size_unit",
	    (json_int_t)lb_size_want(lbs), "tag", tag, "vpc_uuid", json_object_get(pd, "vpc_id"),
	    "forwarding_rules", "entry_protocol", "http", "entry_port", 80, "target_protocol",
	    "http", "target_port", 80, "entry_protocol", "https", "entry_port", 443,
	    "target_protocol", "https", "target_port", 443, "tls_passthrough", 1, "health_check",
	    "protocol", "http", "port", 80, "path", hp, "check_interval_seconds", 10,
	    "response_timeout_seconds", 5, "healthy_threshold", 3, "unhealthy_threshold", 3);
	if (lb) {
		json_object_set(pd, "load_balancer_id", json_object_get(lb, "id"));
		if ((rc = state_save(c->state, err)) < 0)
			goto out;
		const char *have = cloud_jstr(json_object_get(lb, "health_check"), "path");
		bool path_moves = have && strcmp(have, hp);
		bool resize = lb_size_have(lb) && lb_size_have(lb) != lb_size_want(lbs);
		if (resize)
			report_info(c->rep, NULL, "load balancer %s: size_unit %lld -> %lld", name,
			            lb_size_have(lb), lb_size_want(lbs));
		if (path_moves)
			report_info(c->rep, NULL, "load balancer %s: health check path %s -> %s",
			            name, have, hp);
		if (path_moves || resize) {
			/* an update names the whole load balancer: the same body as a create */
			char *p = xasprintf("/v2/load_balancers/%s", cloud_jstr(lb, "id"));
			struct http_response r;
			rc = call(z, "PUT", p, body, &r, err, "updating the load balancer");
			free(p);
			http_response_release(&r);
			*changed = true;
		}
		goto out;
	}
	report_info(c->rep, NULL, "creating load balancer %s (HTTP and HTTPS, health check %s)",
	            name, hp);
	if ((rc = creating(z, "load_balancer_id", true, err)) < 0)
		goto out;
	json_t *made = NULL;
	rc = create(z, "/v2/load_balancers", "load_balancers", "load_balancer", name, NULL,
	            "load balancer", NULL, body, &made, NULL, err);
	if (rc == 0) {
		json_t *id = json_object_get(made, "id");
		json_object_set(pd, "load_balancer_id", id);
		rc = creating(z, "load_balancer_id", false, err);
		if (rc == 0) {
			char *p = xasprintf("/v2/load_balancers/%s", json_string_value(id));
			rc = wait_status(z, p, "load_balancer", "active", NULL, NULL, name, err);
			free(p);
		}
		*changed = true;
	}
	json_decref(made);
out:
	json_decref(body);
	json_decref(all);
	free(name);
	free(tag);
	return rc;
}

/*
 * Whether a droplet of the layout is to join (1) or leave (-1) the load
 * balancer's targets, which it picks by the tag TAG:lb: given at the
 * droplet's create, and changed here when the inventory's targets change.
 */
static int lb_target_move(const struct dz *z, const struct inv_server *s, json_t *d)
{
	char *lt = xasprintf("%s:lb", z->tag);
	bool want = cloud_lb(z->c) && cloud_is_lb_target(z->c, s->name), is = has_tag(d, lt);

	free(lt);
	return want == is ? 0 : want ? 1 : -1;
}

static int ensure_lb_targets(struct dz *z, bool *changed, struct pv_error *err)
{
	struct provider_ctx *c = z->c;
	char *lt = xasprintf("%s:lb", z->tag), *esc = http_escape(lt);
	char *tp = xasprintf("/v2/tags/%s", esc), *rp = xasprintf("/v2/tags/%s/resources", esc);
	json_t *drops = NULL;
	bool tag_known = false;
	int rc = list_droplets(z, &drops, err);

	for (size_t i = 0; rc == 0 && i < c->layout->n_servers; i++) {
		const struct inv_server *s = &c->layout->servers[i];
		json_t *d = find_server(z, drops, s->name);
		int move = d ? lb_target_move(z, s, d) : 0;
		struct http_response r;
		if (!move)
			continue;
		report_info(c->rep, s->name, "droplet %s %s the load balancer's targets", s->name,
		            move > 0 ? "joins" : "leaves");
		/* a tag is made by the first resource that carries it: it may not be yet */
		if (move > 0 && !tag_known) {
			struct http_opts o = {.flags = HTTP_IDEMPOTENT};
			http_response_init(&r);
			rc = http_request(&z->http, "GET", tp, &o, &r, err);
			if (rc == 0 && r.status != 200 && r.status != 404)
				rc = http_fail(&r, err, "looking at a tag");
			if (rc == 0 && r.status == 404) {
				http_response_release(&r);
				json_t *body = json_pack("{s:s}", "name", lt);
				rc = call(z, "POST", "/v2/tags", body, &r, err, "making a tag");
				json_decref(body);
			}
			http_response_release(&r);
			tag_known = rc == 0;
			if (rc < 0)
				break;
		}
		char id[32];
		snprintf(id, sizeof(id), "%lld", cloud_jid(d, "id"));
		json_t *body = json_pack("{s:[{s:s, s:s}]}", "resources", "resource_id", id,
		                         "resource_type", "droplet");
		rc = call(z, move > 0 ? "POST" : "DELETE", rp, body, &r, err,
		          move > 0 ? "tagging a droplet" : "untagging a droplet");
		json_decref(body);
		http_response_release(&r);
		*changed = true;
	}
	json_decref(drops);
	free(lt);
	free(esc);
	free(tp);
	free(rp);
	return rc;
}

/* ---- the load balancer pair's reserved IP (lb_pair: floating_ip) ---- */

/*
 * A reserved IP has no name and no tags: the tool knows its own by the
 * state alone (provider_data.reserved_ip, its address and identifier).
 * Listed, each gets "id" (its address) and "name" ("on droplet ID", or
 * "unassigned"), the words cloud_create and cloud_sweep look for.
 */
static int list_reserved_ips(struct dz *z, json_t **out, struct pv_error *err)
{
	size_t i;
	json_t *v;

	if (list(z, "/v2/reserved_ips", "reserved_ips", out, err) < 0)
		return -1;
	json_array_foreach(*out, i, v)
	{
		long long d = cloud_jid(json_object_get(v, "droplet"), "id");
		json_object_set(v, "id", json_object_get(v, "ip"));
		json_object_set_new(
		    v, "name", d ? json_sprintf("on droplet %lld", d) : json_string("unassigned"));
	}
	return 0;
}

static int list_reserved_ips_cb(void *arg, json_t **all, struct pv_error *err)
{
	return list_reserved_ips(arg, all, err);
}

/* The droplet id of the pair's first server, from the state (0: not made). */
static long long rip_first_droplet(struct dz *z, const char **name)
{
	const struct inv_server *s = cloud_lb_pair_server(z->c->layout, 0);

	*name = s->name;
	return cloud_jid(state_obj(hosts_obj(z->c, false), s->name, false), "droplet_id");
}

struct rip_look {
	struct dz *z;
	const char *ip;
	long long droplet;
};

/* After a lost answer or a 5xx of an assign: is the IP on that droplet? */
static int rip_assigned(void *arg, bool *done, struct pv_error *err)
{
	struct rip_look *a = arg;
	struct http_response r;
	char *p = xasprintf("/v2/reserved_ips/%s", a->ip);
	int rc = call(a->z, "GET", p, NULL, &r, err, "looking at the reserved IP");

	*done =
	    rc == 0 && cloud_jid(json_object_get(json_object_get(r.json, "reserved_ip"), "droplet"),
	                         "id") == a->droplet;
	http_response_release(&r);
	free(p);
	return rc;
}

static int rip_assign(struct dz *z, const char *ip, long long droplet, const char *host,
                      struct pv_error *err)
{
	struct rip_look look = {z, ip, droplet};
	char *path = xasprintf("/v2/reserved_ips/%s/actions", ip);
	json_t *body = json_pack("{s:s, s:I}", "type", "assign", "droplet_id", (json_int_t)droplet);
	char what[160];
	struct cloud_switch sw = {.http = &z->http,
	                          .rep = z->c->rep,
	                          .host = host,
	                          .what = what,
	                          .path = path,
	                          .body = body,
	                          .look = rip_assigned,
	                          .arg = &look,
	                          .done_says = "the reserved IP is assigned to it",
	                          .not_done_says = "it is not assigned to it"};
	int rc;

	snprintf(what, sizeof(what), "assigning the reserved IP to droplet %s", host);
	report_info(z->c->rep, host, "assigning reserved IP %s to droplet %s", ip, host);
	rc = cloud_switch(&sw, err);
	if (rc == 0 && sw.action)
		rc = wait_host_action(z, sw.action, host, "reserved IP", err);
	json_decref(body);
	free(path);
	return rc;
}

/*
 * The pair's reserved IP: made once on the pair's first droplet (a create
 * whose answer is lost is looked for as the reserved IP on that droplet,
 * which holds one at most, when the state says a create was sent); one the
 * state records is assigned to the first droplet only when it is on none.
 */
static int ensure_reserved_ip(struct dz *z, bool *changed, struct pv_error *err)
{
	struct provider_ctx *c = z->c;
	json_t *pd = pdata(c), *all = NULL, *made = NULL, *resp = NULL, *body = NULL, *rip;
	const char *host;
	long long droplet = rip_first_droplet(z, &host);
	int rc = -1;

	if (list_reserved_ips(z, &all, err) < 0)
		goto out;
	rip = find_id(all, json_object_get(pd, "reserved_ip"));
	char *on = xasprintf("on droplet %lld", droplet);
	/* a run stopped after sending the create: the one on the droplet is what it made */
	if (!rip && json_is_true(json_object_get(pd, "reserved_ip_creating")) &&
	    (rip = cloud_find_name(all, on))) {
		report_info(c->rep, NULL, "adopting reserved IP %s, made by an earlier run",
		            cloud_jstr(rip, "ip"));
		json_object_set(pd, "reserved_ip", json_object_get(rip, "ip"));
		if ((rc = creating(z, "reserved_ip", false, err)) < 0) {
			free(on);
			goto out;
		}
	}
	if (rip) {
		free(on);
		rc = 0;
		if (!cloud_jid(json_object_get(rip, "droplet"), "id")) {
			rc = rip_assign(z, cloud_jstr(rip, "ip"), droplet, host, err);
			*changed = true;
		}
		goto out;
	}
	report_info(c->rep, NULL,
	            "creating a reserved IP for the load balancer pair, on droplet %s", host);
	if ((rc = creating(z, "reserved_ip", true, err)) < 0) {
		free(on);
		goto out;
	}
	struct cloud_create cc = {.http = &z->http,
	                          .rep = c->rep,
	                          .what = "reserved IP",
	                          .name = on,
	                          .path = "/v2/reserved_ips",
	                          .one = "reserved_ip",
	                          .list = list_reserved_ips_cb,
	                          .arg = z};
	body = json_pack("{s:I}", "droplet_id", (json_int_t)droplet);
	cc.body = body;
	rc = cloud_create(&cc, &made, &resp, err);
	free(on);
	if (rc < 0)
		goto out;
	json_object_set(pd, "reserved_ip", json_object_get(made, "ip"));
	if ((rc = creating(z, "reserved_ip", false, err)) < 0)
		goto out;
	*changed = true;
	long long action = cloud_jid(
	    json_array_get(json_object_get(json_object_get(resp, "links"), "actions"), 0), "id");
	if (action)
		rc = wait_host_action(z, action, host, "reserved IP", err);
out:
	json_decref(body);
	json_decref(made);
	json_decref(resp);
	json_decref(all);
	return rc;
}

static int do_up(struct provider_ctx *c, struct host **out, size_t *n, struct pv_error *err)
{
	long long start = pv_now_ms();
	struct dz z;
	bool changed = false;
	int rc = -1;

	*out = NULL;
	*n = 0;
	if (dz_open(&z, c, err) < 0)
		goto out;
	/* the VPC first: an overlapping range is refused before anything is made */
	if (ensure_vpc(&z, &changed, err) < 0 || ensure_ssh_key(&z, &changed, err) < 0 ||
	    ensure_firewall(&z, &changed, err) < 0 || ensure_droplets(&z, &changed, err) < 0 ||
	    ensure_volumes(&z, &changed, err) < 0 || ensure_lb(&z, &changed, err) < 0 ||
	    ensure_lb_targets(&z, &changed, err) < 0 ||
	    (cloud_lb_pair(c->layout) && ensure_reserved_ip(&z, &changed, err) < 0))
		goto out;
	if (cloud_pin_and_wait(c, "droplet", BOOT_TIMEOUT_MS, err) < 0)
		goto out;
	cloud_report_requests(c, "digitalocean",
	                      changed ? "cloud resources created or updated"
	                              : "cloud resources up to date",
	                      &z.http, start);
	rc = do_hosts(c, out, n, err);
out:
	dz_close(&z);
	return rc;
}

/* ---- plan ---- */

static int do_plan(struct provider_ctx *c, struct buf *out, struct pv_error *err)
{
	struct dz z;
	json_t *keys = NULL, *vpcs = NULL, *fws = NULL, *drops = NULL, *lbs = NULL, *want = NULL;
	json_t *vols = NULL, *rips = NULL, *f;
	int rc = -1;

	if (dz_open(&z, c, err) < 0)
		goto out;
	if (list(&z, "/v2/account/keys", "ssh_keys", &keys, err) < 0 ||
	    list(&z, "/v2/vpcs", "vpcs", &vpcs, err) < 0 ||
	    list(&z, "/v2/firewalls", "firewalls", &fws, err) < 0 ||
	    list_droplets(&z, &drops, err) < 0 ||
	    list(&z, "/v2/load_balancers", "load_balancers", &lbs, err) < 0 ||
	    list(&z, "/v2/volumes", "volumes", &vols, err) < 0)
		goto out;
	bool key = false;
	size_t i;
	json_t *v;
	json_array_foreach(keys, i, v)
	{
		key = key || cloud_same_key(cloud_jstr(v, "public_key"), c->admin_public_key);
	}
	struct pv_error taken = {{0}};
	/* a key of the layout's name that is not ours makes the create fail */
	if (!key && find_untagged(&z, keys, "ssh_key_id", "SSH key", z.prefix, &v, &taken) < 0)
		buf_addf(out, "  ! cloud: %s; up would fail\n", taken.msg);
	else if (!key && find_id(keys, json_object_get(pdata(c), "ssh_key_id")) &&
	         !json_is_true(json_object_get(pdata(c), "ssh_key_foreign")))
		buf_addf(out, "  ~ cloud: SSH key %s replaced (the operator's key changed)\n",
		         z.prefix);
	else if (!key)
		buf_addf(out, "  + cloud: SSH key %s\n", z.prefix);
	if (find_untagged(&z, vpcs, "vpc_id", "VPC", z.prefix, &v, &taken) < 0)
		buf_addf(out, "  ! cloud: %s; up would fail\n", taken.msg);
	else if (!v && vpc_overlap_error(&z, vpcs, &taken) < 0)
		buf_addf(out, "  ! cloud: %s; up would fail\n", taken.msg);
	else if (!v)
		buf_addf(out, "  + cloud: VPC %s (%s)\n", z.prefix,
		         z.want_range ? z.want_range : "a free range DigitalOcean picks");
	else if (cloud_jstr(v, "ip_range"))
		z.ip_range = cloud_jstr(v, "ip_range");
	want = firewall_body(&z);
	if (find_untagged(&z, fws, "firewall_id", "firewall", z.prefix, &f, &taken) < 0)
		buf_addf(out, "  ! cloud: %s; up would fail\n", taken.msg);
	else if (!f)
		buf_addf(out, "  + cloud: firewall %s\n", z.prefix);
	else if (!rules_equal(f, want))
		buf_addf(out, "  ~ cloud: firewall %s: rules change\n", z.prefix);
	for (size_t k = 0; k < c->layout->n_servers; k++) {
		const struct inv_server *s = &c->layout->servers[k];
		json_t *d = find_server(&z, drops, s->name);
		if (!d)
			buf_addf(out,
			         "  + cloud: droplet %s (%s, %s, %s), host key pinned before first "
			         "boot%s\n",
			         s->name, cloud_server_setting(c, s, "size", "s-1vcpu-2gb"),
			         cloud_server_setting(c, s, "image", "debian-12-x64"),
			         cloud_server_setting(c, s, "region", "fra1"),
			         cloud_server_backups(s) == 1 ? ", the provider's backups on" : "");
		else if (cloud_jstr(d, "status") && !strcmp(cloud_jstr(d, "status"), "off"))
			buf_addf(out, "  ~ cloud: power on droplet %s\n", s->name);
		if (d) {
			drift(c, s, d, out);
			cloud_plan_backups(s, "droplet", droplet_backups_on(d), out);
			if (lb_target_move(&z, s, d))
				buf_addf(
				    out, "  ~ cloud: droplet %s %s the load balancer's targets\n",
				    s->name, lb_target_move(&z, s, d) > 0 ? "joins" : "leaves");
		}
		const struct node *sv = cloud_server_volumes(s);
		for (size_t q = 0; !d && sv && q < sv->n; q++) {
			char *vn = volume_name(c, s, cloud_str(sv->items[q], "name"));
			json_t *vol;
			if (volume_taken(&z, vols, vn, &vol, &taken))
				buf_addf(out, "  ! cloud: %s; up would fail\n", taken.msg);
			else if (!vol)
				buf_addf(out, "  + cloud: volume %s (%s GB) on %s\n", vn,
				         cloud_str(sv->items[q], "size"), s->name);
			free(vn);
		}
	}
	if (cloud_lb_pair(c->layout)) {
		const char *first = cloud_lb_pair_server(c->layout, 0)->name;
		if (list_reserved_ips(&z, &rips, err) < 0)
			goto out;
		json_t *rip = find_id(rips, json_object_get(pdata(c), "reserved_ip"));
		if (!rip)
			buf_addf(
			    out,
			    "  + cloud: reserved IP for the load balancer pair, on droplet %s; it "
			    "moves to the droplet of the pair that takes over\n",
			    first);
		else if (!cloud_jid(json_object_get(rip, "droplet"), "id"))
			buf_addf(out, "  ~ cloud: reserved IP %s: assign to droplet %s\n",
			         cloud_jstr(rip, "ip"), first);
	}
	if (cloud_lb(c)) {
		char *ln = xasprintf("%s-lb", z.prefix);
		json_t *lb = NULL;
		const char *hp = cloud_str(cloud_lb(c), "health_path");
		bool lb_taken = find_untagged(&z, lbs, "load_balancer_id", "load balancer", ln, &lb,
		                              &taken) < 0;
		const char *have = cloud_jstr(json_object_get(lb, "health_check"), "path");
		if (lb_taken)
			buf_addf(out, "  ! cloud: %s; up would fail\n", taken.msg);
		else if (!lb)
			buf_addf(out, "  + cloud: load balancer %s\n", ln);
		else if (have && strcmp(have, hp ? hp : "/"))
			buf_addf(out, "  ~ cloud: load balancer %s: health check path %s -> %s\n",
			         ln, have, hp ? hp : "/");
		if (!lb_taken && lb && lb_size_have(lb) &&
		    lb_size_have(lb) != lb_size_want(cloud_lb(c)))
			buf_addf(out, "  ~ cloud: load balancer %s: size_unit %lld -> %lld\n", ln,
			         lb_size_have(lb), lb_size_want(cloud_lb(c)));
		free(ln);
	}
	rc = 0;
out:
	json_decref(keys);
	json_decref(vpcs);
	json_decref(fws);
	json_decref(drops);
	json_decref(lbs);
	json_decref(vols);
	json_decref(rips);
	json_decref(want);
	dz_close(&z);
	return rc;
}

/* ---- destroy ---- */

/* A DELETE that succeeds also when the resource is gone already (404). */
static int del(struct dz *z, const char *path, const char *what, struct pv_error *err)
{
	struct http_response r;
	struct http_opts o = {0};
	int rc = 0;

	http_response_init(&r);
	if (http_request(&z->http, "DELETE", path, &o, &r, err) < 0)
		rc = pv_error_prefix(err, "deleting %s", what);
	else if (r.status != 404 && (r.status < 200 || r.status > 299))
		rc = http_fail(&r, err, "deleting %s", what);
	http_response_release(&r);
	return rc;
}

static bool managed(const json_t *r, void *arg)
{
	(void)arg;
	return has_tag(r, MANAGED_TAG);
}

/* What one kind is and how it goes. */
struct kind {
	const char *what; /* "volume" */
	const char *list, *key; /* GET path and its array */
	const char *path; /* "/v2/volumes/", the id follows */
	const char *state_key; /* the provider data's id, or NULL */
	bool tagged; /* matched by the layout's tag, and may carry MANAGED_TAG */
	bool by_name; /* matched by name (the prefix, or PREFIX-lb) */
	const char *name_suffix;
	const char *target_tag_suffix; /* the firewall's and load balancer's target */
};

struct del_arg {
	struct dz *z;
	const struct kind *k;
};

static char *item_path(const struct kind *k, const json_t *v)
{
	char id[96];

	cloud_id_text(json_object_get(v, "id"), id, sizeof(id));
	return xasprintf("%s%s", k->path, id);
}

/* Detach a volume from every droplet; one already detached is fine. */
static int detach_all(struct dz *z, const json_t *v, const char *what, struct pv_error *err)
{
	json_t *ds = json_object_get(v, "droplet_ids");
	const char *region = cloud_jstr(json_object_get(v, "region"), "slug");

	for (size_t k = 0; k < json_array_size(ds); k++) {
		struct http_response r;
		char *p = xasprintf("/v2/volumes/%s/actions", cloud_jstr(v, "id"));
		json_t *body = json_pack("{s:s, s:O, s:s}", "type", "detach", "droplet_id",
		                         json_array_get(ds, k), "region",
		                         region ? region : cloud_setting(z->c, "region", "fra1"));
		/* sent again after a lost answer, a detach finds the volume detached */
		struct http_opts o = {.body = body, .flags = HTTP_IDEMPOTENT};
		int rc;
		http_response_init(&r);
		rc = http_request(&z->http, "POST", p, &o, &r, err);
		json_decref(body);
		free(p);
		if (rc < 0)
			pv_error_prefix(err, "detaching %s", what);
		else if (r.status == 404)
			rc = 0; /* gone, or attached no more */
		else if (r.status < 200 || r.status > 299)
			rc = http_fail(&r, err, "detaching %s", what);
		else
			rc = wait_action(z, cloud_jid(json_object_get(r.json, "action"), "id"),
			                 what, err);
		http_response_release(&r);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int delete_one(const json_t *v, void *arg, struct pv_error *err)
{
	struct del_arg *a = arg;
	char *what = xasprintf("%s %s", a->k->what, cloud_jstr(v, "name"));
	char *p = item_path(a->k, v);
	int rc = 0;

	if (!strcmp(a->k->what, "volume"))
		rc = detach_all(a->z, v, what, err);
	if (rc == 0)
		rc = del(a->z, p, what, err);
	/* a droplet is waited for until it is gone: its volumes and VPC wait on it */
	if (rc == 0 && !strcmp(a->k->what, "droplet"))
		rc = wait_status(a->z, p, "droplet", NULL, NULL, NULL, what, err);
	free(p);
	free(what);
	return rc;
}

/* The ids of one kind the state records. */
static json_t *recorded(struct dz *z, const struct kind *k)
{
	json_t *pd = pdata(z->c), *ids = json_array(), *v;
	const char *key;

	if (!strcmp(k->what, "droplet")) {
		json_object_foreach(hosts_obj(z->c, false), key, v)
		{
			if (cloud_jid(v, "droplet_id"))
				json_array_append(ids, json_object_get(v, "droplet_id"));
		}
	} else if (!strcmp(k->what, "volume")) {
		json_object_foreach(state_obj(pd, "volumes", false), key, v)
		{
			json_array_append(ids, v);
		}
	} else if (k->state_key && json_object_get(pd, k->state_key) &&
	           !(!strcmp(k->what, "SSH key") &&
	             json_is_true(json_object_get(pd, "ssh_key_foreign")))) {
		json_array_append(ids, json_object_get(pd, k->state_key));
	}
	return ids;
}

static int sweep(struct dz *z, const struct kind *k, struct pv_error *err)
{
	json_t *all = NULL, *mine = json_array(), *ids = recorded(z, k), *v;
	char *name = xasprintf("%s%s", z->prefix, k->name_suffix ? k->name_suffix : "");
	char *target =
	    k->target_tag_suffix ? xasprintf("%s%s", z->tag, k->target_tag_suffix) : NULL;
	struct del_arg a = {z, k};
	struct cloud_sweep sw = {.c = z->c,
	                         .what = k->what,
	                         .recorded = ids,
	                         .managed = k->tagged ? managed : NULL,
	                         .del = delete_one,
	                         .arg = &a,
	                         .parallel = true};
	size_t i;
	int rc = -1;

	if (list(z, k->list, k->key, &all, err) < 0)
		goto out;
	json_array_foreach(all, i, v)
	{
		const char *n = cloud_jstr(v, "name"), *t = cloud_jstr(v, "tag");
		bool match = k->tagged ? has_tag(v, z->tag) : (n && !strcmp(n, name));
		/* a firewall's tags and a load balancer's tag are its targets */
		if (match && target && !strcmp(k->what, "firewall"))
			match = has_tag(v, target);
		else if (match && target)
			match = t && !strcmp(t, target);
		if (match)
			json_array_append(mine, v);
	}
	rc = cloud_sweep(&sw, mine, err);
out:
	json_decref(all);
	json_decref(mine);
	json_decref(ids);
	free(name);
	free(target);
	return rc;
}

/*
 * The reserved IPs of the layout: the one the state records (the tool's,
 * unassigned, then deleted) and any other on one of the layout's droplets
 * (someone else's: named and kept).  Before the droplets go, so that what
 * is on them is still seen.
 */
static int rip_delete(const json_t *v, void *arg, struct pv_error *err)
{
	struct dz *z = arg;
	const char *ip = cloud_jstr(v, "ip");
	char *p = xasprintf("/v2/reserved_ips/%s", ip), *what = xasprintf("reserved IP %s", ip);
	int rc = 0;

	if (cloud_jid(json_object_get(v, "droplet"), "id")) {
		struct http_response r;
		char *a = xasprintf("%s/actions", p);
		json_t *body = json_pack("{s:s}", "type", "unassign");
		/* sent again after a lost answer, an unassign finds it unassigned */
		struct http_opts o = {.body = body, .flags = HTTP_IDEMPOTENT};
		http_response_init(&r);
		rc = http_request(&z->http, "POST", a, &o, &r, err);
		if (rc < 0)
			pv_error_prefix(err, "unassigning %s", what);
		else if (r.status != 404 && (r.status < 200 || r.status > 299))
			rc = http_fail(&r, err, "unassigning %s", what);
		else if (r.status != 404)
			rc = wait_action(z, cloud_jid(json_object_get(r.json, "action"), "id"),
			                 what, err);
		http_response_release(&r);
		json_decref(body);
		free(a);
	}
	if (rc == 0)
		rc = del(z, p, what, err);
	free(what);
	free(p);
	return rc;
}

static int sweep_reserved_ips(struct dz *z, const json_t *drops, struct pv_error *err)
{
	json_t *all = NULL, *found = json_array(), *ids = json_array(), *v;
	json_t *pd = pdata(z->c);
	struct cloud_sweep sw = {
	    .c = z->c, .what = "reserved IP", .recorded = ids, .del = rip_delete, .arg = z};
	size_t i;
	int rc = -1;

	if (json_object_get(pd, "reserved_ip"))
		json_array_append(ids, json_object_get(pd, "reserved_ip"));
	if (list_reserved_ips(z, &all, err) < 0)
		goto out;
	json_array_foreach(all, i, v)
	{
		json_t *d = json_object_get(json_object_get(v, "droplet"), "id");
		if (cloud_id_in(ids, json_object_get(v, "id")) ||
		    (d && find_id((json_t *)drops, d)))
			json_array_append(found, v);
	}
	rc = cloud_sweep(&sw, found, err);
	if (rc == 0) {
		json_object_del(pd, "reserved_ip");
		rc = state_save(z->c->state, err);
	}
out:
	json_decref(all);
	json_decref(found);
	json_decref(ids);
	return rc;
}

/*
 * The tags the tool made for the layout (and its mark, when nothing else
 * carries it) go too: each deleted when no resource carries it any more,
 * else named and kept.
 */
static int delete_tags(struct dz *z, struct pv_error *err)
{
	json_t *names = json_array(), *hs = hosts_obj(z->c, false), *v;
	const char *key;
	size_t i;
	int rc = 0;

	json_array_append_new(names, json_string(z->tag));
	json_array_append_new(names, json_sprintf("%s:lb", z->tag));
	for (i = 0; i < z->c->layout->n_servers; i++)
		json_array_append_new(names,
		                      json_sprintf("%s:%s", z->tag, z->c->layout->servers[i].name));
	json_object_foreach(hs, key, v)
	{
		json_t *t = json_sprintf("%s:%s", z->tag, key);
		if (!cloud_id_in(names, t))
			json_array_append(names, t);
		json_decref(t);
	}
	json_array_append_new(names, json_string(MANAGED_TAG));
	json_array_foreach(names, i, v)
	{
		const char *t = json_string_value(v);
		char *esc = http_escape(t), *p = xasprintf("/v2/tags/%s", esc);
		struct http_response r;
		free(esc);
		http_response_init(&r);
		rc = http_request(&z->http, "GET", p, NULL, &r, err);
		long count = (long)cloud_jid(
		    json_object_get(json_object_get(r.json, "tag"), "resources"), "count");
		if (rc < 0)
			pv_error_prefix(err, "looking at tag %s", t);
		else if (r.status != 404 && r.status != 200)
			rc = http_fail(&r, err, "looking at tag %s", t);
		else if (r.status == 200 && count > 0 && strcmp(t, MANAGED_TAG))
			report_warn(z->c->rep, NULL,
			            "not ours, kept: tag %s (still on %ld resource%s not ours)", t,
			            count, count == 1 ? "" : "s");
		else if (r.status == 200 && count == 0) {
			char *what = xasprintf("tag %s", t);
			report_info(z->c->rep, NULL, "deleting tag %s", t);
			rc = del(z, p, what, err);
			free(what);
		}
		http_response_release(&r);
		free(p);
		if (rc < 0)
			break;
	}
	json_decref(names);
	return rc;
}

static int do_destroy(struct provider_ctx *c, struct pv_error *err)
{
	/* what depends on others goes first */
	static const struct kind kinds[] = {
	    {"load balancer", "/v2/load_balancers", "load_balancers", "/v2/load_balancers/",
	     "load_balancer_id", false, true, "-lb", ":lb"},
	    {"volume", "/v2/volumes", "volumes", "/v2/volumes/", NULL, true, false, NULL, NULL},
	    {"droplet", NULL, "droplets", "/v2/droplets/", NULL, true, false, NULL, NULL},
	    {"firewall", "/v2/firewalls", "firewalls", "/v2/firewalls/", "firewall_id", false, true,
	     NULL, ""},
	    {"VPC", "/v2/vpcs", "vpcs", "/v2/vpcs/", "vpc_id", false, true, NULL, NULL},
	    {"SSH key", "/v2/account/keys", "ssh_keys", "/v2/account/keys/", "ssh_key_id", false,
	     true, NULL, NULL},
	};
	long long start = pv_now_ms();
	struct dz z;
	int rc = -1;
	char *dl = NULL;

	if (dz_open(&z, c, err) < 0)
		goto out;
	char *tag = http_escape(z.tag);
	dl = xasprintf("/v2/droplets?tag_name=%s", tag);
	free(tag);
	/* reserved IPs only where the layout has or had one: a token may lack their scopes */
	json_t *pd = pdata(c), *drops = NULL;
	if (cloud_lb_pair(c->layout) || json_object_get(pd, "reserved_ip") ||
	    json_object_get(pd, "reserved_ip_creating")) {
		if (list(&z, dl, "droplets", &drops, err) < 0)
			goto out;
		rc = sweep_reserved_ips(&z, drops, err);
		json_decref(drops);
		if (rc < 0)
			goto out;
		rc = -1;
	}
	for (size_t i = 0; i < PV_ARRAY_SIZE(kinds); i++) {
		struct kind k = kinds[i];
		if (!k.list)
			k.list = dl; /* droplets: listed by the layout's tag */
		if (sweep(&z, &k, err) < 0)
			goto out;
	}
	if (delete_tags(&z, err) < 0 || cloud_forget_hosts(c, err) < 0)
		goto out;
	cloud_report_requests(c, "digitalocean", "destroyed", &z.http, start);
	rc = 0;
out:
	free(dl);
	dz_close(&z);
	return rc;
}

static int do_status(struct provider_ctx *c, json_t *out, struct pv_error *err)
{
	struct dz z;
	struct pv_error e = {{0}};
	json_t *listed = NULL;

	(void)err;
	if (dz_open(&z, c, &e) == 0)
		list_droplets(&z, &listed, &e);
	int rc = cloud_status(c, "droplet", "droplet_id", listed, listed ? NULL : e.msg, out);
	json_decref(listed);
	dz_close(&z);
	return rc;
}

/* ---- snapshots ---- */

/*
 * A droplet snapshot (the droplet action "snapshot") has a name but no
 * tags of its own: the tool's are the snapshots of the layout's droplets
 * (listed per droplet) named as cloud_snapshot_name names them,
 * PROJECT-ENV-LAYOUT-SERVER-YYYYMMDD-HHMMSS.
 */

static long long droplet_of(struct dz *z, const char *server)
{
	return cloud_jid(state_obj(hosts_obj(z->c, false), server, false), "droplet_id");
}

/* The snapshots of droplet id, each with "created" (its created_at). */
static int droplet_snapshots(struct dz *z, long long id, json_t **out, struct pv_error *err)
{
	char *path = xasprintf("/v2/droplets/%lld/snapshots", id);
	int rc = list(z, path, "snapshots", out, err);
	size_t i;
	json_t *v;

	free(path);
	json_array_foreach(*out, i, v)
	{
		const char *t = cloud_jstr(v, "created_at");
		json_object_set_new(v, "created", json_string(t ? t : ""));
	}
	return rc;
}

static json_t *dsnap_entry(const json_t *v, const char *host, const char *state)
{
	return cloud_snapshot_entry(v, "size_gigabytes", host, state);
}

static int dsnapshot_one(void *arg, const char *host, json_t **entry, struct pv_error *err)
{
	struct dz *z = arg;
	long long id = droplet_of(z, host);
	json_t *made = NULL, *resp = NULL, *all = NULL, *body;
	char *name, *path, *spath, *what;
	int rc;

	if (!id)
		return cloud_not_created(z->c, "droplet", host, err);
	name = cloud_snapshot_name(z->c, host, (long long)time(NULL));
	path = xasprintf("/v2/droplets/%lld/actions", id);
	spath = xasprintf("/v2/droplets/%lld/snapshots", id);
	what = xasprintf("snapshot %s", name);
	body = json_pack("{s:s, s:s}", "type", "snapshot", "name", name);
	/* a lost answer: the snapshot of that name, if the droplet has it, is the one */
	struct kind_arg ka = {z, spath, "snapshots", NULL, false};
	report_info(z->c->rep, host, "creating snapshot %s of droplet %lld", name, id);
	rc = create_as(z, &ka, path, "action", name, "snapshot", host, body, &made, &resp, NULL,
	               err);
	if (rc == 0 && resp)
		rc = wait_host_action(z, cloud_jid(made, "id"), host, what, err);
	if (rc == 0)
		rc = droplet_snapshots(z, id, &all, err);
	if (rc == 0) {
		json_t *v = cloud_find_name(all, name);
		if (!v) {
			rc = pv_error_set(err,
			                  "%s: done, but droplet %lld lists no snapshot of "
			                  "that name",
			                  what, id);
		} else {
			*entry = dsnap_entry(v, host, "made");
		}
	}
	json_decref(all);
	json_decref(made);
	json_decref(resp);
	json_decref(body);
	free(what);
	free(spath);
	free(path);
	free(name);
	return rc;
}

/* Retention for one server, as hetzner.c: only snapshots named as the tool names them go. */
static int dsnapshot_retain(void *arg, const char *host, size_t keep, json_t *out,
                            struct pv_error *err)
{
	struct dz *z = arg;
	json_t *all = NULL, *mine = json_array(), *excess = NULL, *v;
	size_t i;
	int rc = droplet_snapshots(z, droplet_of(z, host), &all, err);

	json_array_foreach(rc == 0 ? all : NULL, i, v)
	{
		const char *type = cloud_jstr(v, "type");
		if (type && strcmp(type, "snapshot"))
			continue; /* the provider's own backups have their own retention */
		if (cloud_snapshot_named(z->c, host, cloud_jstr(v, "name"))) {
			json_array_append(mine, v);
		} else {
			json_t *e = dsnap_entry(v, host, "kept");
			json_object_set_new(
			    e, "why",
			    json_string("a snapshot of this droplet not named as the "
			                "tool names its own"));
			json_array_append_new(out, e);
		}
	}
	excess = cloud_snapshots_excess(mine, keep);
	json_array_foreach(rc == 0 ? excess : NULL, i, v)
	{
		char *p = xasprintf("/v2/images/%lld", cloud_jid(v, "id"));
		char *what = xasprintf("snapshot %s", cloud_jstr(v, "name"));
		rc = del(z, p, what, err);
		free(what);
		free(p);
		if (rc < 0)
			break;
		json_array_append_new(out, dsnap_entry(v, host, "deleted"));
	}
	json_decref(excess);
	json_decref(mine);
	json_decref(all);
	return rc;
}

static int do_snapshot(struct provider_ctx *c, const char *host, json_t *out, struct pv_error *err)
{
	struct dz z;
	struct cloud_snapshot_ops ops = {"digitalocean", &z.http, dsnapshot_one, dsnapshot_retain,
	                                 &z};
	int rc = -1;

	if (dz_open(&z, c, err) == 0)
		rc = cloud_snapshot_run(c, host, &ops, out, err);
	dz_close(&z);
	return rc;
}

static int do_snapshots(struct provider_ctx *c, json_t *out, struct pv_error *err)
{
	struct dz z;
	json_t *v;
	size_t i;
	int rc = -1;

	if (dz_open(&z, c, err) < 0)
		goto out;
	for (i = 0; i < c->layout->n_servers; i++) {
		const char *host = c->layout->servers[i].name;
		long long id = droplet_of(&z, host);
		json_t *all = NULL;
		size_t k;
		if (!id)
			continue;
		if (droplet_snapshots(&z, id, &all, err) < 0)
			goto out;
		json_array_foreach(all, k, v)
		{
			if (cloud_snapshot_named(c, host, cloud_jstr(v, "name")))
				json_array_append_new(out, dsnap_entry(v, host, "listed"));
		}
		json_decref(all);
	}
	cloud_snapshots_sort(out);
	rc = 0;
out:
	dz_close(&z);
	return rc;
}

const struct provider_ops provider_digitalocean = {
    .name = "digitalocean",
    .token_env = "DIGITALOCEAN_TOKEN",
    .validate = do_validate,
    .check_api = do_check_api,
    .plan = do_plan,
    .up = do_up,
    .hosts = do_hosts,
    .destroy = do_destroy,
    .status = do_status,
    .snapshot = do_snapshot,
    .snapshots = do_snapshots,
};

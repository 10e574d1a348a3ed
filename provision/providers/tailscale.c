/*
 * tailscale.c - devices, device invites and the policy file through the
 * Tailscale API v2 (tailscale.h); the ACL snippet for shared hosts.
 */
#include <stdlib.h>
#include <string.h>

#include "provision/tailscale.h"

#define TS_DEFAULT_BASE "https://api.tailscale.com"

bool ts_token_is_oauth_client(const char *token)
{
	return token && !strncmp(token, "tskey-client-", 13);
}

int ts_open(struct ts_api *t, const char *token, struct pv_error *err)
{
	const char *base = getenv("TAILSCALE_BASE_URL");
	const char *tailnet = getenv("TAILSCALE_TAILNET");
	char *url;
	int rc;

	memset(t, 0, sizeof(*t));
	if (ts_token_is_oauth_client(token))
		return pv_error_set(
		    err, "the Tailscale token is an OAuth client secret (tskey-client-...); "
		         "device invites belong to a user and the API refuses them for OAuth "
		         "clients: use a user's API access token (tskey-api-..., admin console, "
		         "Settings, Keys)");
	if (!base || !*base)
		base = TS_DEFAULT_BASE;
	url = xasprintf("%s/api/v2", base);
	/* a trailing slash in the variable must not make "//api" */
	if (strlen(base) && base[strlen(base) - 1] == '/') {
		free(url);
		url = xasprintf("%sapi/v2", base);
	}
	rc = http_client_init(&t->http, url, token, err);
	free(url);
	if (rc < 0)
		return pv_error_prefix(err, "Tailscale API");
	t->tailnet = http_escape(tailnet && *tailnet ? tailnet : "-");
	return 0;
}

void ts_close(struct ts_api *t)
{
	http_client_release(&t->http);
	free(t->tailnet);
	t->tailnet = NULL;
}

/* One request; a non-2xx status is an error naming what was attempted. */
static int call(struct ts_api *t, const char *method, const char *path, const struct http_opts *o,
                struct http_response *r, struct pv_error *err, const char *what)
{
	http_response_init(r);
	if (http_request(&t->http, method, path, o, r, err) < 0)
		return pv_error_prefix(err, "%s", what);
	if (r->status == 401 || r->status == 403) {
		const char *m = json_string_value(json_object_get(r->json, "message"));
		return pv_error_set(err,
		                    "%s: HTTP %ld%s%s (is TAILSCALE_API_KEY a current user API "
		                    "token with access to this tailnet?)",
		                    what, r->status, m ? ": " : "", m ? m : "");
	}
	if (r->status < 200 || r->status > 299)
		return http_fail(r, err, "%s", what);
	return 0;
}

int ts_devices(struct ts_api *t, json_t **out, struct pv_error *err)
{
	struct http_response r;
	char *path = xasprintf("/tailnet/%s/devices", t->tailnet);
	struct http_opts o = {.flags = HTTP_IDEMPOTENT};
	int rc = call(t, "GET", path, &o, &r, err, "listing the tailnet's devices");
	json_t *d;

	free(path);
	*out = NULL;
	if (rc == 0) {
		d = json_object_get(r.json, "devices");
		if (!json_is_array(d))
			rc = pv_error_set(err, "listing the tailnet's devices: the answer has no "
			                       "'devices' list");
		else
			*out = json_incref(d);
	}
	http_response_release(&r);
	return rc;
}

const char *ts_device_id(const json_t *device)
{
	const char *id = json_string_value(json_object_get(device, "nodeId"));

	return id && *id ? id : json_string_value(json_object_get(device, "id"));
}

static bool has_tag(const json_t *device, const char *tag)
{
	size_t i;
	json_t *t;

	json_array_foreach(json_object_get(device, "tags"), i, t)
	{
		if (json_is_string(t) && !strcmp(json_string_value(t), tag))
			return true;
	}
	return false;
}

static bool is_device(const json_t *d, const char *id)
{
	const char *nid = json_string_value(json_object_get(d, "nodeId"));
	const char *lid = json_string_value(json_object_get(d, "id"));

	return (nid && !strcmp(nid, id)) || (lid && !strcmp(lid, id));
}

const json_t *ts_device_match(const json_t *devices, const char *hostname, const char *recorded,
                              const char *const *tags, size_t n_tags, const char *const *taken,
                              size_t n_taken, struct pv_error *err)
{
	const json_t *found = NULL;
	size_t i, n = 0, other = 0;
	json_t *d;

	json_array_foreach(devices, i, d)
	{
		const char *h = json_string_value(json_object_get(d, "hostname"));
		bool ok = !json_is_true(json_object_get(d, "isExternal")) && ts_device_id(d);

		if (recorded) {
			if (ok && is_device(d, recorded))
				return d;
			continue;
		}
		if (!ok || !h || strcmp(h, hostname))
			continue;
		bool mine = true;
		for (size_t k = 0; mine && k < n_taken; k++)
			mine = !is_device(d, taken[k]);
		for (size_t k = 0; mine && k < n_tags; k++)
			mine = has_tag(d, tags[k]);
		if (!mine) {
			other++;
			continue;
		}
		found = d;
		n++;
	}
	if (recorded)
		pv_error_set(err,
		             "the device recorded for it (node '%s') is no longer in the tailnet; "
		             "has the tailscale role run on it since it was replaced?",
		             recorded);
	else if (n == 1)
		return found;
	else if (n > 1)
		pv_error_set(
		    err,
		    "%zu devices of the tailnet have the hostname '%s' and its tags, and none "
		    "belongs to another host; remove the stale ones or give the host its own "
		    "'tailscale_hostname'",
		    n, hostname);
	else if (other)
		pv_error_set(err,
		             "no device of the tailnet with the hostname '%s' is this host's: %zu "
		             "belong%s to other hosts or environments or lack its tags",
		             hostname, other, other == 1 ? "s" : "");
	else
		pv_error_set(err,
		             "no device of the tailnet has the hostname '%s' (has the tailscale "
		             "role run on it?)",
		             hostname);
	return NULL;
}

int ts_invite(struct ts_api *t, const char *device_id, const char *email, bool multi_use,
              json_t **out, struct pv_error *err)
{
	char *id = http_escape(device_id);
	char *path = xasprintf("/device/%s/device-invites", id);
	json_t *body = json_pack("[{s:s, s:b, s:b}]", "email", email, "multiUse", multi_use,
	                         "allowExitNode", 0);
	struct http_opts o = {.body = body};
	struct http_response r;
	int rc = call(t, "POST", path, &o, &r, err, "creating the device invite");

	*out = NULL;
	if (rc == 0) {
		json_t *first = json_array_get(r.json, 0);
		if (!json_is_object(first) || !json_string_value(json_object_get(first, "id")))
			rc = pv_error_set(err, "creating the device invite: the answer holds no "
			                       "invite");
		else
			*out = json_incref(first);
	}
	http_response_release(&r);
	json_decref(body);
	free(path);
	free(id);
	return rc;
}

int ts_invites(struct ts_api *t, const char *device_id, json_t **out, struct pv_error *err)
{
	char *id = http_escape(device_id);
	char *path = xasprintf("/device/%s/device-invites", id);
	struct http_opts o = {.flags = HTTP_IDEMPOTENT};
	struct http_response r;
	int rc = call(t, "GET", path, &o, &r, err, "listing the device's invites");

	*out = NULL;
	if (rc == 0) {
		if (!json_is_array(r.json))
			rc = pv_error_set(err, "listing the device's invites: the answer is not a "
			                       "list");
		else
			*out = json_incref(r.json);
	}
	http_response_release(&r);
	free(path);
	free(id);
	return rc;
}

int ts_revoke(struct ts_api *t, const char *invite_id, struct pv_error *err)
{
	char *id = http_escape(invite_id);
	char *path = xasprintf("/device-invites/%s", id);
	struct http_response r;
	int rc = call(t, "DELETE", path, NULL, &r, err, "revoking the device invite");

	http_response_release(&r);
	free(path);
	free(id);
	return rc;
}

int ts_policy_get(struct ts_api *t, json_t **policy, char **etag, struct pv_error *err)
{
	char *path = xasprintf("/tailnet/%s/acl", t->tailnet);
	struct http_opts o = {.flags = HTTP_IDEMPOTENT, .accept = "application/json"};
	struct http_response r;
	int rc = call(t, "GET", path, &o, &r, err, "reading the policy file");
	const char *tag = rc == 0 ? http_header(&r, "etag") : NULL;

	*policy = NULL;
	*etag = NULL;
	if (rc == 0 && !json_is_object(r.json))
		rc = pv_error_set(err, "reading the policy file: the answer is not a JSON object");
	else if (rc == 0 && (!tag || !*tag))
		rc = pv_error_set(err, "reading the policy file: the answer has no ETag, so it "
		                       "cannot be updated safely");
	if (rc == 0) {
		*policy = json_incref(r.json);
		*etag = xstrdup(tag);
	}
	http_response_release(&r);
	free(path);
	return rc;
}

int ts_policy_set(struct ts_api *t, const json_t *policy, const char *etag, struct pv_error *err)
{
	char *path = xasprintf("/tailnet/%s/acl", t->tailnet);
	struct http_opts o = {.body = policy, .if_match = etag, .accept = "application/json"};
	struct http_response r;
	int rc;

	http_response_init(&r);
	rc = http_request(&t->http, "POST", path, &o, &r, err);
	if (rc < 0) {
		pv_error_prefix(err, "updating the policy file");
	} else if (r.status == 412) {
		rc = pv_error_set(err,
		                  "the policy file changed since it was read (ETag %s no "
		                  "longer matches); nothing was overwritten: run again to "
		                  "merge into the new one",
		                  etag);
	} else if (r.status < 200 || r.status > 299) {
		rc = http_fail(&r, err, "updating the policy file");
	}
	http_response_release(&r);
	free(path);
	return rc;
}

/* "443/tcp" -> 443, "tcp"; "8080" -> tcp; -1 when malformed. */
static int parse_port(const char *s, const char **proto)
{
	char *end;
	long p = strtol(s, &end, 10);

	if (end == s || p < 1 || p > 65535)
		return -1;
	if (!*end)
		*proto = "tcp";
	else if (!strcmp(end, "/tcp"))
		*proto = "tcp";
	else if (!strcmp(end, "/udp"))
		*proto = "udp";
	else
		return -1;
	return (int)p;
}

int ts_acl_snippet(json_t **out, const struct ts_shared *hosts, size_t n, struct pv_error *err)
{
	json_t *aliases = json_object(), *acls = json_array(), *owners = json_object();
	static const char *const protos[] = {"tcp", "udp"};

	*out = NULL;
	for (size_t i = 0; i < n; i++) {
		const struct ts_shared *h = &hosts[i];
		char *cidr = xasprintf("%s/32", h->address);
		json_object_set_new(aliases, h->hostname, json_string(cidr));
		free(cidr);
		for (size_t k = 0; k < h->n_tags; k++)
			json_object_set_new(owners, h->tags[k],
			                    json_pack("[s]", "autogroup:admin"));
		for (size_t pi = 0; pi < PV_ARRAY_SIZE(protos); pi++) {
			json_t *dst = json_array();
			for (size_t k = 0; k < h->n_ports; k++) {
				const char *proto;
				int port = parse_port(h->ports[k], &proto);
				if (port < 0) {
					json_decref(dst);
					json_decref(aliases);
					json_decref(acls);
					json_decref(owners);
					return pv_error_set(err,
					                    "host '%s': '%s' is not a port (use "
					                    "443/tcp, 53/udp or 8080)",
					                    h->hostname, h->ports[k]);
				}
				if (strcmp(proto, protos[pi]))
					continue;
				char *d = xasprintf("%s:%d", h->hostname, port);
				json_array_append_new(dst, json_string(d));
				free(d);
			}
			if (json_array_size(dst))
				json_array_append_new(acls,
				                      json_pack("{s:s, s:[s], s:s, s:o}", "action",
				                                "accept", "src", "autogroup:shared",
				                                "proto", protos[pi], "dst", dst));
			else
				json_decref(dst);
		}
	}
	*out = json_pack("{s:o, s:o, s:o}", "hosts", aliases, "tagOwners", owners, "acls", acls);
	return 0;
}

static bool name_in(const char *name, size_t len, const json_t *aliases, const char *const *managed,
                    size_t n_managed)
{
	char *s = xstrndup(name, len);
	bool in = json_object_get(aliases, s) != NULL;

	for (size_t i = 0; i < n_managed && !in; i++)
		in = !strcmp(managed[i], s);
	free(s);
	return in;
}

/* A rule for autogroup:shared whose every destination is one of our hosts. */
static bool ours(const json_t *rule, const json_t *aliases, const char *const *managed,
                 size_t n_managed)
{
	const json_t *src = json_object_get(rule, "src"), *dst = json_object_get(rule, "dst");
	size_t i;
	json_t *d;

	if (json_array_size(src) != 1 ||
	    strcmp(json_string_value(json_array_get(src, 0)) ?: "", "autogroup:shared") ||
	    !json_array_size(dst))
		return false;
	json_array_foreach(dst, i, d)
	{
		const char *s = json_string_value(d);
		const char *colon = s ? strrchr(s, ':') : NULL;
		if (!colon || !name_in(s, (size_t)(colon - s), aliases, managed, n_managed))
			return false;
	}
	return true;
}

void ts_acl_merge(json_t *policy, const json_t *snippet, const char *const *managed,
                  size_t n_managed)
{
	const json_t *aliases = json_object_get(snippet, "hosts");
	json_t *hosts = json_object_get(policy, "hosts");
	json_t *owners = json_object_get(policy, "tagOwners");
	json_t *acls = json_object_get(policy, "acls");
	json_t *kept = json_array();
	const char *k;
	json_t *v;
	size_t i;

	if (!json_is_object(hosts)) {
		hosts = json_object();
		json_object_set_new(policy, "hosts", hosts);
	}
	/* aliases of hosts no longer shared go with their rules */
	for (size_t m = 0; m < n_managed; m++)
		if (!json_object_get(aliases, managed[m]))
			json_object_del(hosts, managed[m]);
	json_object_update(hosts, (json_t *)aliases);
	if (!json_is_object(owners)) {
		owners = json_object();
		json_object_set_new(policy, "tagOwners", owners);
	}
	json_object_foreach((json_t *)json_object_get(snippet, "tagOwners"), k, v)
	{
		if (!json_object_get(owners, k))
			json_object_set(owners, k, v);
	}
	json_array_foreach(acls, i, v)
	{
		if (!ours(v, aliases, managed, n_managed))
			json_array_append(kept, v);
	}
	json_array_foreach(json_object_get(snippet, "acls"), i, v) json_array_append(kept, v);
	json_object_set_new(policy, "acls", kept);
}

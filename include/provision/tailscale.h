/*
 * tailscale.h - the parts of the Tailscale API v2 that node sharing needs:
 * devices, device invites and the policy file (ACL).
 *
 * Base URL: $TAILSCALE_BASE_URL (default https://api.tailscale.com; the
 * "/api/v2" prefix is added), tailnet $TAILSCALE_TAILNET (default "-", the
 * token's own).  The token must be a user's API access token: device
 * invites belong to a user, and the API refuses an OAuth client's.  It is
 * held only by the HTTP client (http.h) and never printed.
 */
#ifndef PROVISION_TAILSCALE_H
#define PROVISION_TAILSCALE_H

#include <jansson.h>

#include "provision/http.h"

struct ts_api {
	struct http_client http;
	char *tailnet; /* escaped for a path */
};

/* "tskey-client-...": an OAuth client secret, not a user's API token. */
bool ts_token_is_oauth_client(const char *token);

int ts_open(struct ts_api *t, const char *token, struct pv_error *err);
void ts_close(struct ts_api *t);

/* Every device of the tailnet (new reference, an array). */
int ts_devices(struct ts_api *t, json_t **out, struct pv_error *err);
/*
 * One host's device, borrowed from devices.  With recorded (the node id the
 * environment's state keeps for the host), that device and no other.
 * Otherwise the one device owned by the tailnet (not shared in) with this
 * hostname that carries every tag of tags and whose node id is not in
 * taken (the ids recorded for other hosts or environments).  NULL and err
 * when there is none, or more than one.
 */
const json_t *ts_device_match(const json_t *devices, const char *hostname, const char *recorded,
                              const char *const *tags, size_t n_tags, const char *const *taken,
                              size_t n_taken, struct pv_error *err);
/* The id to use in paths: nodeId, else the legacy id. */
const char *ts_device_id(const json_t *device);

/* Invite email to device id; *out: the DeviceInvite (new reference). */
int ts_invite(struct ts_api *t, const char *device_id, const char *email, bool multi_use,
              json_t **out, struct pv_error *err);
int ts_invites(struct ts_api *t, const char *device_id, json_t **out, struct pv_error *err);
int ts_revoke(struct ts_api *t, const char *invite_id, struct pv_error *err);

/* The policy file as JSON and its ETag (allocated). */
int ts_policy_get(struct ts_api *t, json_t **policy, char **etag, struct pv_error *err);
/* Replace it, only if it is still the one with etag; a changed one is an error, nothing written. */
int ts_policy_set(struct ts_api *t, const json_t *policy, const char *etag, struct pv_error *err);

/* A shared host, for the ACL snippet. */
struct ts_shared {
	const char *hostname; /* tailscale_hostname */
	const char *address; /* its Tailscale IPv4 address */
	const char *const *tags; /* tailscale_tags */
	size_t n_tags;
	const char *const *ports; /* "443/tcp", "8080", "53/udp" */
	size_t n_ports;
};

/*
 * The policy snippet that lets users who accepted a share
 * (autogroup:shared) reach only the given ports of the shared hosts:
 * "hosts" aliases (hostname -> address), one "acls" rule per host and
 * protocol, and "tagOwners" for the hosts' tags.  Bad ports are an error.
 */
int ts_acl_snippet(json_t **out, const struct ts_shared *hosts, size_t n, struct pv_error *err);

/*
 * Merge a snippet into a whole policy: aliases and tag owners are set (tag
 * owners kept when present), and the rules for autogroup:shared whose
 * destinations are all among the snippet's host names, or among
 * `managed` (names this inventory shares, an earlier run's), are replaced
 * by the snippet's.  Other rules stay as they are.
 */
void ts_acl_merge(json_t *policy, const json_t *snippet, const char *const *managed,
                  size_t n_managed);

#endif

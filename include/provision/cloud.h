/*
 * cloud.h - what the cloud providers (hetzner.c, digitalocean.c) share.
 *
 * The cloud-init document that hands a new server its admin user and the
 * host key the tool made (no trust on first use), SSH public key
 * comparison, and the ports the cloud firewall opens, mirroring the hosts'
 * own firewalls.
 */
#ifndef PROVISION_CLOUD_H
#define PROVISION_CLOUD_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "provision/buf.h"
#include "provision/http.h"
#include "provision/provider.h"

/*
 * The #cloud-config user_data: hostname; the admin user (unless "root")
 * with a bash shell, a locked password, passwordless sudo and admin_key;
 * no password logins; every image host key deleted and none generated;
 * the ed25519 host key pair given.  Values are YAML-quoted; the private key
 * is a block scalar.  The result holds the private key: free it with
 * pv_free_secret.
 */
char *cloud_user_data(const char *hostname, const char *admin_user, const char *admin_key,
                      const char *host_private, const char *host_public);

/* A YAML double-quoted scalar of s, appended to b. */
void cloud_yaml_str(struct buf *b, const char *s);

/* Same key type and key data (comments aside) of two public key lines. */
bool cloud_same_key(const char *a, const char *b);

struct cloud_port {
	int port;
	int port_end; /* == port unless a range */
	char proto[4]; /* "tcp" or "udp" */
	bool private_only; /* a database port or "PORT private": only from the private network */
	char source[64]; /* "PORT from CIDR": only from there; "" otherwise */
};

/*
 * The firewall's ports: the SSH port, 80 and 443/tcp, then every port the
 * layout's servers' roles declare (c->roles) and their firewall-rule
 * variables open (ufw_allow: c->server_ports), each once; ports declared
 * "PORT private" and database ports (5432, 3306, 6379, 27017, 9200) are
 * private_only, "PORT from CIDR" only from there (open to all wins);
 * interface rules ("on tailscale0") are the hosts' own.  Returns how many were
 * written to out (at most max).
 */
size_t cloud_firewall_ports(const struct provider_ctx *c, struct cloud_port *out, size_t max);

/* ---- many at once ---- */

/*
 * The state is one JSON tree written whole: a thread changes its part of it
 * and saves only under this lock (cloud_save takes it for the save alone).
 */
void cloud_lock(void);
void cloud_unlock(void);
int cloud_save(struct provider_ctx *c, struct pv_error *err);

/* The provider's 'parallel' setting: how many servers are worked on at once (default 10). */
int cloud_parallel(const struct provider_ctx *c);

/*
 * fn(i, arg, err) for every i below n, at most cloud_parallel(c) at once;
 * every one runs whatever the others do.  Returns 0, or -1 with the error
 * of the first (lowest i) that failed.  fn must take cloud_lock around
 * changes to the state and use the provider's one http_client (http.h:
 * it serves every thread and keeps their requests within the rate budget).
 */
int cloud_each(const struct provider_ctx *c, size_t n,
               int (*fn)(size_t i, void *arg, struct pv_error *err), void *arg,
               struct pv_error *err);

/*
 * The closing line of up or destroy: "hetzner: WHAT; N API requests (M
 * writes, W waits for the rate budget) in T s" since start_ms.
 */
void cloud_report_requests(const struct provider_ctx *c, const char *provider, const char *what,
                           const struct http_client *h, long long start_ms);

/* ---- settings and validation ---- */

/* The scalar at key of a mapping, or NULL. */
const char *cloud_str(const struct node *map, const char *key);
/* The provider's setting key, or def. */
const char *cloud_setting(const struct provider_ctx *c, const char *key, const char *def);
/* The server's own key, else the provider's setting, else def. */
const char *cloud_server_setting(const struct provider_ctx *c, const struct inv_server *s,
                                 const char *key, const char *def);
/* A diagnostic at v unless v (when given) is a whole number from min to max. */
/*
 * An IPv4 network "A.B.C.D/BITS": its address and prefix length; false for
 * anything else.  cloud_ipv4_overlap: whether two such networks share an
 * address (false when either is not one).
 */
bool cloud_ipv4_net(const char *s, unsigned *addr, int *bits);
bool cloud_ipv4_overlap(const char *a, const char *b);

void cloud_check_integer(const struct node *v, const char *what, long min, long max,
                         struct diags *d);
/* A diagnostic at v unless v (when given) is a number from min to max. */
void cloud_check_number(const struct node *v, const char *what, double min, double max,
                        struct diags *d);

/* What one provider accepts; cloud_validate checks what every provider shares. */
struct cloud_rules {
	const char *provider; /* "hetzner" */
	const char *const *keys; /* the provider's settings */
	size_t n_keys;
	const char *net; /* the private network's setting: "network", "vpc" */
	/*
	 * The keys of the private network (net), 'load_balancer' and a
	 * server's volume with their types (vartype.h), as YAML: "NET: { KEY:
	 * TYPE, ... }\nload_balancer: { ... }\nvolume: { ... }".  The one
	 * list of these keys.
	 */
	const char *nested_types;
	/* the other provider's server keys, and this one's names for them */
	const char *foreign_provider;
	const char *foreign[2], *own[2];
	/* the provider's own rule for a volume name of type name */
	bool (*volume_name_ok)(const char *name);
	const char *volume_name_rule; /* "a volume's 'name' must be ..." */
	const char *endpoint_env; /* the variable that overrides the endpoint */
};

/*
 * The API endpoint of the settings ('endpoint') and of the environment
 * (r->endpoint_env) may carry the token: https, or plain http to a
 * loopback address only (http_endpoint_check).
 */
void cloud_check_endpoint(const struct cloud_rules *r, const struct node *settings,
                          struct diags *d);

/*
 * The settings (known keys; token a secret reference; the endpoint as
 * cloud_check_endpoint; the network and the
 * load balancer as mappings with known keys, load balancer targets naming
 * servers of one layout of inv, a health path starting with '/'; the time
 * settings in range) and each server's keys and volumes.  Returns the
 * load_balancer mapping, for the provider's own further checks, or NULL.
 */
const struct node *cloud_validate(const struct cloud_rules *r, const struct inventory *inv,
                                  const struct inv_layout *l, const struct node *settings,
                                  struct diags *d);

/*
 * The provider's load_balancer when it belongs to the layout (its targets
 * are servers of it: all of them, validation makes sure), else NULL.
 */
const struct node *cloud_lb(const struct provider_ctx *c);

/* Whether the layout asks for lb_pair: floating_ip. */
bool cloud_lb_pair(const struct inv_layout *l);
/* The i-th server of the load balancer pair (role keepalived, layout order), or NULL. */
const struct inv_server *cloud_lb_pair_server(const struct inv_layout *l, size_t i);

/* ---- the API's JSON and the state ---- */

long long cloud_jid(const json_t *o, const char *key); /* an integer member, or 0 */
const char *cloud_jstr(const json_t *o, const char *key); /* a string member, or NULL */
json_t *cloud_find_name(json_t *arr, const char *name); /* the element named name */

/*
 * A server's provider_backups: 1 (true), 0 (false), or -1 when the
 * inventory does not say (the provider's setting is left as it is).
 */
int cloud_server_backups(const struct inv_server *s);
/*
 * The plan's line when server s's provider_backups asks for other than
 * what it has (have; false for one up would create): "  ~ cloud: KIND
 * NAME: the provider's backups off -> on".
 */
void cloud_plan_backups(const struct inv_server *s, const char *kind, bool have, struct buf *plan);
/* The layout's snapshot_keep, else the provider's; 0 keeps every snapshot. */
size_t cloud_snapshot_keep(const struct provider_ctx *c);
/* A server's volumes list, or NULL. */
const struct node *cloud_server_volumes(const struct inv_server *s);
/* Whether the load balancer's targets name server. */
bool cloud_is_lb_target(const struct provider_ctx *c, const char *server);

/*
 * An existing server's setting (what: type, image, ...) that differs from
 * the inventory's: a line in plan, or a warning when plan is NULL.  kind
 * names it ("server", "droplet").
 */
void cloud_drift(const struct provider_ctx *c, const char *kind, const struct inv_server *s,
                 const char *what, const char *have, const char *want, struct buf *plan);

/*
 * The hosts of the state's entries that have an address, a host key and
 * a non-zero id_key (as facts: provider, id_key, private_network (the
 * provider's network subnet, what "PORT private" rules open to), the OS
 * from the image name such as debian-12 or ubuntu-24-04-x64, and
 * volume_devices: each volume's device as volume_device says).
 */
int cloud_hosts(struct provider_ctx *c, const char *provider, const char *id_key,
                const char *image_key, const char *default_image, const char *private_network,
                provider_volume_device_fn *volume_device, struct host **out, size_t *n);

/* Where the providers' volumes appear on their servers (/dev/disk/by-id/...). */
char *hetzner_volume_device(long long volume_id);
char *digitalocean_volume_device(const char *volume_name);
char *vm_volume_device(const char *volume_name);

/*
 * Pin every server's host key (from the state) and wait until each answers
 * on the SSH port and lets the admin log in, at most timeout_ms each, the
 * servers at once (cloud_each), each with a live line saying what it waits
 * for; kind names them in the error.
 */
int cloud_pin_and_wait(struct provider_ctx *c, const char *kind, long long timeout_ms,
                       struct pv_error *err);

/* Forget the known_hosts entry of every server in the state (after destroy). */
int cloud_forget_hosts(struct provider_ctx *c, struct pv_error *err);

/*
 * The provider's status (provider.h) of each server: its kind, id_key and
 * address from the state, and the status the API reports for that id in
 * listed (the layout's servers as the API lists them), or "missing" when
 * it lists none with that id.
 * listed NULL: the API was not asked, and why_not says why.  Returns 1
 * when a server is MISSING, else 0.
 */
int cloud_status(struct provider_ctx *c, const char *kind, const char *id_key, json_t *listed,
                 const char *why_not, json_t *out);

/* ---- the layout's servers, at once ---- */

/*
 * Every server of the layout, cloud_each at a time: the one the API lists
 * (find) is adopted, unless the state lacks the host key it was given (an
 * error: it cannot be trusted), its record (record, under cloud_lock) saved,
 * its drift shown, and when "off" it is powered on; a server not found is
 * created (create: records its host key, then its id).  Then wait: for the
 * action, and unless it was running, for it to run, recording its
 * addresses (under cloud_lock).  Listed servers no longer in the layout
 * are named and kept.  Then the provider's backups are switched on or
 * off where provider_backups asks for what is not so.  changed says whether
 * anything was created, powered on or switched.
 */
struct cloud_servers {
	struct provider_ctx *c;
	const char *kind; /* "server", "droplet" */
	const char *marks; /* how the API marks them the layout's: "labels", "tags" */
	const char *id_key; /* the state's id: "server_id" */
	const char *running; /* the status of a running one: "running", "active" */
	json_t *listed; /* the layout's servers as the API lists them */
	void *arg; /* the provider's, for the functions below */
	json_t *(*find)(void *arg, json_t *listed, const struct inv_server *s, json_t *o);
	void (*record)(json_t *o, json_t *res);
	void (*drift)(const struct provider_ctx *c, const struct inv_server *s, json_t *res,
	              struct buf *plan);
	int (*power_on)(void *arg, json_t *res, long long *action, struct pv_error *err);
	int (*create)(void *arg, const struct inv_server *s, json_t *o, long long *action,
	              struct pv_error *err);
	/* the action (0: none), then, unless running, the server's status */
	int (*wait)(void *arg, const struct inv_server *s, json_t *o, long long action,
	            bool running, struct pv_error *err);
	const char *(*listed_name)(json_t *res); /* its server name in the inventory */
	/*
	 * The provider's own backups, when the server's provider_backups says
	 * (cloud_server_backups): backups_on tells whether they are on for a
	 * listed server; one just created has them only when backups_at_create
	 * (its create asked for them); backups switches them on or off and
	 * waits for it.
	 */
	bool backups_at_create;
	bool (*backups_on)(json_t *res);
	int (*backups)(void *arg, const struct inv_server *s, json_t *o, bool on,
	               struct pv_error *err);
	bool changed; /* out */
};

int cloud_servers(struct cloud_servers *cs, struct pv_error *err);

/* ---- create: once, whatever answer is lost ---- */

/*
 * One create that survives a lost answer and a 5xx: POST body to path;
 * when no answer came or the answer was a 5xx, the provider may have acted
 * all the same, so look first (list, then the one named name that mine
 * accepts) and adopt what is there; otherwise wait (the answer's
 * Retry-After, else backoff from about 1 s with jitter) and send again, at
 * most attempts times in all.  A 4xx is final.  Returns 0 with *made the
 * resource (a new reference) and *resp the create's whole answer (a new
 * reference, for its actions) or NULL when it was found by looking; -1
 * with *err otherwise.
 */
struct cloud_create {
	struct http_client *http;
	struct reporter *rep;
	const char *host; /* for messages, or NULL */
	const char *what; /* "network" */
	const char *name; /* "shop-default-phase1": what a lost create is looked for by */
	const char *path; /* "/networks" */
	const json_t *body;
	const char *one; /* the answer's member holding the resource: "network" */
	int (*list)(void *arg, json_t **all, struct pv_error *err); /* the layout's of this kind */
	bool (*mine)(const json_t *res, void *arg); /* NULL: any of that name */
	void *arg;
	int attempts; /* 0: 5 */
	long status; /* out: the last answer's status, 0 when none came */
};

int cloud_create(struct cloud_create *cc, json_t **made, json_t **resp, struct pv_error *err);

/* ---- a switch: sent again only after looking ---- */

/*
 * One POST that turns something on or off (an action), surviving a lost
 * answer and a 5xx as cloud_create does: when no answer came or it was a
 * 5xx, look asks whether it is done all the same (then 0, action 0);
 * otherwise wait (Retry-After, else backoff) and send again, at most 5
 * times.  A 4xx is final.  On success action is the answer's action.id.
 */
struct cloud_switch {
	struct http_client *http;
	struct reporter *rep;
	const char *host; /* for messages, or NULL */
	const char *what; /* "switching on the backups of server app1" */
	const char *path;
	const json_t *body; /* or NULL */
	int (*look)(void *arg, bool *done, struct pv_error *err);
	void *arg;
	/* what look found, for the warnings: "the volume is attached", "it is not attached" */
	const char *done_says, *not_done_says;
	long long action; /* out */
};

int cloud_switch(struct cloud_switch *sw, struct pv_error *err);

/*
 * Switch a server's provider backups on or off (cloud_switch: POST path
 * with body; after a lost answer or a 5xx, GET get and ask on_now of its
 * member one whether they are as asked).  what is filled for messages
 * ("switching on the backups of server app1"); action is the one to wait
 * for (0: none).
 */
struct cloud_backups {
	struct http_client *http;
	struct reporter *rep;
	const char *kind; /* "server", "droplet" */
	const char *host;
	bool on;
	const char *path; /* the POST that switches */
	const json_t *body; /* or NULL */
	const char *get; /* the server's own GET path */
	const char *one; /* the member of its answer: "server" */
	bool (*on_now)(json_t *res);
	char what[160]; /* out */
	long long action; /* out */
};

int cloud_backups_switch(struct cloud_backups *b, struct pv_error *err);

/* ---- destroy: delete only what is ours ---- */

/* An id (integer or string) as text, for messages. */
void cloud_id_text(const json_t *id, char *out, size_t n);

/* Whether ids (an array, or NULL) holds id. */
bool cloud_id_in(const json_t *ids, const json_t *id);

/*
 * One kind of resource destroy goes through.  Every resource of found
 * (what the API lists for the layout's labels or tags) is the layout's,
 * but only those whose id the state records (recorded) or that carry the
 * tool's mark (managed) are ours: each of them is announced ("deleting
 * volume NAME (id N)") and handed to del, which must also succeed when the
 * resource is gone already.  Each other one is announced as "not ours,
 * kept" and left alone.  Returns -1 with the first failed del's error (with
 * parallel, the other deletes still run).
 */
struct cloud_sweep {
	struct provider_ctx *c;
	const char *what; /* "volume" */
	const json_t *recorded; /* array of ids, or NULL */
	bool (*managed)(const json_t *res, void *arg);
	int (*del)(const json_t *res, void *arg, struct pv_error *err);
	void *arg;
	bool parallel; /* del may run for several resources at once (cloud_each) */
	size_t deleted, kept; /* counted by cloud_sweep */
};

int cloud_sweep(struct cloud_sweep *s, const json_t *found, struct pv_error *err);

/* ---- snapshots ---- */

/* An RFC 3339 time ("2026-12-06T13:45:01Z", "...+00:00") in seconds since 1970, or -1. */
long long cloud_time(const char *s);

/*
 * The name of a snapshot the tool makes of server at time now (UTC):
 * PROJECT-ENV-LAYOUT-SERVER-YYYYMMDD-HHMMSS.
 */
char *cloud_snapshot_name(const struct provider_ctx *c, const char *server, long long now);

/*
 * Whether name is one cloud_snapshot_name gives server's snapshots (the
 * tool's own, where a provider has no labels for snapshots).
 */
bool cloud_snapshot_named(const struct provider_ctx *c, const char *server, const char *name);

/* Sort snapshot objects {"id", "created"} oldest first (then by id). */
void cloud_snapshots_sort(json_t *arr);

/*
 * Of one server's snapshots the tool made (mine), those beyond the keep
 * newest, oldest first: a new array (empty when keep covers them all).
 */
json_t *cloud_snapshots_excess(const json_t *mine, size_t keep);

/*
 * What a provider does for `snapshot`, cloud_snapshot_run doing the rest.
 * one makes host's snapshot and waits until it is there, giving its entry
 * (cloud_snapshot_entry, state "made"); it may run for several servers at
 * once.  retain runs once for each server whose new snapshot was made,
 * when the provider's snapshot_keep is set: it deletes the tool's own
 * snapshots of host beyond the keep newest and appends an entry for each
 * one deleted, and for each snapshot of host the tool did not make ("kept",
 * with why).
 */
struct cloud_snapshot_ops {
	const char *provider; /* for the closing line: "hetzner" */
	const struct http_client *http; /* whose requests that line counts */
	int (*one)(void *arg, const char *host, json_t **made, struct pv_error *err);
	int (*retain)(void *arg, const char *host, size_t keep, json_t *out, struct pv_error *err);
	void *arg;
};

/*
 * Snapshot every server of the layout (host alone, when given) and apply
 * the retention, each snapshot an entry in out; ends with the closing line
 * "PROVIDER: N snapshots made, M deleted; ..." (cloud_report_requests).
 * Retention runs only where a new snapshot was made, so a server never has
 * fewer snapshots than before; when one server fails, the others' still
 * run and the first error is the one returned.
 */
int cloud_snapshot_run(const struct provider_ctx *c, const char *host,
                       const struct cloud_snapshot_ops *ops, json_t *out, struct pv_error *err);

/* The error for a server of the layout that the state has no id of:
 * "KIND HOST of layout 'L' is not created in environment 'E' (...)". */
int cloud_not_created(const struct provider_ctx *c, const char *kind, const char *host,
                      struct pv_error *err);

/*
 * A snapshot as provider.h describes it: host, the resource's id, name
 * and created, its size_key (a number of GB, or null), state.
 */
json_t *cloud_snapshot_entry(const json_t *v, const char *size_key, const char *host,
                             const char *state);

#endif

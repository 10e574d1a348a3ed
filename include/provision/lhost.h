/*
 * lhost.h - what the providers of hosts on this machine share (local:
 * systemd-nspawn containers, vm: qemu virtual machines).
 *
 * Each layout gets a Linux bridge the tool creates and labels, a private
 * /24 on it (the bridge holds .1, hosts from .11 on), and an apt-cacher-ng
 * on the bridge address through which the hosts reach the package archive.
 * The state of the layout records the bridge, the subnet and the cache's
 * process (provider_data) and each host (hosts.NAME).  Nothing here prints.
 */
#ifndef PROVISION_LHOST_H
#define PROVISION_LHOST_H

#include <net/if.h>
#include <stdbool.h>
#include <sys/types.h>

#include "provision/provider.h"

#define LHOST_ACNG_PORT 3142
#define LHOST_FIRST_HOST 11
#define LHOST_MAX_HOSTS 200

struct lhost_names {
	const char *kind; /* the provider: "local", "vm" */
	char id[65]; /* sha256 of state dir, env and layout (and kind, but for local) */
	char bridge[IFNAMSIZ];
	char *ldir; /* <state>/<kind>/<env>/<layout> */
	char *acng_dir;
	char *cache_dir;
};

/* The names and places of kind's layout (c->layout in c->env). */
void lhost_names_init(struct lhost_names *nm, const struct provider_ctx *c, const char *kind);
void lhost_names_release(struct lhost_names *nm);
/* <ldir>/hosts/<server> */
char *lhost_host_dir(const struct lhost_names *nm, const char *server);

/* A scalar of the provider's settings, or NULL. */
const char *lhost_setting(const struct provider_ctx *c, const char *key);
/* "10.213.7.0/24" -> "10.213.7"; NULL when not a private /24. */
char *lhost_subnet_prefix(const char *s);
/* The settings' 'subnet' is a private /24; the layout is not too large. */
void lhost_validate(const struct inv_layout *l, const struct node *settings, const char *kind,
                    struct diags *d);

json_t *lhost_hosts_obj(struct provider_ctx *c, bool create);
json_t *lhost_pdata(struct provider_ctx *c, bool create);
pid_t lhost_json_pid(const json_t *o, const char *key);
bool lhost_link_exists(const char *name);

/* Run argv to its end; a failure names what, the exit status and the output's tail. */
int lhost_run(struct pv_error *err, const char *what, char *const argv[]);
/* rm -rf that never crosses into another file system (a mount left behind). */
int lhost_remove_tree(const char *path, struct pv_error *err);
/* The error for a user who is not root. */
int lhost_need_root(struct pv_error *err, const char *kind, const char *why);
/* Hold the cache directory's lock (flock) while a cached build runs: an fd, or -1. */
int lhost_cache_lock(const struct lhost_names *nm, struct pv_error *err);

/* The /24 of the layout: recorded, configured, or a free one derived from its id. */
char *lhost_choose_prefix(struct provider_ctx *c, const struct lhost_names *nm, bool *fresh);
/*
 * The layout's bridge with address PREFIX.1/24, labelled with the layout and
 * recorded in the state; PREFIX (the caller's to free, also on failure) is
 * chosen as lhost_choose_prefix does and claimed under a lock of the
 * machine, so runs of other projects started at once get other subnets.
 */
int lhost_ensure_bridge(struct provider_ctx *c, const struct lhost_names *nm, char **prefix,
                        struct pv_error *err);
int lhost_write_text(const char *dir, const char *name, const char *text, int mode,
                     struct pv_error *err);
/* The package cache's port (as recorded). */
int lhost_cache_port(struct provider_ctx *c);
/* apt-cacher-ng on prefix.1, started unless it runs, recorded in the state. */
int lhost_ensure_cache(struct provider_ctx *c, const struct lhost_names *nm, const char *prefix,
                       struct pv_error *err);
/* The apt.conf.d text that sends a host's downloads through the cache. */
char *lhost_apt_proxy_conf(struct provider_ctx *c, const char *prefix);
/* The lowest free host address in the /24, or NULL. */
char *lhost_next_address(struct provider_ctx *c, const char *prefix);
/*
 * A host of the state entry o (name, address, the inventory's SSH user
 * and port, its pinned key) with the facts every host on this machine
 * has: address, private_address, bridge_address, private_network, the OS
 * (Debian 12), provider kind, container.
 */
void lhost_fill_host(struct host *h, const struct provider_ctx *c, const char *name,
                     const json_t *o, const char *prefix, const char *kind, bool container);
/*
 * Each host of the state, once stopped: before(name, its directory, its
 * state entry, arg) undoes what lies outside the directory, then the
 * directory goes (only the one the tool's naming gives; a state naming
 * another is refused), its pinned key, and its state entry (saved each
 * time, so a failure part way keeps the rest recorded).
 */
int lhost_drop_hosts(struct provider_ctx *c, const struct lhost_names *nm,
                     int (*before)(const char *name, const char *dir, json_t *o, void *arg,
                                   struct pv_error *err),
                     void *arg, struct pv_error *err);
/*
 * After the hosts are gone: stop the package cache, remove the bridge
 * (only the one the state names and the layout's name gives) and the
 * layout's directory.
 */
int lhost_teardown(struct provider_ctx *c, const struct lhost_names *nm, struct pv_error *err);

/* The machine name of a server's host: p<6 of the layout's id>-<server>. */
char *lhost_machine_name(const struct lhost_names *nm, const char *server);

/*
 * The cgroups a container host runs in, its own: on a machine whose init is
 * not systemd, systemd-nspawn --keep-unit would put every container in the
 * same "payload" cgroup of the caller, where their systemds create, use and
 * remove the same unit cgroups at once.  lhost_cgroup_dirs makes one
 * directory per cgroup hierarchy for the machine and stores up to two paths
 * (NULL where there is none, and both NULL under systemd, which gives each
 * container a scope of its own); lhost_cgroup_remove removes them once the
 * host is gone.  Both are best effort.
 */
void lhost_cgroup_dirs(const char *machine, char *dirs[2]);
void lhost_cgroup_remove(const char *machine);

/*
 * The process of host server (its state entry o), found by the provider:
 * its pid, or 0 when it does not run as the tool started it (words: the
 * arguments its command line holds); *also is a process to kill as well
 * when the host had to be killed (the init of a container's PID
 * namespace), or 0.
 */
typedef pid_t (*lhost_find_fn)(const struct lhost_names *nm, const char *server, const json_t *o,
                               const char *const *words, pid_t *also);
/*
 * destroy of kind's layout: stop every host of the state at once (SIGTERM
 * to each process find gives, its command line holding flag and the
 * machine name; SIGKILL for those not gone after timeout_ms), then
 * lhost_drop_hosts with before, and lhost_teardown.
 */
int lhost_destroy(struct provider_ctx *c, const char *kind, const char *flag, int timeout_ms,
                  lhost_find_fn find,
                  int (*before)(const char *name, const char *dir, json_t *o, void *arg,
                                struct pv_error *err),
                  struct pv_error *err);

/* Whether server's host runs; what else status shows of it (may be NULL). */
typedef bool (*lhost_running_fn)(const struct lhost_names *nm, const char *server, const json_t *o,
                                 const char *machine);
typedef void (*lhost_more_fn)(const struct lhost_names *nm, const char *server, const json_t *o,
                              json_t *s);
/*
 * status of kind's layout: out.servers, each server with host and created,
 * and for a created one its kind (host_kind), state (running or stopped),
 * address and what more adds.
 */
void lhost_status(struct provider_ctx *c, const char *kind, const char *host_kind,
                  lhost_running_fn running, lhost_more_fn more, json_t *out);

#endif

/*
 * local.c - real Debian 12 hosts on this machine: the embedded provider.
 *
 * One root file system is built once with mmdebstrap and cached; each
 * server of a layout gets an overlay of it, its own hostname, machine id,
 * address and ed25519 host key (generated here and pinned before the first
 * boot), and is booted with systemd-nspawn on a bridge the tool creates.
 * Packages reach the hosts through an apt-cacher-ng the tool runs on the
 * bridge address.  Everything made is recorded in the state the moment it
 * exists, and destroy removes exactly that: the recorded processes (only
 * while their command line still says they are ours), mounts, directories,
 * the bridge and the pinned keys.
 *
 *   providers:
 *     local: { subnet: 10.213.7.0/24, release: bookworm }
 *
 * Needs root: bridges, mounts and nspawn.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <ifaddrs.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/rand.h>

#include "provision/keys.h"
#include "provision/lhost.h"
#include "provision/proc.h"
#include "provision/provider.h"
#include "provision/remote.h"

/* Bump when the base recipe changes: a new recipe builds a new base. */
#define BASE_RECIPE "1"
#define BASE_PACKAGES "systemd,systemd-sysv,dbus,openssh-server,iproute2,sudo,ca-certificates"
#define BOOT_TIMEOUT_MS 180000

static const char *const setting_keys[] = {"subnet", "release"};

/* ---- names and places ---- */

static bool path_ok_for_overlay(const char *p)
{
	return !strpbrk(p, ",:\\\n");
}

/* ---- validation ---- */

static void local_validate(const struct inventory *inv, const struct inv_layout *l,
                           const struct node *settings, struct diags *d)
{
	const struct node *v;

	if (settings && settings->kind == NODE_MAP) {
		node_check_keys(settings, setting_keys, PV_ARRAY_SIZE(setting_keys),
		                "provider 'local'", d);
		if ((v = node_get(settings, "release")) &&
		    (v->kind != NODE_SCALAR || strcmp(v->scalar, "bookworm")))
			diags_add(
			    d, &v->pos,
			    "'release' of provider 'local' must be 'bookworm' (Debian 12), the "
			    "release this provider builds and tests");
	}
	lhost_validate(l, settings, "local", d);
	provider_no_cloud_keys(l, "local", d);
	static const char *const unused[] = {"type",    "image",     "location", "region",
	                                     "size",    "address",   "host_key", "private_address",
	                                     "volumes", "container", "cpus",     "memory",
	                                     "disk",    "ssh_user"};
	provider_unused_server_keys(l, "local", unused, PV_ARRAY_SIZE(unused), "roles, vars", d);
	(void)inv;
}

static bool nspawn_running(pid_t pid, const char *machine)
{
	const char *words[] = {"systemd-nspawn", machine, NULL};

	return pid > 0 && proc_is(pid, words);
}

static bool is_mounted(const char *path)
{
	FILE *f = fopen("/proc/self/mounts", "re");
	char line[4096];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *sp = strchr(line, ' ');
		if (!sp)
			continue;
		char *mp = sp + 1;
		char *end = strchr(mp, ' ');
		if (end && (size_t)(end - mp) == strlen(path) && !strncmp(mp, path, strlen(path)))
			found = true;
	}
	fclose(f);
	return found;
}

static void need_root(struct pv_error *err)
{
	lhost_need_root(err, "local", "bridges, mounts and systemd-nspawn hosts");
}

/* ---- the base file system ---- */

static char *base_path(const struct lhost_names *nm)
{
	char *name = xasprintf("debian-bookworm-r%s", BASE_RECIPE);
	char *p = pv_path_join(nm->cache_dir, name);

	free(name);
	return p;
}

static int ensure_base(struct provider_ctx *c, const struct lhost_names *nm, char **out,
                       struct pv_error *err)
{
	char *base = base_path(nm), *tmp = NULL, *log = NULL;
	int fd = -1, rc = -1;
	struct stat sb;

	if (stat(base, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		*out = base;
		return 0;
	}
	if ((fd = lhost_cache_lock(nm, err)) < 0)
		goto out;
	if (stat(base, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		rc = 0; /* another run built it meanwhile */
		goto out;
	}
	report_info(c->rep, NULL,
	            "building the Debian 12 base file system in '%s' (once; about a minute)", base);
	tmp = xasprintf("%s.build-%d", base, (int)getpid());
	log = xasprintf("%s.log", base);
	lhost_remove_tree(tmp, err);
	char *argv[] = {
	    "mmdebstrap",
	    "--variant=minbase",
	    "--include=" BASE_PACKAGES,
	    /* every host gets its own host key and machine id later */
	    "--customize-hook=rm -f \"$1\"/etc/ssh/ssh_host_*",
	    "--customize-hook=chroot \"$1\" systemctl enable systemd-networkd",
	    "--customize-hook=: > \"$1\"/etc/machine-id",
	    "bookworm",
	    tmp,
	    NULL,
	};
	struct buf o;
	buf_init(&o, 1 << 20);
	int st = proc_run(argv, &o, err);
	pv_write_file_atomic(log, o.s, o.len, 0644, err);
	if (st != 0) {
		if (st > 0)
			pv_error_set(err,
			             "building the base file system with mmdebstrap failed "
			             "(exit status %d; log in '%s'): %s",
			             st, log, proc_tail(o.s, 400));
		buf_release(&o);
		lhost_remove_tree(tmp, err);
		goto out;
	}
	buf_release(&o);
	if (rename(tmp, base) < 0) {
		pv_error_set(err, "cannot move the base file system into '%s': %s", base,
		             strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(tmp);
	free(log);
	if (rc == 0) {
		*out = base;
		if (!path_ok_for_overlay(base)) {
			*out = NULL;
			free(base);
			return pv_error_set(err, "the cache directory '%s' cannot hold ',' or ':'",
			                    nm->cache_dir);
		}
	} else {
		free(base);
	}
	return rc;
}

/* ---- one host ---- */

struct newhost {
	const char *name;
	char *dir, *root, *machine, *address, *public_key;
	pid_t pid;
};

static int mount_overlay(const char *base, const char *dir, const char *root, struct pv_error *err)
{
	char *upper = pv_path_join(dir, "upper"), *work = pv_path_join(dir, "work");
	char *opts = NULL;
	int rc = -1;

	if (!path_ok_for_overlay(dir)) {
		pv_error_set(err, "the host directory '%s' cannot hold ',' or ':'", dir);
		goto out;
	}
	if (pv_mkdir_p(upper, 0755, err) < 0 || pv_mkdir_p(work, 0700, err) < 0 ||
	    pv_mkdir_p(root, 0755, err) < 0)
		goto out;
	if (is_mounted(root)) {
		rc = 0;
		goto out;
	}
	opts = xasprintf("lowerdir=%s,upperdir=%s,workdir=%s", base, upper, work);
	if (mount("overlay", root, "overlay", 0, opts) < 0) {
		pv_error_set(err, "cannot mount the overlay on '%s': %s", root, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(upper);
	free(work);
	free(opts);
	return rc;
}

static int put(const char *root, const char *path, const char *text, int mode, struct pv_error *err)
{
	char *p = pv_path_join(root, path);
	char *dir = xstrdup(p);
	int rc;

	*strrchr(dir, '/') = '\0';
	rc = pv_mkdir_p(dir, 0755, err);
	/* a link in the guest must not lead a write out of it: replace the link itself */
	if (rc == 0)
		rc = pv_write_file_atomic(p, text, strlen(text), mode, err);
	free(dir);
	free(p);
	return rc;
}

/* What cloud-init does on a cloud server: identity, network, the admin user. */
static int prepare_host(struct provider_ctx *c, struct newhost *h, const char *prefix,
                        struct pv_error *err)
{
	unsigned char id[16];
	char mid[34], *text;
	char *priv = NULL;
	int rc = -1;

	if (RAND_bytes(id, sizeof(id)) != 1) {
		pv_error_set(err, "cannot make a machine id: no randomness");
		return -1;
	}
	for (size_t i = 0; i < sizeof(id); i++)
		snprintf(mid + 2 * i, 3, "%02x", id[i]);
	mid[32] = '\n';
	mid[33] = '\0';
	text = xasprintf("%s\n", h->name);
	rc = put(h->root, "etc/hostname", text, 0644, err);
	free(text);
	if (rc < 0 || put(h->root, "etc/machine-id", mid, 0444, err) < 0)
		return -1;
	text = xasprintf("127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost "
	                 "ip6-loopback\n",
	                 h->name);
	rc = put(h->root, "etc/hosts", text, 0644, err);
	free(text);
	if (rc < 0)
		return -1;
	/* the host says whose it is, as cloud labels do */
	text = xasprintf("# written by provision\nPROJECT=%s\nENVIRONMENT=%s\nLAYOUT=%s\n"
	                 "SERVER=%s\n",
	                 c->inv->project, c->env, c->layout->name, h->name);
	rc = put(h->root, "etc/provision-host", text, 0644, err);
	free(text);
	if (rc < 0)
		return -1;
	/* no DNS on the bridge: fail fast instead of waiting for a resolver */
	if (put(h->root, "etc/resolv.conf", "# no resolver on the provision bridge\n", 0644, err) <
	    0)
		return -1;
	text = xasprintf("# written by provision\n[Match]\nName=host0\n\n[Network]\n"
	                 "Address=%s/24\nGateway=%s.1\nLinkLocalAddressing=no\n"
	                 "IPv6AcceptRA=no\n",
	                 h->address, prefix);
	rc = put(h->root, "etc/systemd/network/10-host0.network", text, 0644, err);
	free(text);
	if (rc < 0)
		return -1;
	text = lhost_apt_proxy_conf(c, prefix);
	rc = put(h->root, "etc/apt/apt.conf.d/01provision-proxy", text, 0644, err);
	free(text);
	if (rc < 0)
		return -1;
	if (c->inv->ssh_port != 22) {
		text = xasprintf("# written by provision\nPort %d\n", c->inv->ssh_port);
		rc = put(h->root, "etc/ssh/sshd_config.d/05-provision-port.conf", text, 0644, err);
		free(text);
		if (rc < 0)
			return -1;
	}
	char *comment = xasprintf("root@%s", h->name);
	rc = keygen_ed25519(&priv, &h->public_key, comment, err);
	free(comment);
	if (rc < 0)
		return -1;
	rc = put(h->root, "etc/ssh/ssh_host_ed25519_key", priv, 0600, err);
	pv_free_secret(priv);
	text = xasprintf("%s\n", h->public_key);
	if (rc == 0)
		rc = put(h->root, "etc/ssh/ssh_host_ed25519_key.pub", text, 0644, err);
	free(text);
	if (rc < 0)
		return -1;
	/* the values are arguments of the script, never part of its text */
	static const char user_sh[] =
	    "set -e\nu=$1\nif [ \"$u\" = root ]; then h=/root; else\n"
	    "\tid -u \"$u\" >/dev/null 2>&1 || useradd -m -U -s /bin/bash -- \"$u\"\n"
	    "\th=$(getent passwd \"$u\" | cut -d: -f6)\n"
	    "\tprintf '# managed by provision\\n%s ALL=(ALL) NOPASSWD:ALL\\n' \"$u\" "
	    ">\"/etc/sudoers.d/90-provision-$u\"\n"
	    "\tchmod 440 \"/etc/sudoers.d/90-provision-$u\"\nfi\n"
	    "mkdir -p \"$h/.ssh\"\nprintf '%s\\n' \"$2\" >\"$h/.ssh/authorized_keys\"\n"
	    "chmod 700 \"$h/.ssh\"\nchmod 600 \"$h/.ssh/authorized_keys\"\n"
	    "chown -R \"$u:$(id -gn \"$u\")\" \"$h/.ssh\"\n";
	char *argv[] = {"chroot",
	                h->root,
	                "/bin/sh",
	                "-c",
	                (char *)user_sh,
	                "sh",
	                (char *)c->admin_user,
	                (char *)c->admin_public_key,
	                NULL};
	return lhost_run(err, "creating the admin user", argv);
}

/*
 * Package lists: fetched once per run, in the first new host before it
 * boots (one client: the cache never sees the same release file asked for
 * by many hosts at once), and hard-linked into the other new hosts' upper
 * layers before they are mounted.  apt replaces list files by renaming,
 * never in place, so each host's later updates stay its own.
 */
static int update_lists(struct provider_ctx *c, const struct newhost *h)
{
	struct pv_error err = {{0}};
	char *argv[] = {"timeout", "180", "chroot", h->root, "apt-get", "update", "-q", NULL};

	if (lhost_run(&err, "refreshing the package lists", argv) < 0) {
		/* not fatal: each host refreshes its own lists when it needs them */
		report_warn(c->rep, h->name, "%s", err.msg);
		return -1;
	}
	return 0;
}

static int copy_lists(const char *from_dir, const char *to_dir)
{
	struct pv_error err = {{0}};
	char *src = xasprintf("%s/upper/var/lib/apt/lists", from_dir);
	char *dst = xasprintf("%s/upper/var/lib/apt", to_dir);
	char *argv[] = {"cp", "-al", "--", src, dst, NULL};
	int rc =
	    pv_mkdir_p(dst, 0755, &err) < 0 ? -1 : lhost_run(&err, "copying package lists", argv);

	free(src);
	free(dst);
	return rc;
}

/* The stamp the package resource reads: lists younger than an hour are not fetched again. */
static int mark_lists_fresh(const char *root, struct pv_error *err)
{
	char *dir = pv_path_join(root, "var/lib/provision");
	int rc = pv_mkdir_p(dir, 0700, err);

	free(dir);
	return rc < 0 ? -1 : put(root, "var/lib/provision/apt-lists-updated", "", 0644, err);
}

static int start_host(const struct lhost_names *nm, struct newhost *h, struct pv_error *err)
{
	char *log = pv_path_join(h->dir, "console.log");
	char *br = xasprintf("--network-bridge=%s", nm->bridge);
	char *hn = xasprintf("--hostname=%s", h->name);
	char *cg[2];
	lhost_cgroup_dirs(h->machine, cg);
	/* the shell moves itself into the host's own cgroups, then becomes nspawn */
	char *argv[] = {
	    "sh",
	    "-c",
	    "for d in \"$1\" \"$2\"; do [ -z \"$d\" ] || echo $$ >\"$d/cgroup.procs\"; done; "
	    "shift 2; exec \"$@\"",
	    "sh",
	    cg[0] ? cg[0] : "",
	    cg[1] ? cg[1] : "",
	    "systemd-nspawn",
	    "--quiet",
	    "-D",
	    h->root,
	    "--boot",
	    "--register=no",
	    "--keep-unit",
	    "--link-journal=no",
	    "--resolv-conf=off",
	    br,
	    "-M",
	    h->machine,
	    hn,
	    NULL};

	h->pid = proc_spawn(argv, log, err);
	free(log);
	free(br);
	free(hn);
	free(cg[0]);
	free(cg[1]);
	return h->pid > 0 ? 0 : -1;
}

static void record_host(struct provider_ctx *c, const struct newhost *h)
{
	json_t *o = state_obj(lhost_hosts_obj(c, true), h->name, true);

	state_set_str(o, "address", h->address);
	state_set_str(o, "env", c->env);
	state_set_str(o, "machine", h->machine);
	state_set_str(o, "dir", h->dir);
	if (h->public_key)
		state_set_str(o, "host_key", h->public_key);
	if (h->pid > 0)
		json_object_set_new(o, "pid", json_integer(h->pid));
}

static void newhost_release(struct newhost *h)
{
	free(h->dir);
	free(h->root);
	free(h->machine);
	free(h->address);
	free(h->public_key);
}

/* ---- the operations ---- */

static int local_hosts(struct provider_ctx *c, struct host **out, size_t *n, struct pv_error *err)
{
	json_t *hs = lhost_hosts_obj(c, false);
	char *prefix = lhost_subnet_prefix(state_str(lhost_pdata(c, false), "subnet"));
	struct host *hosts = xcalloc(c->layout->n_servers + 1, sizeof(*hosts));
	size_t k = 0;

	(void)err;
	for (size_t i = 0; prefix && i < c->layout->n_servers; i++) {
		const char *name = c->layout->servers[i].name;
		json_t *o = state_obj(hs, name, false);
		if (!o || !state_str(o, "address") || !state_str(o, "host_key"))
			continue;
		lhost_fill_host(&hosts[k++], c, name, o, prefix, "local", true);
	}
	free(prefix);
	*out = hosts;
	*n = k;
	return 0;
}

static int local_up(struct provider_ctx *c, struct host **out, size_t *n, struct pv_error *err)
{
	struct lhost_names nm;
	struct newhost *nh = xcalloc(c->layout->n_servers + 1, sizeof(*nh));
	char *base = NULL, *prefix = NULL;
	int rc = -1;

	*out = NULL;
	*n = 0;
	if (geteuid() != 0) {
		need_root(err);
		free(nh);
		return -1;
	}
	lhost_names_init(&nm, c, "local");
	if (!path_ok_for_overlay(nm.ldir)) {
		pv_error_set(err,
		             "the state directory '%s' cannot hold ',' or ':' (overlay mounts)",
		             nm.ldir);
		goto out;
	}
	if (ensure_base(c, &nm, &base, err) < 0)
		goto out;
	if (lhost_ensure_bridge(c, &nm, &prefix, err) < 0 ||
	    lhost_ensure_cache(c, &nm, prefix, err) < 0)
		goto out;

	const char *lists_from = NULL; /* a new host whose package lists are fresh */

	/* hosts that were made but are gone from the layout are kept, never deleted here */
	const char *k;
	json_t *v;
	json_object_foreach(lhost_hosts_obj(c, true), k, v)
	{
		if (!layout_server(c->layout, k))
			report_warn(c->rep, k,
			            "host '%s' is no longer in layout '%s'; it keeps running until "
			            "'provision destroy %s'",
			            k, c->layout->name, c->layout->name);
	}

	for (size_t i = 0; i < c->layout->n_servers; i++) {
		struct newhost *h = &nh[i];
		json_t *o = state_obj(lhost_hosts_obj(c, true), c->layout->servers[i].name, false);

		h->name = c->layout->servers[i].name;
		h->machine = lhost_machine_name(&nm, h->name);
		h->dir = lhost_host_dir(&nm, h->name);
		h->root = pv_path_join(h->dir, "root");
		if (o && state_str(o, "host_key") && state_str(o, "address")) {
			h->address = xstrdup(state_str(o, "address"));
			if (nspawn_running(lhost_json_pid(o, "pid"), h->machine))
				continue;
			/* made before, not running now (a reboot, a crash): start it again */
			report_info(c->rep, h->name, "starting the stopped host");
			if (mount_overlay(base, h->dir, h->root, err) < 0 ||
			    start_host(&nm, h, err) < 0)
				goto host_fail;
			record_host(c, h);
			if (state_save(c->state, err) < 0)
				goto host_fail;
			continue;
		}
		if (o) {
			/* an interrupted create: start over from a clean directory */
			if (is_mounted(h->root) && umount2(h->root, MNT_DETACH) < 0) {
				pv_error_set(err, "cannot unmount '%s': %s", h->root,
				             strerror(errno));
				goto host_fail;
			}
			if (lhost_remove_tree(h->dir, err) < 0)
				goto host_fail;
			h->address =
			    state_str(o, "address") ? xstrdup(state_str(o, "address")) : NULL;
		}
		if (!h->address && !(h->address = lhost_next_address(c, prefix))) {
			pv_error_set(err, "no free address left in %s.0/24", prefix);
			goto host_fail;
		}
		report_info(c->rep, h->name, "creating host %s", h->address);
		/* recorded first: an interrupted create is found and finished or removed */
		record_host(c, h);
		if (state_save(c->state, err) < 0)
			goto host_fail;
		bool lists = lists_from && copy_lists(lists_from, h->dir) == 0;
		if (mount_overlay(base, h->dir, h->root, err) < 0 ||
		    prepare_host(c, h, prefix, err) < 0)
			goto host_fail;
		if (!lists_from && update_lists(c, h) == 0) {
			lists_from = h->dir;
			lists = true;
		}
		if (lists && mark_lists_fresh(h->root, err) < 0)
			goto host_fail;
		if (known_hosts_pin(c->known_hosts, h->address, c->inv->ssh_port, h->public_key,
		                    err) < 0)
			goto host_fail;
		record_host(c, h);
		if (state_save(c->state, err) < 0 || start_host(&nm, h, err) < 0)
			goto host_fail;
		record_host(c, h);
		if (state_save(c->state, err) < 0)
			goto host_fail;
		continue;
	host_fail:
		pv_error_prefix(err, "host '%s'", h->name);
		goto out;
	}

	/* all hosts boot at once; wait for each sshd */
	for (size_t i = 0; i < c->layout->n_servers; i++) {
		struct newhost *h = &nh[i];
		long long deadline = pv_now_ms() + BOOT_TIMEOUT_MS;
		while (remote_wait_port(h->address, c->inv->ssh_port, 1000, err) < 0) {
			if (!nspawn_running(
			        h->pid ? h->pid
			               : lhost_json_pid(
			                     state_obj(lhost_hosts_obj(c, false), h->name, false),
			                     "pid"),
			        h->machine)) {
				char *log = pv_path_join(h->dir, "console.log");
				char *text = NULL;
				size_t len;
				pv_read_file(log, &text, &len, 0, err);
				pv_error_set(err, "host '%s' stopped while booting: %s", h->name,
				             text ? proc_tail(text, 400) : "(no console output)");
				free(text);
				free(log);
				goto out;
			}
			if (pv_now_ms() > deadline) {
				pv_error_prefix(err, "host '%s' did not boot", h->name);
				goto out;
			}
		}
	}
	rc = local_hosts(c, out, n, err);
out:
	for (size_t i = 0; i < c->layout->n_servers; i++)
		newhost_release(&nh[i]);
	free(nh);
	free(base);
	free(prefix);
	lhost_names_release(&nm);
	return rc;
}

static int local_plan(struct provider_ctx *c, struct buf *out, struct pv_error *err)
{
	struct lhost_names nm;
	json_t *hs = lhost_hosts_obj(c, false);
	char *base;
	struct stat sb;
	bool fresh;

	lhost_names_init(&nm, c, "local");
	base = base_path(&nm);
	if (stat(base, &sb) != 0)
		buf_addf(out, "  + build the Debian 12 base file system in %s (once)\n", base);
	char *prefix = lhost_choose_prefix(c, &nm, &fresh);
	if (!lhost_link_exists(nm.bridge))
		buf_addf(out, "  + bridge %s with address %s.1/24 and a package cache on port %d\n",
		         nm.bridge, prefix, lhost_cache_port(c));
	for (size_t i = 0; i < c->layout->n_servers; i++) {
		const char *name = c->layout->servers[i].name;
		json_t *o = state_obj(hs, name, false);
		char *machine = lhost_machine_name(&nm, name);
		if (!o || !state_str(o, "host_key"))
			buf_addf(out,
			         "  + host %s: Debian 12 on systemd-nspawn, host key pinned "
			         "before first boot\n",
			         name);
		else if (!nspawn_running(lhost_json_pid(o, "pid"), machine))
			buf_addf(out, "  ~ start host %s (%s), which is stopped\n", name,
			         state_str(o, "address"));
		free(machine);
	}
	const char *k;
	json_t *v;
	json_object_foreach(hs, k, v)
	{
		if (!layout_server(c->layout, k))
			buf_addf(out,
			         "  ! host %s is no longer in the layout; it is kept until "
			         "destroy\n",
			         k);
	}
	free(prefix);
	free(base);
	lhost_names_release(&nm);
	(void)err;
	return 0;
}

/* The container's init: the child of nspawn, so a hard stop can end the whole host. */
static pid_t child_of(pid_t pid)
{
	char path[64];
	FILE *f;
	int child = 0;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
	if (!(f = fopen(path, "re")))
		return 0;
	if (fscanf(f, "%d", &child) != 1)
		child = 0;
	fclose(f);
	return child;
}

/* A stopped host's overlay, before its directory goes. */
static int unmount_host(const char *name, const char *dir, json_t *o, void *arg,
                        struct pv_error *err)
{
	char *root = pv_path_join(dir, "root");
	int rc = 0;

	(void)name;
	(void)o;
	(void)arg;
	for (int t = 0; t < 50 && is_mounted(root); t++) {
		if (umount2(root, 0) == 0)
			break;
		if (errno == EBUSY && t == 49)
			umount2(root, MNT_DETACH);
		usleep(100000);
	}
	if (is_mounted(root))
		rc = pv_error_set(err, "cannot unmount '%s': %s", root, strerror(errno));
	free(root);
	return rc;
}

/* A host's nspawn, when it is the one the tool started, and the init under it. */
static pid_t nspawn_of(const struct lhost_names *nm, const char *server, const json_t *o,
                       const char *const *words, pid_t *init)
{
	pid_t pid = lhost_json_pid(o, "pid");

	(void)nm;
	(void)server;
	if (!proc_is(pid, words))
		pid = 0;
	/* init of a PID namespace takes every process of the host with it */
	*init = pid ? child_of(pid) : 0;
	return pid;
}

static int local_destroy(struct provider_ctx *c, struct pv_error *err)
{
	size_t n = json_object_size(lhost_hosts_obj(c, false));

	if (geteuid() != 0) {
		need_root(err);
		return -1;
	}
	if (n)
		report_info(c->rep, NULL, "stopping %zu host%s", n, n == 1 ? "" : "s");
	/* nspawn turns SIGTERM into a clean shutdown of the host */
	return lhost_destroy(c, "local", "systemd-nspawn", 20000, nspawn_of, unmount_host, err);
}

static bool container_running(const struct lhost_names *nm, const char *server, const json_t *o,
                              const char *machine)
{
	(void)nm;
	(void)server;
	return nspawn_running(lhost_json_pid(o, "pid"), machine);
}

static int local_status(struct provider_ctx *c, json_t *out, struct pv_error *err)
{
	(void)err;
	lhost_status(c, "local", "container", container_running, NULL, out);
	return 0;
}

const struct provider_ops provider_local = {
    .name = "local",
    .validate = local_validate,
    .plan = local_plan,
    .up = local_up,
    .hosts = local_hosts,
    .destroy = local_destroy,
    .status = local_status,
};

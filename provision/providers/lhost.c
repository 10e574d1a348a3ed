/*
 * lhost.c - the bridge, addresses and package cache of the hosts on this
 * machine (providers local and vm): see lhost.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <ifaddrs.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "provision/keys.h"
#include "provision/lhost.h"
#include "provision/proc.h"
#include "provision/remote.h"

#define ACNG_PORT LHOST_ACNG_PORT
#define FIRST_HOST LHOST_FIRST_HOST
#define MAX_HOSTS LHOST_MAX_HOSTS

void lhost_names_init(struct lhost_names *nm, const struct provider_ctx *c, const char *kind)
{
	/* local's names predate the other kinds: they stay what they were */
	char *key = strcmp(kind, "local")
	                ? xasprintf("%s\n%s\n%s\n%s", kind, c->state->dir, c->env, c->layout->name)
	                : xasprintf("%s\n%s\n%s", c->state->dir, c->env, c->layout->name);
	const char *cache = getenv("PROVISION_CACHE_DIR");
	char *l1, *l2;

	pv_sha256_hex(key, strlen(key), nm->id);
	free(key);
	snprintf(nm->bridge, sizeof(nm->bridge), "pv%.8s", nm->id);
	nm->kind = kind;
	l1 = pv_path_join(c->state->dir, kind);
	l2 = pv_path_join(l1, c->env);
	nm->ldir = pv_path_join(l2, c->layout->name);
	free(l1);
	free(l2);
	nm->acng_dir = pv_path_join(nm->ldir, "apt-cache");
	nm->cache_dir = xstrdup(cache && *cache ? cache : "/var/cache/provision");
}

void lhost_names_release(struct lhost_names *nm)
{
	free(nm->ldir);
	free(nm->acng_dir);
	free(nm->cache_dir);
}
char *lhost_host_dir(const struct lhost_names *nm, const char *server)
{
	char *hosts = pv_path_join(nm->ldir, "hosts");
	char *d = pv_path_join(hosts, server);

	free(hosts);
	return d;
}

const char *lhost_setting(const struct provider_ctx *c, const char *key)
{
	const struct node *v = node_get(c->settings, key);

	return v && v->kind == NODE_SCALAR ? v->scalar : NULL;
}

/* "10.213.7.0/24" -> "10.213.7"; NULL when not a private /24. */
char *lhost_subnet_prefix(const char *s)
{
	unsigned a, b, c, d;
	char tail;

	if (!s || sscanf(s, "%u.%u.%u.%u/24%c", &a, &b, &c, &d, &tail) != 4 || a > 255 || b > 255 ||
	    c > 255 || d != 0)
		return NULL;
	if (!(a == 10 || (a == 172 && b >= 16 && b < 32) || (a == 192 && b == 168)))
		return NULL;
	return xasprintf("%u.%u.%u", a, b, c);
}
/* ---- the state ---- */

json_t *lhost_hosts_obj(struct provider_ctx *c, bool create)
{
	return state_obj(c->lstate, "hosts", create);
}

json_t *lhost_pdata(struct provider_ctx *c, bool create)
{
	return state_obj(c->lstate, "provider_data", create);
}

pid_t lhost_json_pid(const json_t *o, const char *key)
{
	json_t *v = o ? json_object_get(o, key) : NULL;

	return json_is_integer(v) ? (pid_t)json_integer_value(v) : 0;
}
static bool acng_running(pid_t pid, const char *conf)
{
	const char *words[] = {"-c", conf, NULL};

	return pid > 0 && proc_is(pid, words);
}
bool lhost_link_exists(const char *name)
{
	return if_nametoindex(name) != 0;
}

/* ---- running commands ---- */

int lhost_run(struct pv_error *err, const char *what, char *const argv[])
{
	struct buf out;
	int rc;

	buf_init(&out, 1 << 16);
	rc = proc_run(argv, &out, err);
	if (rc > 0)
		pv_error_set(err, "%s failed (exit status %d): %s", what, rc,
		             proc_tail(out.s, 400));
	else if (rc < 0)
		pv_error_prefix(err, "%s", what);
	buf_release(&out);
	return rc == 0 ? 0 : -1;
}
static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb;
	(void)f;
	if (flag == FTW_DP)
		return rmdir(p) < 0 && errno != ENOENT ? -1 : 0;
	return unlink(p) < 0 && errno != ENOENT ? -1 : 0;
}

/* rm -rf that never crosses into another file system (a mount left behind). */
int lhost_remove_tree(const char *path, struct pv_error *err)
{
	struct stat sb;

	if (lstat(path, &sb) < 0)
		return errno == ENOENT
		           ? 0
		           : pv_error_set(err, "cannot remove '%s': %s", path, strerror(errno));
	if (nftw(path, rm_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
		return pv_error_set(err, "cannot remove '%s': %s", path, strerror(errno));
	return 0;
}
/* ---- the network ---- */

static bool prefix_in_use(const char *prefix)
{
	struct ifaddrs *ifa = NULL;
	bool used = false;
	size_t len = strlen(prefix);

	if (getifaddrs(&ifa) < 0)
		return false;
	for (struct ifaddrs *i = ifa; i && !used; i = i->ifa_next) {
		char a[INET_ADDRSTRLEN];
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
			continue;
		inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, a, sizeof(a));
		used = !strncmp(a, prefix, len) && a[len] == '.';
	}
	freeifaddrs(ifa);
	return used;
}

/* The /24 of the layout: recorded, configured, or a free one derived from its id. */
char *lhost_choose_prefix(struct provider_ctx *c, const struct lhost_names *nm, bool *fresh)
{
	const char *rec = state_str(lhost_pdata(c, false), "subnet");
	char *p;

	*fresh = false;
	if (rec && (p = lhost_subnet_prefix(rec)))
		return p;
	*fresh = true;
	if ((p = lhost_subnet_prefix(lhost_setting(c, "subnet"))))
		return p;
	char hex[4] = {nm->id[8], nm->id[9], nm->id[10], '\0'};
	unsigned start = (unsigned)strtoul(hex, NULL, 16) % 200;
	for (unsigned k = 0; k < 200; k++) {
		p = xasprintf("10.213.%u", 20 + (start + k) % 200);
		if (!prefix_in_use(p))
			return p;
		free(p);
	}
	return xasprintf("10.213.%u", 20 + start);
}

static int make_bridge(struct provider_ctx *c, const struct lhost_names *nm, const char *prefix,
                       struct pv_error *err)
{
	json_t *pd = lhost_pdata(c, true);
	char *cidr = xasprintf("%s.1/24", prefix);
	int rc = -1;

	if (!lhost_link_exists(nm->bridge)) {
		char *add[] = {"ip", "link", "add", (char *)nm->bridge, "type", "bridge", NULL};
		if (prefix_in_use(prefix)) {
			pv_error_set(
			    err,
			    "subnet %s.0/24 is already used on this machine; choose another "
			    "with providers.%s.subnet",
			    prefix, nm->kind);
			goto out;
		}
		if (lhost_run(err, "creating the bridge", add) < 0)
			goto out;
	}
	/* recorded before anything else is put on it, so destroy finds it */
	state_set_str(pd, "bridge", nm->bridge);
	char *sub = xasprintf("%s.0/24", prefix);
	state_set_str(pd, "subnet", sub);
	free(sub);
	char *br_addr = xasprintf("%s.1", prefix);
	state_set_str(pd, "bridge_address", br_addr);
	free(br_addr);
	if (state_save(c->state, err) < 0)
		goto out;
	char *flush[] = {"ip", "addr", "replace", cidr, "dev", (char *)nm->bridge, NULL};
	char *up[] = {"ip", "link", "set", (char *)nm->bridge, "up", NULL};
	/* the bridge says whose it is: `ip -d link` shows project, environment, layout
	 * and the state directory, so two checkouts of one project stay apart */
	char *sdir = realpath(c->state->dir, NULL);
	char *label = xasprintf("provision %s env=%s layout=%s state=%s", c->inv->project, c->env,
	                        c->layout->name, sdir ? sdir : c->state->dir);
	free(sdir);
	char *alias[] = {"ip", "link", "set", "dev", (char *)nm->bridge, "alias", label, NULL};
	state_set_str(pd, "env", c->env);
	int arc = lhost_run(err, "labelling the bridge", alias);
	free(label);
	if (arc < 0 || lhost_run(err, "giving the bridge its address", flush) < 0 ||
	    lhost_run(err, "bringing the bridge up", up) < 0)
		goto out;
	rc = 0;
out:
	free(cidr);
	return rc;
}

/*
 * Every project's bridges on this machine share one range, and a subnet is
 * taken only once its bridge has the address: the choice and the address
 * are made under one lock of the machine, or two runs started at once
 * would both see the same subnet free.
 */
#define SUBNET_LOCK_DIR "/run/provision"

int lhost_ensure_bridge(struct provider_ctx *c, const struct lhost_names *nm, char **prefix,
                        struct pv_error *err)
{
	bool fresh;
	int fd = pv_lock_wait(SUBNET_LOCK_DIR, "subnets.lock", 0755, err);
	int rc;

	*prefix = NULL;
	if (fd < 0)
		return -1;
	*prefix = lhost_choose_prefix(c, nm, &fresh);
	rc = make_bridge(c, nm, *prefix, err);
	close(fd);
	return rc;
}

/* ---- the package cache ---- */

int lhost_write_text(const char *dir, const char *name, const char *text, int mode,
                     struct pv_error *err)
{
	char *p = pv_path_join(dir, name);
	int rc = pv_write_file_atomic(p, text, strlen(text), mode, err);

	free(p);
	return rc;
}

/* A port nobody listens on at addr (a system apt-cacher-ng may hold 3142 on every address). */
static int free_port(const char *addr, int first)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};

	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
		return ACNG_PORT;
	for (int port = first; port < first + 100; port++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int ok;
		if (fd < 0)
			return ACNG_PORT;
		sa.sin_port = htons((uint16_t)port);
		ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		close(fd);
		if (ok)
			return port;
	}
	return ACNG_PORT;
}

int lhost_cache_port(struct provider_ctx *c)
{
	json_t *v = json_object_get(lhost_pdata(c, false), "cache_port");

	return json_is_integer(v) ? (int)json_integer_value(v) : ACNG_PORT;
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

/*
 * Fetch the release files once through the new cache, before the hosts
 * ask for them all at the same moment: apt-cacher-ng fails to refresh one
 * file for several clients within the same second, and apt then waits on
 * the dropped connection.  Best effort: a failure only costs the hosts a
 * retry.
 */
static void warm_cache(struct provider_ctx *c, const char *addr, int port)
{
	static const char *const urls[] = {
	    "http://deb.debian.org/debian/dists/bookworm/InRelease",
	    "http://deb.debian.org/debian/dists/bookworm-updates/InRelease",
	    "http://security.debian.org/debian-security/dists/bookworm-security/InRelease",
	};
	char *proxy = xasprintf("http://%s:%d", addr, port);
	CURL *h = curl_easy_init();

	for (size_t i = 0; h && i < PV_ARRAY_SIZE(urls); i++) {
		long code = 0;
		curl_easy_reset(h);
		curl_easy_setopt(h, CURLOPT_URL, urls[i]);
		curl_easy_setopt(h, CURLOPT_PROXY, proxy);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
		curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
		curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		CURLcode rc = curl_easy_perform(h);
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
		if (rc != CURLE_OK || code != 200)
			report_warn(c->rep, NULL, "the package cache could not fetch %s (%s)",
			            urls[i],
			            rc != CURLE_OK ? curl_easy_strerror(rc) : "HTTP error");
	}
	if (h)
		curl_easy_cleanup(h);
	free(proxy);
}

int lhost_ensure_cache(struct provider_ctx *c, const struct lhost_names *nm, const char *prefix,
                       struct pv_error *err)
{
	json_t *pd = lhost_pdata(c, true);
	char *conf = pv_path_join(nm->acng_dir, "conf");
	char *shared = pv_path_join(nm->cache_dir, "apt-cacher-ng");
	char *logdir = pv_path_join(nm->acng_dir, "log");
	char *log = pv_path_join(nm->acng_dir, "daemon.log");
	char *addr = xasprintf("%s.1", prefix);
	char *text = NULL;
	pid_t pid = lhost_json_pid(pd, "cache_pid");
	int rc = -1;

	int port;

	if (acng_running(pid, conf)) {
		rc = 0;
		goto out;
	}
	/* the hosts' proxy setting names the recorded port: keep it when it is free */
	port = free_port(addr, lhost_cache_port(c));
	if (pv_mkdir_p(conf, 0700, err) < 0 || pv_mkdir_p(logdir, 0700, err) < 0 ||
	    pv_mkdir_p(shared, 0755, err) < 0)
		goto out;
	/* the stock backend list names a mirror this machine may not reach */
	if (lhost_write_text(conf, "backends_debian", "http://deb.debian.org/debian/\n", 0644,
	                     err) < 0)
		goto out;
	text = xasprintf("# written by provision for layout '%s'\n"
	                 "CacheDir: %s\nLogDir: %s\nSupportDir: /usr/lib/apt-cacher-ng\n"
	                 "Port: %d\nBindAddress: %s\nForeGround: 1\n"
	                 "PidFile: %s/pid\nSocketPath: %s/socket\n"
	                 "Remap-debrep: file:deb_mirror*.gz /debian ; file:backends_debian\n"
	                 "Remap-secdeb: security.debian.org security.debian.org/debian-security "
	                 "deb.debian.org/debian-security /debian-security ; "
	                 "deb.debian.org/debian-security\n"
	                 "ExThreshold: 4\n"
	                 /* hosts that boot together ask for the same index files at once:
	                    fetch them once and serve that copy for a while */
	                 "FreshIndexMaxAge: 300\n",
	                 c->layout->name, shared, logdir, port, addr, nm->acng_dir, nm->acng_dir);
	if (lhost_write_text(conf, "acng.conf", text, 0644, err) < 0)
		goto out;
	char *argv[] = {"/usr/sbin/apt-cacher-ng", "-c", conf, NULL};
	if ((pid = proc_spawn(argv, log, err)) < 0)
		goto out;
	json_object_set_new(pd, "cache_pid", json_integer(pid));
	json_object_set_new(pd, "cache_port", json_integer(port));
	if (state_save(c->state, err) < 0)
		goto out;
	if (remote_wait_port(addr, port, 20000, err) < 0) {
		pv_error_prefix(err, "the package cache did not start (log: %s)", log);
		goto out;
	}
	warm_cache(c, addr, port);
	rc = 0;
out:
	free(conf);
	free(shared);
	free(logdir);
	free(log);
	free(addr);
	free(text);
	return rc;
}

/* The lowest free host number in the /24. */
char *lhost_next_address(struct provider_ctx *c, const char *prefix)
{
	json_t *hs = lhost_hosts_obj(c, false);

	for (int n = FIRST_HOST; n < FIRST_HOST + MAX_HOSTS; n++) {
		char *a = xasprintf("%s.%d", prefix, n);
		bool used = false;
		const char *k;
		json_t *v;
		json_object_foreach(hs, k, v)
		{
			const char *x = state_str(v, "address");
			used = used || (x && !strcmp(x, a));
		}
		if (!used)
			return a;
		free(a);
	}
	return NULL;
}
int lhost_need_root(struct pv_error *err, const char *kind, const char *why)
{
	return pv_error_set(err, "provider '%s' needs root: it creates %s", kind, why);
}

int lhost_cache_lock(const struct lhost_names *nm, struct pv_error *err)
{
	return pv_lock_wait(nm->cache_dir, ".lock", 0755, err);
}

void lhost_validate(const struct inv_layout *l, const struct node *settings, const char *kind,
                    struct diags *d)
{
	const struct node *v;

	if (settings && settings->kind == NODE_MAP && (v = node_get(settings, "subnet"))) {
		char *p = v->kind == NODE_SCALAR ? lhost_subnet_prefix(v->scalar) : NULL;
		if (!p)
			diags_add(d, &v->pos,
			          "'subnet' of provider '%s' must be a private /24 such as "
			          "10.213.7.0/24",
			          kind);
		free(p);
	}
	if (l->n_servers > MAX_HOSTS)
		diags_add(d, &l->pos, "layout '%s' has %zu servers; provider '%s' makes at most %d",
		          l->name, l->n_servers, kind, MAX_HOSTS);
}

char *lhost_apt_proxy_conf(struct provider_ctx *c, const char *prefix)
{
	/* a stalled download through the cache is given up and tried again */
	return xasprintf("# written by provision: packages come through the cache on the "
	                 "bridge\nAcquire::http::Proxy \"http://%s.1:%d\";\n"
	                 "Acquire::http::Timeout \"30\";\nAcquire::Retries \"5\";\n"
	                 "Acquire::http::Pipeline-Depth \"0\";\n"
	                 /* a release file the cache fetched minutes ago is good enough */
	                 "Acquire::http::Max-Age \"600\";\n",
	                 prefix, lhost_cache_port(c));
}

void lhost_fill_host(struct host *h, const struct provider_ctx *c, const char *name,
                     const json_t *o, const char *prefix, const char *kind, bool container)
{
	char *br = xasprintf("%s.1", prefix);
	char *net = xasprintf("%s.0/24", prefix);

	h->name = xstrdup(name);
	h->address = xstrdup(state_str(o, "address"));
	h->port = c->inv->ssh_port;
	h->user = xstrdup(c->inv->ssh_user);
	h->host_key = xstrdup(state_str(o, "host_key") ? state_str(o, "host_key") : "");
	scope_init(&h->facts);
	scope_set_str(&h->facts, "container", container ? "true" : "false");
	scope_set_str(&h->facts, "address", h->address);
	scope_set_str(&h->facts, "private_address", h->address);
	scope_set_str(&h->facts, "bridge_address", br);
	scope_set_str(&h->facts, "private_network", net);
	scope_set_str(&h->facts, "os_id", "debian");
	scope_set_str(&h->facts, "os_version_id", "12");
	scope_set_str(&h->facts, "provider", kind);
	free(net);
	free(br);
}

int lhost_teardown(struct provider_ctx *c, const struct lhost_names *nm, struct pv_error *err)
{
	json_t *pd = lhost_pdata(c, false);
	char *conf = pv_path_join(nm->acng_dir, "conf");
	pid_t cpid = lhost_json_pid(pd, "cache_pid");
	const char *cw[] = {"-c", conf, NULL};
	const char *const *cws[] = {cw};

	if (cpid > 0)
		proc_stop(&cpid, cws, 1, SIGTERM, 5000);
	free(conf);
	json_object_del(pd, "cache_pid");
	const char *br = state_str(pd, "bridge");
	if (br && !strcmp(br, nm->bridge) && lhost_link_exists(nm->bridge)) {
		char *del[] = {"ip", "link", "del", (char *)nm->bridge, NULL};
		if (lhost_run(err, "removing the bridge", del) < 0)
			return -1;
	}
	return lhost_remove_tree(nm->ldir, err);
}

int lhost_drop_hosts(struct provider_ctx *c, const struct lhost_names *nm,
                     int (*before)(const char *name, const char *dir, json_t *o, void *arg,
                                   struct pv_error *err),
                     void *arg, struct pv_error *err)
{
	json_t *hs = lhost_hosts_obj(c, false);
	void *iter = json_object_iter(hs);

	while (iter) {
		char *name = xstrdup(json_object_iter_key(iter));
		json_t *o = json_object_iter_value(iter);
		const char *dir = state_str(o, "dir");
		const char *addr = state_str(o, "address");
		char *mydir = lhost_host_dir(nm, name);
		int bad = 0;

		if (dir && strcmp(dir, mydir))
			bad = pv_error_set(err,
			                   "the state names '%s' for host '%s', not the directory "
			                   "the tool uses; not removing it",
			                   dir, name);
		if (!bad)
			bad = before(name, mydir, o, arg, err);
		if (!bad)
			bad = lhost_remove_tree(mydir, err);
		if (!bad && addr)
			bad = known_hosts_forget(c->known_hosts, addr, c->inv->ssh_port, err);
		free(mydir);
		if (bad) {
			free(name);
			return -1;
		}
		iter = json_object_iter_next(hs, iter);
		json_object_del(hs, name);
		free(name);
		if (state_save(c->state, err) < 0)
			return -1;
	}
	return 0;
}

char *lhost_machine_name(const struct lhost_names *nm, const char *server)
{
	return xasprintf("p%.6s-%s", nm->id, server);
}

/* The cgroup hierarchies a container is placed in: the unified one and systemd's named one. */
static void cgroup_roots(const char *roots[2])
{
	roots[0] = roots[1] = NULL;
	if (access("/run/systemd/system", F_OK) == 0)
		return; /* systemd runs this machine: nspawn gets a scope of its own */
	if (access("/sys/fs/cgroup/unified/cgroup.procs", F_OK) == 0)
		roots[0] = "/sys/fs/cgroup/unified";
	else if (access("/sys/fs/cgroup/cgroup.subtree_control", F_OK) == 0)
		roots[0] = "/sys/fs/cgroup";
	if (access("/sys/fs/cgroup/systemd/cgroup.procs", F_OK) == 0)
		roots[1] = "/sys/fs/cgroup/systemd";
}

void lhost_cgroup_dirs(const char *machine, char *dirs[2])
{
	const char *roots[2];

	cgroup_roots(roots);
	for (int i = 0; i < 2; i++) {
		dirs[i] = NULL;
		if (!roots[i])
			continue;
		char *parent = xasprintf("%s/provision-hosts", roots[i]);
		char *d = xasprintf("%s/%s", parent, machine);
		if ((mkdir(parent, 0755) == 0 || errno == EEXIST) &&
		    (mkdir(d, 0755) == 0 || errno == EEXIST))
			dirs[i] = d;
		else
			free(d);
		free(parent);
	}
}

static int rm_cgroup(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)f;
	if (flag == FTW_DP)
		rmdir(path);
	return 0;
}

/*
 * Remove a stopped host's cgroups.  The processes of a container whose
 * init has ended are killed by the kernel, but they take a moment to exit
 * (a database flushing its buffers), and a cgroup with a process in it
 * cannot be removed: the unified hierarchy's cgroup.kill ends what is left,
 * and the removal is tried again for up to 10 s.
 */
void lhost_cgroup_remove(const char *machine)
{
	const char *roots[2];

	cgroup_roots(roots);
	for (int i = 0; i < 2; i++) {
		if (!roots[i])
			continue;
		char *d = xasprintf("%s/provision-hosts/%s", roots[i], machine);
		for (int tries = 0; tries < 100; tries++) {
			/* the container's own cgroups first, deepest first */
			nftw(d, rm_cgroup, 16, FTW_DEPTH | FTW_PHYS);
			if (access(d, F_OK) < 0)
				break;
			if (tries == 0) {
				char *kill_file = xasprintf("%s/cgroup.kill", d);
				int fd = open(kill_file, O_WRONLY | O_CLOEXEC);
				if (fd >= 0) {
					(void)!write(fd, "1", 1);
					close(fd);
				}
				free(kill_file);
			}
			usleep(100 * 1000);
		}
		free(d);
	}
}

/*
 * Stop every host of the state at once: SIGTERM to each process find
 * gives (its command line holding flag and the machine name), then up to
 * timeout_ms for all to end before SIGKILL.
 */
static void stop_hosts(struct provider_ctx *c, const struct lhost_names *nm, const char *flag,
                       int timeout_ms, lhost_find_fn find)
{
	json_t *hs = lhost_hosts_obj(c, false);
	size_t n = json_object_size(hs), i = 0;
	pid_t *pids = xcalloc(n + 1, sizeof(*pids)), *also = xcalloc(n + 1, sizeof(*also));
	char **machines = xcalloc(n + 1, sizeof(*machines));
	const char ***words = xcalloc(n + 1, sizeof(*words));
	const char *k;
	json_t *v;

	json_object_foreach(hs, k, v)
	{
		machines[i] = lhost_machine_name(nm, k);
		words[i] = xcalloc(3, sizeof(**words));
		words[i][0] = flag;
		words[i][1] = machines[i];
		pids[i] = find(nm, k, v, words[i], &also[i]);
		i++;
	}
	if (proc_stop(pids, (const char *const *const *)words, n, SIGTERM, timeout_ms) > 0) {
		for (size_t j = 0; j < n; j++) {
			const char *w[] = {NULL};
			if (also[j] > 1 && proc_is(also[j], w))
				kill(also[j], SIGKILL);
		}
	}
	for (size_t j = 0; j < n; j++) {
		lhost_cgroup_remove(machines[j]);
		free(machines[j]);
		free(words[j]);
	}
	free(machines);
	free(words);
	free(pids);
	free(also);
}

int lhost_destroy(struct provider_ctx *c, const char *kind, const char *flag, int timeout_ms,
                  lhost_find_fn find,
                  int (*before)(const char *name, const char *dir, json_t *o, void *arg,
                                struct pv_error *err),
                  struct pv_error *err)
{
	struct lhost_names nm;
	int rc = -1;

	lhost_names_init(&nm, c, kind);
	stop_hosts(c, &nm, flag, timeout_ms, find);
	if (lhost_drop_hosts(c, &nm, before, NULL, err) == 0 && lhost_teardown(c, &nm, err) == 0)
		rc = 0;
	lhost_names_release(&nm);
	return rc;
}

void lhost_status(struct provider_ctx *c, const char *kind, const char *host_kind,
                  lhost_running_fn running, lhost_more_fn more, json_t *out)
{
	json_t *hs = lhost_hosts_obj(c, false), *servers = json_array();
	struct lhost_names names, *nm = &names;

	lhost_names_init(nm, c, kind);
	json_object_set_new(out, "servers", servers);
	for (size_t i = 0; i < c->layout->n_servers; i++) {
		const char *name = c->layout->servers[i].name;
		json_t *o = state_obj(hs, name, false);
		json_t *s = json_pack("{s:s, s:b}", "host", name, "created", o != NULL);
		json_array_append_new(servers, s);
		if (!o)
			continue;
		char *machine = lhost_machine_name(nm, name);
		json_object_set_new(s, "kind", json_string(host_kind));
		json_object_set_new(
		    s, "state", json_string(running(nm, name, o, machine) ? "running" : "stopped"));
		if (state_str(o, "address"))
			json_object_set_new(s, "address", json_string(state_str(o, "address")));
		if (more)
			more(nm, name, o, s);
		free(machine);
	}
	lhost_names_release(nm);
}

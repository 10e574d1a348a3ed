/*
 * cmd-kamal-config.c - provision kamal-config LAYOUT [-o FILE]
 *
 * Writes the config/deploy.yml Kamal reads for a layout: the web hosts
 * are the servers with role proxy and proxy_flavour kamal, accessories
 * are servers that set kamal_accessory (e.g. db, with its image), the
 * proxy host is the first of the web servers' proxy_sites.  Addresses
 * come from the provider, as 'up' made the hosts.  Values come from the
 * variables, as the roles see them:
 *   kamal_service (project), kamal_image (project/project),
 *   kamal_registry_server (Docker Hub when empty), kamal_registry_username
 *   (project), kamal_app_port (3000), kamal_builder_arch (amd64),
 *   deploy_user (deploy), kamal_accessory, kamal_accessory_image
 *   (postgres:16), kamal_accessory_port (5432).
 * A layout with Redis gives the app REDIS_SENTINELS and
 * REDIS_SENTINEL_NAME (with roles redis-sentinel) or REDIS_URL (the
 * primary), and REDIS_URL as HAProxy's Redis endpoint when a server has
 * role haproxy.
 * Secrets stay Kamal's: the file names the environment variables
 * (KAMAL_REGISTRY_PASSWORD, POSTGRES_PASSWORD, REDIS_PASSWORD), never
 * their values.
 * An existing file that differs is left alone unless --force is given.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "provision/session.h"

/* A YAML double-quoted scalar. */
static void yq(struct buf *b, const char *s)
{
	buf_addc(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			buf_addf(b, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			buf_addf(b, "\\x%02x", *p);
		else
			buf_addc(b, (char)*p);
	}
	buf_addc(b, '"');
}

static const char *var(const struct host_plan *hp, const char *name, const char *dflt)
{
	const struct node *v = scope_get(&hp->scope, name);

	return v && v->kind == NODE_SCALAR && !v->secret && *v->scalar ? v->scalar : dflt;
}

/* rediss:// when the server's Redis speaks TLS only (redis_tls) */
static char *redis_url(const struct host_plan *hp, const char *addr, const char *port_var,
                       const char *port)
{
	bool v6 = strchr(addr, ':') != NULL;
	bool tls = !strcmp(var(hp, "redis_tls", "false"), "true");

	return xasprintf("redis%s://%s%s%s:%s/0", tls ? "s" : "", v6 ? "[" : "", addr,
	                 v6 ? "]" : "", var(hp, port_var, port));
}

/*
 * The layout's Redis, for the app's environment: the Sentinels and the
 * primary's name when it has roles redis-sentinel, else the primary; the
 * first server with role haproxy's endpoint, which follows the primary,
 * for clients that do not speak Sentinel (on a keepalived pair, at its
 * floating address).
 */
static void redis_env(struct buf *y, const struct host_plan *plans, size_t n)
{
	struct buf sentinels = BUF_INIT;
	const char *name = NULL;
	char *url = NULL, *lb = NULL;

	for (size_t i = 0; i < n; i++) {
		const struct host_plan *hp = &plans[i];
		if (!hp->host)
			continue;
		const char *addr = var(hp, "private_address", hp->host->address);
		if (inv_server_has_role(hp->server, "redis-sentinel")) {
			buf_addf(&sentinels, "%s%s:%s", sentinels.len ? "," : "", addr,
			         var(hp, "redis_sentinel_port", "26379"));
			name = var(hp, "redis_master_name", "main");
		}
		if (inv_server_has_role(hp->server, "redis") && !url)
			url = redis_url(hp, addr, "redis_port", "6379");
		if (inv_server_has_role(hp->server, "haproxy") && !lb) {
			/* a keepalived pair's endpoint is its floating address */
			const char *vip = inv_server_has_role(hp->server, "keepalived")
			                      ? var(hp, "keepalived_address", "")
			                      : "";
			lb = redis_url(hp, *vip ? vip : addr, "redis_lb_port", "6390");
		}
	}
	if (url && lb) {
		free(url);
		url = lb;
		lb = NULL;
	} else if (sentinels.len) {
		free(url);
		url = NULL;
	}
	if (sentinels.len || url) {
		buf_adds(y, "env:\n  clear:\n");
		if (sentinels.len) {
			buf_adds(y, "    REDIS_SENTINELS: ");
			yq(y, sentinels.s);
			buf_adds(y, "\n    REDIS_SENTINEL_NAME: ");
			yq(y, name);
			buf_addc(y, '\n');
		}
		if (url) {
			buf_adds(y, "    REDIS_URL: ");
			yq(y, url);
			buf_addc(y, '\n');
		}
		buf_adds(y, "  secret:\n    - REDIS_PASSWORD\n");
	}
	free(url);
	free(lb);
	buf_release(&sentinels);
}

static bool is_web(const struct host_plan *hp)
{
	return hp->host && inv_server_has_role(hp->server, "proxy") &&
	       !strcmp(var(hp, "proxy_flavour", ""), "kamal");
}

/* The first site's host of a web server, or NULL. */
static const char *site_host(const struct host_plan *hp)
{
	const struct node *sites = scope_get(&hp->scope, "proxy_sites");

	if (!sites || sites->kind != NODE_SEQ || !sites->n)
		return NULL;
	const struct node *h = node_get(sites->items[0], "host");
	return h && h->kind == NODE_SCALAR ? h->scalar : NULL;
}

static int write_config(const char *path, const char *text, struct pv_error *err)
{
	char *dir = xstrdup(path), *slash = strrchr(dir, '/');
	int rc = -1;

	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			pv_error_set(err, "cannot create %s: %s", dir, strerror(errno));
			goto out;
		}
	}
	rc = pv_write_file_atomic(path, text, strlen(text), 0644, err);
out:
	free(dir);
	return rc;
}

/* The file's content, or NULL when it does not exist (or cannot be read). */
static char *read_existing(const char *path)
{
	FILE *f = fopen(path, "r");
	struct buf b = BUF_INIT;
	char chunk[4096];
	size_t n;

	if (!f)
		return NULL;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(&b, chunk, n);
	fclose(f);
	return buf_detach(&b, NULL);
}

static int kamal_layout(struct session *s, const struct inv_layout *l, const char *out_path,
                        bool force)
{
	const struct provider_ops *p = session_provider(s, l);
	struct provider_ctx c;
	struct pv_error err = {{0}};
	struct host *hosts = NULL;
	struct host_plan *plans = NULL;
	struct buf y = BUF_INIT;
	size_t n = 0, n_web = 0;
	const struct host_plan *first = NULL;
	int rc;

	if (!p)
		return PV_EXIT_USAGE;
	if (!p->hosts_in_inventory && !state_layout(&s->st, s->env, l->name, false)) {
		pv_say_error(
		    "layout '%s' is not created in environment '%s': run 'provision up %s' "
		    "first (the file needs the hosts' addresses)",
		    l->name, s->env, l->name);
		return PV_EXIT_USAGE;
	}
	/* the file names no key: without the tool's key yet, none is made for it */
	if (!session_keys_made(s) && !s->public_key)
		s->public_key = xstrdup("");
	session_provider_ctx(s, l, &c);
	if (p->hosts(&c, &hosts, &n, &err) < 0) {
		pv_say_error("%s", err.msg);
		return PV_EXIT_FAIL;
	}
	if ((rc = session_render(s, l, hosts, n, NULL, 0, &plans)) != PV_EXIT_OK)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (is_web(&plans[i])) {
			n_web++;
			if (!first)
				first = &plans[i];
		}
	}
	if (!first) {
		pv_say_error("layout '%s' has no server with role proxy and proxy_flavour 'kamal'",
		             l->name);
		rc = PV_EXIT_USAGE;
		goto out;
	}
	const char *project = s->inv->project;
	char *dflt_image = xasprintf("%s/%s", project, project);
	const char *host = site_host(first);

	buf_addf(&y,
	         "# Kamal configuration for layout '%s', written by 'provision kamal-config %s'.\n"
	         "# The hosts are ready for Kamal: Docker, the deploy user in group docker,\n"
	         "# ports 80 and 443 open (published ports obey ufw).\n",
	         l->name, l->name);
	buf_adds(&y, "service: ");
	yq(&y, var(first, "kamal_service", project));
	buf_adds(&y, "\nimage: ");
	yq(&y, var(first, "kamal_image", dflt_image));
	buf_adds(&y, "\nservers:\n  web:\n    hosts:\n");
	for (size_t i = 0; i < n; i++) {
		if (!is_web(&plans[i]))
			continue;
		buf_adds(&y, "      - ");
		yq(&y, plans[i].host->address);
		buf_addc(&y, '\n');
	}
	buf_adds(&y, "proxy:\n");
	if (host) {
		buf_adds(&y, "  ssl: true\n  host: ");
		yq(&y, host);
		buf_addc(&y, '\n');
	} else {
		buf_adds(&y, "  ssl: false\n");
	}
	buf_addf(&y, "  app_port: %d\n", atoi(var(first, "kamal_app_port", "3000")));
	buf_adds(&y, "registry:\n");
	if (*var(first, "kamal_registry_server", "")) {
		buf_adds(&y, "  server: ");
		yq(&y, var(first, "kamal_registry_server", ""));
		buf_addc(&y, '\n');
	}
	buf_adds(&y, "  username: ");
	yq(&y, var(first, "kamal_registry_username", project));
	buf_adds(&y, "\n  password:\n    - KAMAL_REGISTRY_PASSWORD\n");
	buf_adds(&y, "ssh:\n  user: ");
	yq(&y, var(first, "deploy_user", "deploy"));
	buf_adds(&y, "\nbuilder:\n  arch: ");
	yq(&y, var(first, "kamal_builder_arch", "amd64"));
	buf_addc(&y, '\n');
	redis_env(&y, plans, n);
	bool any_acc = false;
	for (size_t i = 0; i < n; i++) {
		const struct host_plan *hp = &plans[i];
		const char *name = hp->host ? var(hp, "kamal_accessory", "") : "";
		if (!*name)
			continue;
		if (strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(name)) {
			pv_say_error("kamal_accessory of server '%s' must be a name like 'db', not "
			             "'%s'",
			             hp->server->name, name);
			rc = PV_EXIT_USAGE;
			free(dflt_image);
			goto out;
		}
		if (!any_acc)
			buf_adds(&y, "accessories:\n");
		any_acc = true;
		const char *addr = hp->host->address;
		const char *priv = var(hp, "private_address", addr);
		int port = atoi(var(hp, "kamal_accessory_port", "5432"));
		char *pub = xasprintf("%s:%d:%d", priv, port, port);
		buf_addf(&y, "  %s:\n    image: ", name);
		yq(&y, var(hp, "kamal_accessory_image", "postgres:16"));
		buf_adds(&y, "\n    host: ");
		yq(&y, addr);
		buf_adds(&y, "\n    port: ");
		yq(&y, pub);
		buf_adds(&y, "\n    env:\n      secret:\n        - POSTGRES_PASSWORD\n"
		             "    directories:\n      - data:/var/lib/postgresql/data\n");
		free(pub);
	}
	free(dflt_image);
	/* a deploy.yml edited by hand is not overwritten without --force */
	char *old = read_existing(out_path);
	if (old && !strcmp(old, y.s)) {
		report_line(s->rep,
		            json_pack("{s:s, s:s, s:b, s:i, s:b}", "event", "written", "file",
		                      out_path, "changed", 0, "web_hosts", (int)n_web,
		                      "accessories", any_acc),
		            "%s: unchanged", out_path);
		free(old);
		goto out;
	}
	if (old && !force) {
		pv_say_error("%s exists and differs from what the layout gives; keep it, or "
		             "replace it with --force",
		             out_path);
		free(old);
		rc = PV_EXIT_FAIL;
		goto out;
	}
	free(old);
	if (write_config(out_path, y.s, &err) < 0) {
		pv_say_error("%s", err.msg);
		rc = PV_EXIT_FAIL;
		goto out;
	}
	report_line(s->rep,
	            json_pack("{s:s, s:s, s:b, s:i, s:b}", "event", "written", "file", out_path,
	                      "changed", 1, "web_hosts", (int)n_web, "accessories", any_acc),
	            "%s: %zu web host%s%s", out_path, n_web, n_web == 1 ? "" : "s",
	            any_acc ? ", accessories" : "");
out:
	for (size_t i = 0; plans && i < n; i++)
		plan_release(&plans[i]);
	free(plans);
	hosts_free(hosts, n);
	buf_release(&y);
	return rc;
}

static int cmd_kamal_config(struct session *s, int argc, char **argv)
{
	const char *out = NULL;
	const char *layout = NULL;
	bool force = false;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-o") && i + 1 < argc)
			out = argv[++i];
		else if (!strcmp(argv[i], "--force"))
			force = true;
		else if (argv[i][0] != '-' && !layout)
			layout = argv[i];
		else {
			pv_usage(&cmd_kamal_config_entry);
			return PV_EXIT_USAGE;
		}
	}
	if (!layout) {
		pv_usage(&cmd_kamal_config_entry);
		return PV_EXIT_USAGE;
	}
	if ((rc = session_load(s)) || (rc = session_open_state(s, false)))
		return rc;
	const struct inv_layout *l = session_layout(s, layout);
	if (!l)
		return PV_EXIT_USAGE;
	char *dflt = NULL;
	if (!out) {
		char *cfg = pv_path_join(s->inv->dir, "config");
		dflt = pv_path_join(cfg, "deploy.yml");
		free(cfg);
		out = dflt;
	}
	rc = kamal_layout(s, l, out, force);
	free(dflt);
	return rc;
}

const struct cmd_entry cmd_kamal_config_entry = {
    .name = "kamal-config",
    .usage = "kamal-config LAYOUT [-o FILE] [--force]",
    .summary = "write Kamal's config/deploy.yml for the layout's hosts",
    .help = "  -o FILE   where to write (default: config/deploy.yml next to the inventory)\n"
            "  --force   replace a file that differs (one edited by hand)\n",
    .exec = cmd_kamal_config,
};

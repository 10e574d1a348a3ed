/*
 * volume.c - a server's volumes as the inventory says them (volume.h).
 */
#include <stdlib.h>
#include <string.h>

#include "provision/vartype.h"
#include "provision/volume.h"

/* the system's own directories: a volume mounted over one hides what is there */
static const char *const system_dirs[] = {"/",     "/bin",   "/boot", "/dev",  "/etc",  "/home",
                                          "/lib",  "/lib64", "/mnt",  "/proc", "/root", "/run",
                                          "/sbin", "/sys",   "/tmp",  "/usr",  "/var",  "/var/lib"};

const struct node *volumes_of(const struct inv_server *s)
{
	const struct node *v = s ? node_get(s->node, "volumes") : NULL;

	return v && v->kind == NODE_SEQ && v->n ? v : NULL;
}

bool volume_name_short(const char *s)
{
	if (!s || !(s[0] >= 'a' && s[0] <= 'z') || strlen(s) > 20)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
			return false;
	return true;
}

static const char *scalar(const struct node *map, const char *key)
{
	const struct node *v = node_get(map, key);

	return v && v->kind == NODE_SCALAR ? v->scalar : NULL;
}

char *volume_mount(const struct node *vol)
{
	const char *m = scalar(vol, "mount");

	return m ? xstrdup(m)
	         : xasprintf("/mnt/%s", scalar(vol, "name") ? scalar(vol, "name") : "");
}

const char *volume_filesystem(const struct node *vol)
{
	const char *f = scalar(vol, "filesystem");

	if (!f)
		f = scalar(vol, "format");
	return f ? f : "ext4";
}

/* A mount point the host can compare as written: no "/./", "//" or trailing '/'. */
static bool mount_plain(const char *m)
{
	size_t n = strlen(m);

	return !strstr(m, "//") && !strstr(m, "/./") && (n < 2 || strcmp(m + n - 2, "/.")) &&
	       (n == 1 || m[n - 1] != '/');
}

static void check_mount(const struct node *vol, const char *server, struct diags *d)
{
	const struct node *m = node_get(vol, "mount");

	if (!m || m->kind != NODE_SCALAR || !vartype_text_ok("path", m->scalar))
		return; /* its type says what it must be */
	if (!mount_plain(m->scalar)) {
		diags_add(d, &m->pos,
		          "'mount' of a volume of server '%s' must be written without '//', '/./' "
		          "or a trailing '/', not '%s'",
		          server, m->scalar);
		return;
	}
	for (size_t i = 0; i < PV_ARRAY_SIZE(system_dirs); i++)
		if (!strcmp(m->scalar, system_dirs[i]))
			diags_add(d, &m->pos,
			          "'mount' of a volume of server '%s' cannot be '%s', a directory "
			          "of the system's own; use one below it, such as /srv/data",
			          server, m->scalar);
}

void volumes_validate(const struct inv_server *s, const struct node *types,
                      bool (*name_ok)(const char *name), const char *name_rule, struct diags *d)
{
	const struct node *v = node_get(s->node, "volumes");
	char *of;

	if (!v || node_is_null(v))
		return;
	if (v->kind != NODE_SEQ) {
		diags_add(d, &v->pos,
		          "'volumes' of server '%s' must be a list of { name, size } mappings",
		          s->name);
		return;
	}
	of = xasprintf("of a volume of server '%s'", s->name);
	for (size_t k = 0; k < v->n; k++) {
		const struct node *vol = v->items[k], *name, *f;
		if (vol->kind != NODE_MAP) {
			diags_add(d, &vol->pos, "a volume must be a mapping { name, size }");
			continue;
		}
		node_check_keys(vol, (const char *const *)types->keys, types->n, "a volume", d);
		vartype_check_keys(vol, types, of, d);
		if (!(name = node_get(vol, "name")))
			diags_add(d, &vol->pos, "a volume needs a 'name'");
		else if (name->kind == NODE_SCALAR && vartype_text_ok("name", name->scalar) &&
		         !name_ok(name->scalar))
			diags_add(d, &name->pos, "%s, not '%s'", name_rule, name->scalar);
		if (!node_get(vol, "size"))
			diags_add(d, &vol->pos, "a volume needs a 'size' in GB");
		if (node_get(vol, "filesystem") && (f = node_get(vol, "format")))
			diags_add(
			    d, &f->pos,
			    "a volume of server '%s' says both 'filesystem' and 'format' (its "
			    "older name); keep 'filesystem'",
			    s->name);
		check_mount(vol, s->name, d);
		/* unique on the server: names (the device, the data roles' reference), mounts */
		char *mine = volume_mount(vol);
		for (size_t j = 0; j < k; j++) {
			const struct node *o = v->items[j];
			const char *on = scalar(o, "name"), *n = scalar(vol, "name");
			if (o->kind != NODE_MAP)
				continue;
			if (on && n && !strcmp(on, n)) {
				diags_add(d, &name->pos,
				          "volume '%s' is listed twice in server '%s'", n, s->name);
				continue;
			}
			char *theirs = volume_mount(o);
			if (!strcmp(theirs, mine))
				diags_add(
				    d,
				    node_get(vol, "mount") ? &node_get(vol, "mount")->pos
				                           : &vol->pos,
				    "volumes '%s' and '%s' of server '%s' are both mounted on '%s'",
				    on ? on : "?", n ? n : "?", s->name, mine);
			free(theirs);
		}
		free(mine);
	}
	free(of);
}

void volumes_scope(struct scope *s, const struct inv_server *srv, const struct node *devices)
{
	const struct node *v = volumes_of(srv);
	struct pos tool = {pv_intern("(provision)"), 0, 0};
	struct node *list = node_new_seq(&tool);
	bool xfs = false;

	for (size_t i = 0; v && i < v->n; i++) {
		const struct node *vol = v->items[i];
		const char *name = scalar(vol, "name"), *dev;
		if (vol->kind != NODE_MAP || !name)
			continue;
		dev = scalar(devices, name);
		struct node *m = node_new_map(&tool);
		char *mount = volume_mount(vol);
		node_map_set(m, "name", node_new_scalar(name, &tool));
		node_map_set(m, "mount", node_new_scalar(mount, &tool));
		node_map_set(m, "filesystem", node_new_scalar(volume_filesystem(vol), &tool));
		node_map_set(m, "device", node_new_scalar(dev ? dev : "", &tool));
		xfs = xfs || !strcmp(volume_filesystem(vol), "xfs");
		node_seq_append(list, m);
		free(mount);
	}
	scope_set_owned(s, "volumes", list);
	scope_set_str(s, "volumes_xfs", xfs ? "true" : "false");
}

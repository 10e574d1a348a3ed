/*
 * cloud.c - the cloud-init document, key comparison and firewall ports the
 * cloud providers share.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provision/buf.h"
#include "provision/cloud.h"
#include "provision/role.h"

static const int private_ports[] = {5432, 3306, 6379, 27017, 9200};

/* A YAML double-quoted scalar. */
static void yaml_str(struct buf *b, const char *s)
{
	buf_addc(b, '"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			buf_addf(b, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			buf_addf(b, "\\x%02x", (unsigned char)*s);
		else
			buf_addc(b, *s);
	}
	buf_addc(b, '"');
}

char *cloud_user_data(const char *hostname, const char *admin_user, const char *admin_key,
                      const char *host_private, const char *host_public)
{
	struct buf b;

	buf_init(&b, 64 * 1024);
	buf_adds(&b, "#cloud-config\nhostname: ");
	yaml_str(&b, hostname);
	buf_adds(&b, "\nssh_pwauth: false\nssh_deletekeys: true\nssh_genkeytypes: []\n");
	if (strcmp(admin_user, "root")) {
		buf_adds(&b, "users:\n  - name: ");
		yaml_str(&b, admin_user);
		buf_adds(
		    &b, "\n    shell: /bin/bash\n    lock_passwd: true\n"
		        "    sudo: \"ALL=(ALL) NOPASSWD:ALL\"\n    ssh_authorized_keys:\n      - ");
		yaml_str(&b, admin_key);
		buf_adds(&b, "\n");
	}
	/* a block scalar keeps the key's lines and its final newline exactly */
	buf_adds(&b, "ssh_keys:\n  ed25519_private: |\n");
	for (const char *p = host_private; *p;) {
		size_t l = strcspn(p, "\n");
		buf_adds(&b, "    ");
		buf_add(&b, p, l);
		buf_addc(&b, '\n');
		p += l;
		if (*p == '\n')
			p++;
	}
	buf_adds(&b, "  ed25519_public: ");
	yaml_str(&b, host_public);
	buf_adds(&b, "\n");
	return buf_detach(&b, NULL);
}

static size_t key_len(const char *s)
{
	size_t l = strcspn(s, " \t");

	return s[l] ? l + 1 + strcspn(s + l + 1, " \t\n") : l;
}

bool cloud_same_key(const char *a, const char *b)
{
	size_t la, lb;

	if (!a || !b)
		return false;
	la = key_len(a);
	lb = key_len(b);
	return la == lb && la > 0 && !strncmp(a, b, la);
}

static size_t add_port(struct cloud_port *out, size_t n, size_t max, int port, int end,
                       const char *proto, bool private_only)
{
	if (end < port)
		end = port;
	for (size_t i = 0; i < n; i++)
		if (out[i].port == port && out[i].port_end == end && !strcmp(out[i].proto, proto)) {
			/* open to all wins over private only */
			out[i].private_only = out[i].private_only && private_only;
			return n;
		}
	if (n >= max || port <= 0 || end > 65535 || (strcmp(proto, "tcp") && strcmp(proto, "udp")))
		return n;
	out[n].port = port;
	out[n].port_end = end;
	snprintf(out[n].proto, sizeof(out[n].proto), "%s", proto);
	out[n].private_only = private_only;
	for (size_t k = 0; k < PV_ARRAY_SIZE(private_ports); k++)
		out[n].private_only = out[n].private_only || port == private_ports[k];
	return n + 1;
}

/*
 * One port a role declares: "80/tcp", "53/udp", "8000:8100/tcp", "443",
 * "5432/tcp private".  Rules for an interface ("on tailscale0") concern
 * the host's own firewall only and are skipped.
 */
static size_t add_role_port(struct cloud_port *out, size_t n, size_t max, const char *spec)
{
	char proto[4] = "tcp";
	char *end;

	if (!strncmp(spec, "on ", 3))
		return n;
	long a = strtol(spec, &end, 10), b = a;
	if (end == spec)
		return n;
	if (*end == ':') {
		const char *q = end + 1;
		b = strtol(q, &end, 10);
		if (end == q)
			return n;
	}
	if (!strncmp(end, "/tcp", 4) || !strncmp(end, "/udp", 4)) {
		memcpy(proto, end + 1, 3);
		end += 4;
	}
	bool priv = !strcmp(end, " private");
	if (*end && !priv)
		return n;
	return add_port(out, n, max, (int)a, (int)b, proto, priv);
}

size_t cloud_firewall_ports(const struct provider_ctx *c, struct cloud_port *out, size_t max)
{
	struct diags d;
	size_t n = 0;

	n = add_port(out, n, max, c->inv->ssh_port, 0, "tcp", false);
	n = add_port(out, n, max, 80, 0, "tcp", false);
	n = add_port(out, n, max, 443, 0, "tcp", false);
	diags_init(&d);
	for (size_t i = 0; c->roles && i < c->layout->n_servers; i++) {
		const struct inv_server *s = &c->layout->servers[i];
		struct role **rl = NULL;
		size_t nr = 0;
		if (role_closure(c->roles, s->roles, s->role_pos, s->n_roles, &rl, &nr, &d) < 0)
			continue;
		for (size_t k = 0; k < nr; k++) {
			for (size_t p = 0; p < rl[k]->n_ports; p++)
				n = add_role_port(out, n, max, rl[k]->ports[p]);
		}
		free(rl);
	}
	diags_release(&d);
	return n;
}

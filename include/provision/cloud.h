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

/* Same key type and key data (comments aside) of two public key lines. */
bool cloud_same_key(const char *a, const char *b);

struct cloud_port {
	int port;
	int port_end; /* == port unless a range */
	char proto[4]; /* "tcp" or "udp" */
	bool private_only; /* a database port or "PORT private": only from the private network */
};

/*
 * The firewall's ports: the SSH port, 80 and 443/tcp, then every port the
 * layout's servers' roles declare (c->roles), each once; ports declared
 * "PORT private" and database ports (5432, 3306, 6379, 27017, 9200) are
 * private_only; interface rules ("on tailscale0") are the hosts' own.  Returns how many were
 * written to out (at most max).
 */
size_t cloud_firewall_ports(const struct provider_ctx *c, struct cloud_port *out, size_t max);

#endif

/*
 * host.h - a server that exists and can be reached: what providers hand to
 * the engine.
 */
#ifndef PROVISION_HOST_H
#define PROVISION_HOST_H

#include "provision/scope.h"

struct host {
	char *name; /* server name in the layout ("app1") */
	char *address; /* where SSH reaches it */
	int port;
	char *user; /* login user; remote scripts run through "sudo -n" unless root */
	char *host_key; /* pinned public key, "ssh-ed25519 AAAA..." */
	/* facts the provider knows: private_address, container ("true"/"false"), os_id, ... */
	struct scope facts;
};

void host_release(struct host *h);
void hosts_free(struct host *hosts, size_t n);

#endif

/*
 * remote.h - SSH to hosts through libssh2.
 *
 * One struct remote is one authenticated connection; a converge runs all
 * its round trips over it.  The server's host key must equal the key pinned
 * in the tool's known_hosts file for "[address]:port" (or "address" for port
 * 22); a missing or different key is refused before authentication.
 * libssh2 errors are translated here, once, into messages that name the
 * host.
 */
#ifndef PROVISION_REMOTE_H
#define PROVISION_REMOTE_H

#include "provision/buf.h"
#include "provision/common.h"

struct remote;

struct remote_target {
	const char *name; /* for messages ("app1") */
	const char *address;
	int port;
	const char *user;
	const char *private_key; /* path of an OpenSSH private key (unencrypted) */
	const char *known_hosts; /* the tool's known_hosts file */
	int timeout_ms; /* connect + handshake; 0 = 15000 */
};

/* Call once before any thread connects, and remote_global_cleanup at exit. */
int remote_global_init(struct pv_error *err);
void remote_global_cleanup(void);
/*
 * Whether this build's SSH library speaks the encrypt-then-MAC MACs
 * (libssh2 1.11 and later): sshd may then offer those alone.
 */
bool remote_client_etm(void);
/* The version of the libssh2 provision runs with ("1.11.1"). */
const char *remote_client_version(void);

int remote_connect(struct remote **out, const struct remote_target *t, struct pv_error *err);
/*
 * Run command (given to the remote user's shell), write in[0..in_len) to
 * its stdin and close it, collect stdout/stderr (each capped by the bufs'
 * limits), and return its exit status (or -1 when it died by a signal).
 * errb may be NULL (stderr is then discarded).  Returns -1 only when the
 * connection itself failed.
 */
int remote_exec(struct remote *r, const char *command, const void *in, size_t in_len,
                struct buf *out, struct buf *errb, int *exit_status, struct pv_error *err);
void remote_close(struct remote *r);

/* Wait until a TCP connect to address:port succeeds (polling), or time out. */
int remote_wait_port(const char *address, int port, int timeout_ms, struct pv_error *err);

#endif

/*
 * keys.h - SSH keys made by the tool, and its known_hosts file.
 *
 * Host keys for new servers are generated here (ed25519, OpenSSL), handed to
 * the server before its first boot and pinned, so the first connection is
 * already verified.
 */
#ifndef PROVISION_KEYS_H
#define PROVISION_KEYS_H

#include "provision/common.h"

/*
 * A new ed25519 key: *private_pem is the OpenSSH private key file
 * ("-----BEGIN OPENSSH PRIVATE KEY-----", unencrypted) and *public_line is
 * "ssh-ed25519 AAAA... comment".  Both are allocations; wipe the private
 * one with pv_free_secret.
 */
int keygen_ed25519(char **private_pem, char **public_line, const char *comment,
                   struct pv_error *err);

/* Make path (mode 0600) and path.pub if path does not exist yet. */
int key_ensure_file(const char *path, const char *comment, struct pv_error *err);

/*
 * The private key of a layout's own certificate authority (ed25519, PKCS#8
 * PEM, mode 0600 at path; made when missing, its directory 0700): hosts
 * sign their certificates with it (role layout-tls), the tool keeps it.
 * *private_pem (wipe with pv_free_secret) and *public_pem (SubjectPublicKeyInfo
 * PEM, as 'openssl pkey -pubout' writes it) are allocations.  The caller
 * holds the run lock.
 */
int ca_key_ensure_file(const char *path, char **private_pem, char **public_pem,
                       struct pv_error *err);

/* Public key line of an OpenSSH private key file (ed25519; path.pub is used when present). */
int key_public_from_file(const char *private_path, char **public_line, struct pv_error *err);

/* "SHA256:..." fingerprint (as ssh-keygen -l prints it) of a public key line. */
int key_fingerprint(const char *public_line, char **out, struct pv_error *err);

/*
 * known_hosts: lines "address ssh-ed25519 AAAA..." or "[address]:port ...".
 * pin replaces any entry for that address/port (atomic write);
 * forget removes it; lookup returns 0 and the key line ("ssh-ed25519 AAAA")
 * when found, 1 when there is no entry, -1 on error.
 */
int known_hosts_pin(const char *path, const char *address, int port, const char *public_line,
                    struct pv_error *err);
int known_hosts_forget(const char *path, const char *address, int port, struct pv_error *err);
int known_hosts_lookup(const char *path, const char *address, int port, char **public_line,
                       struct pv_error *err);

#endif

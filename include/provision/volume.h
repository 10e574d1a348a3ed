/*
 * volume.h - a server's volumes: what the inventory says of them, and what
 * its roles see.
 *
 *   servers:
 *     db1:
 *       roles: [postgres]
 *       volumes: [{ name: pgdata, size: 20, mount: /srv/pgdata, filesystem: xfs }]
 *
 * A provider that attaches volumes (hetzner, digitalocean, vm) declares
 * each volume's name and size with its own rules, and VOLUME_KEY_TYPES
 * for the keys every provider reads alike: 'mount' (an absolute path,
 * default /mnt/NAME) and 'filesystem' (ext4 or xfs, default ext4; 'format'
 * is its older name).  The device a volume appears as on the server is the
 * provider's knowledge: it hands it over as the fact 'volume_devices' (a
 * map, volume name -> device path).  A server with volumes gets role
 * 'volumes' (inventory.c), which formats each device once, when it holds
 * no file system, and mounts it by UUID.
 *
 * The model layer: nothing here prints.
 */
#ifndef PROVISION_VOLUME_H
#define PROVISION_VOLUME_H

#include "provision/inventory.h"
#include "provision/node.h"
#include "provision/scope.h"

/* the keys every provider's volume has, with their types (vartype.h), as YAML lines */
#define VOLUME_KEY_TYPES                                                                           \
	"  mount: path\n"                                                                          \
	"  filesystem: { type: enum, values: [ext4, xfs] }\n"                                      \
	"  format: { type: enum, values: [ext4, xfs] }\n"

/* A short volume name: lowercase letters, digits and '-', at most 20, a letter first. */
bool volume_name_short(const char *name);
#define VOLUME_NAME_SHORT_RULE                                                                     \
	"a volume's 'name' must be made of lowercase letters, digits and '-' (at most 20), "       \
	"starting with a letter"

/*
 * Check server s's 'volumes' (a list of mappings with the keys of types:
 * a mapping key -> type), each error at its position: a name (name_ok,
 * else "<name_rule>, not 'x'") and a size are required; names and mount
 * points are unique on the server; a mount point is none of the system's
 * own directories; 'filesystem' and 'format' are not both given.
 */
void volumes_validate(const struct inv_server *s, const struct node *types,
                      bool (*name_ok)(const char *name), const char *name_rule, struct diags *d);

/* Server s's volumes list, or NULL when it has none. */
const struct node *volumes_of(const struct inv_server *s);
/* A volume's mount point ("/mnt/NAME" unless it says) and file system ("ext4" unless it says). */
char *volume_mount(const struct node *vol);
const char *volume_filesystem(const struct node *vol);

/*
 * Set the variables role 'volumes' and the roles that put data on a volume
 * read: 'volumes', a list of { name, mount, filesystem, device } (device
 * from devices, the provider's fact 'volume_devices', "" when it does not
 * know it yet), and 'volumes_xfs' (true when one of them is xfs).
 */
void volumes_scope(struct scope *s, const struct inv_server *srv, const struct node *devices);

#endif

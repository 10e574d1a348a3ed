/*
 * state.h - what the tool has made, in <inventory dir>/.provision/state.json.
 *
 *   { "version": 1, "project": "shop",
 *     "environments": { "default": { "layouts": { "phase1": {
 *         "provider": "local",
 *         "hosts": { "app1": { "address": ..., "host_key": ..., ... } },
 *         "provider_data": { ... provider-specific ... } } } } } }
 *
 * Written atomically (temporary file, fsync, rename); one run at a time
 * holds .provision/lock (flock).  Never holds a secret: providers must not
 * put tokens or passwords in it.
 */
#ifndef PROVISION_STATE_H
#define PROVISION_STATE_H

#include <jansson.h>
#include <stdbool.h>

#include "provision/common.h"

struct state {
	char *dir; /* .provision */
	char *path; /* .provision/state.json */
	json_t *root;
	int lock_fd; /* -1 when not locked */
};

/*
 * Open the state in dir (created, mode 0700).  With lock, take the run lock
 * first; when another run holds it, fail with a message saying so.
 */
int state_open(struct state *st, const char *dir, const char *project, bool lock,
               struct pv_error *err);
/* The object for env/layout; created (empty) when create is true, else NULL if absent. */
json_t *state_layout(struct state *st, const char *env, const char *layout, bool create);
/* The object for env (holds "layouts"); created when create is true. */
json_t *state_env(struct state *st, const char *env, bool create);
/* Remove a layout's object (after destroy). */
void state_remove_layout(struct state *st, const char *env, const char *layout);
int state_save(struct state *st, struct pv_error *err);
/*
 * Wait for the run lock of the state in dir (created, mode 0700) and hold
 * it: the returned descriptor; close it to let go.  For a short step a
 * run that does not otherwise lock must not race on (making the login key).
 */
int state_lock_wait(const char *dir, struct pv_error *err);
void state_close(struct state *st); /* releases lock and memory; does not save */

/* Small helpers over jansson objects. */
const char *state_str(const json_t *obj, const char *key); /* NULL when absent */
void state_set_str(json_t *obj, const char *key, const char *value);
json_t *state_obj(json_t *obj, const char *key, bool create);

#endif

/*
 * repro.h - what makes two hosts the same: the record the state keeps per
 * host, and the checks on it.
 *
 * After a host converges, the state holds under its layout
 *   "repro": { "app1": {
 *       "digest": <sha256 of everything below>,
 *       "roles": { "base": <sha256>, ... },
 *       "resources": { "file /etc/...": { "role": "base", "digest": <sha256> }, ... },
 *       "packages": { "fail2ban": "1.0.2-2", ... },
 *       "dependencies": { "python3": "3.11.2-1+b1", ... } } }
 * A resource's digest covers what the host is given: its rendered apply
 * half and the files staged for it (for a resource rendered with a secret,
 * the shell only: a digest of a secret could be guessed at).  Package
 * versions are those of the packages the roles name and of every package
 * they depend on (installed), read by the probe and again at the end of the
 * apply, in the round trips that run anyway.
 */
#ifndef PROVISION_REPRO_H
#define PROVISION_REPRO_H

#include <jansson.h>

#include "provision/engine.h"

/* The package names of a package resource (NULL for other types). */
const char *const *res_package_names(const struct resource *r, size_t *n, bool *present);

/* With --frozen: install the packages of r at these versions (name -> version). */
void res_package_pin(struct resource *r, const json_t *versions);

/* The digests of a rendered plan, as a new "repro" object without "packages". */
json_t *repro_digests(const struct host_plan *hp);

/*
 * Shell that prints "@@V NAME VERSION STATUS" for every package the plan
 * names, "@@C NAME CANDIDATE" for those not installed (what apt would
 * install), "@@D NAME VERSION" for every installed package they depend on
 * (Pre-Depends and Depends, transitively: an alternative by the first one
 * installed, a virtual package by the installed package that provides it)
 * after a line "@@DR" when deps is set, and with --frozen "@@S NAME VERSION"
 * for each package apt would install with the missing ones (a simulation).
 * Appended to the probe and to the apply script.
 */
void repro_versions_sh(const struct host_plan *hp, struct buf *sh, bool deps);

/*
 * Whether the probe reads the dependencies: only where they matter before
 * the apply, that is with --frozen, or in a run that records versions
 * (hp->record) and finds none recorded for the host yet.  A check run
 * (plan, up --check) records nothing and reads none.
 */
bool repro_probe_reads_deps(const struct host_plan *hp);

/* Read the "@@V"/"@@C"/"@@D"/"@@S" lines of a probe's or apply's output into hp->pkg_*. */
void repro_pkgs_parse(struct host_plan *hp, const char *out, size_t len);

/*
 * --frozen: fail when converging would make a package version differ from
 * hp->frozen_pkgs (name -> version, NULL when the host has no record): a named
 * package that is not recorded, installed at another version, or would be
 * installed at another version; and from hp->frozen_deps, a dependency
 * installed at another version than recorded, one the record does not know,
 * or one apt would install at another version or without a record.  The
 * message names every such package.
 */
int repro_frozen_check(const struct host_plan *hp, struct pv_error *err);

/*
 * The content a file resource installs (allocated) and its digest as
 * recorded; -1 when there is no such file resource, it has no content of
 * its own, or it holds a secret.
 */
int repro_file_content(const struct host_plan *hp, const char *title, char **content, size_t *len,
                       char digest[65]);

/*
 * Compare two records (each "repro" objects of a layout: host -> record);
 * one line per difference into out, labelled with names a and b.  Returns
 * the number of differences.
 */
size_t repro_compare(const json_t *ra, const json_t *rb, const char *a, const char *b,
                     struct buf *out, json_t *jout);

#endif

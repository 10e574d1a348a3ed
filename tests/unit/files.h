/*
 * files.h - the unit tests' scratch files: a scratch directory with roles/
 * in it, a message and exit 2 when the test's own setup fails, a whole
 * file written, a role written into DIR/roles/NAME/role.yml.
 */
#ifndef TEST_FILES_H
#define TEST_FILES_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "provision/common.h"

static inline void die(const char *what)
{
	perror(what);
	exit(2);
}

static inline void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f))
		die(path);
}

/* mkdtemp(tmpl), and tmpl/roles in it. */
static inline void make_scratch(char *tmpl)
{
	char *p;

	if (!mkdtemp(tmpl))
		die(tmpl);
	p = xasprintf("%s/roles", tmpl);
	if (mkdir(p, 0755) < 0)
		die(p);
	free(p);
}

/* Remove a scratch directory made by make_scratch, with what is in it. */
static inline void remove_scratch(const char *dir)
{
	char *cmd = xasprintf("rm -rf %s", dir);

	if (system(cmd) != 0)
		printf("cleanup failed: %s\n", cmd);
	free(cmd);
}

/* dir/roles must exist. */
static inline void write_role(const char *dir, const char *name, const char *text)
{
	char *rdir = xasprintf("%s/roles/%s", dir, name);
	char *file = xasprintf("%s/role.yml", rdir);

	if (mkdir(rdir, 0755) < 0)
		die(rdir);
	write_file(file, text);
	free(file);
	free(rdir);
}

#endif

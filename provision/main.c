/*
 * main.c - the command table and the options every command shares.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "provision/common.h"
#include "provision/remote.h"
#include "provision/session.h"

#define PROVISION_VERSION "0.1.0"

static const struct cmd_entry *const commands[] = {
    &cmd_validate_entry, &cmd_plan_entry,    &cmd_up_entry,           &cmd_apply_entry,
    &cmd_status_entry,   &cmd_destroy_entry, &cmd_ssh_entry,          &cmd_diff_entry,
    &cmd_share_entry,    &cmd_unshare_entry, &cmd_kamal_config_entry, &cmd_switchover_entry,
    &cmd_backup_entry,
};

static void main_help(FILE *f)
{
	fprintf(f, "usage: provision [-i FILE] [-e ENV] [--json|--plain] COMMAND [ARGS]\n\n"
	           "Builds hardened servers from a declarative inventory.\n\nCommands:\n");
	int w = 0;
	for (size_t i = 0; i < PV_ARRAY_SIZE(commands); i++)
		if ((int)strlen(commands[i]->name) > w)
			w = (int)strlen(commands[i]->name);
	for (size_t i = 0; i < PV_ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-*s  %s\n", w, commands[i]->name, commands[i]->summary);
	fprintf(f, "\n'provision COMMAND --help' shows a command's options.\n"
	           "Exit status: 0 success, 1 something failed, 2 usage or input error.\n");
}

static const struct cmd_entry *find_command(const char *name)
{
	const struct cmd_entry *found = NULL;
	size_t len = strlen(name);
	int matches = 0;

	for (size_t i = 0; i < PV_ARRAY_SIZE(commands); i++) {
		if (!strcmp(commands[i]->name, name))
			return commands[i];
		if (!strncmp(commands[i]->name, name, len)) {
			found = commands[i];
			matches++;
		}
	}
	return matches == 1 ? found : NULL; /* a unique prefix works, as in tmux */
}

/*
 * Take the global options out of argv (anywhere before "--"), so each
 * command parses only its own.  Returns -1 on a missing argument.
 */
static int take_globals(struct session *s, int *argc, char **argv, bool *help)
{
	int out = 1, env_seen = 0;
	bool after_dashdash = false;

	for (int i = 1; i < *argc; i++) {
		const char *a = argv[i];
		const char **target = NULL;

		if (after_dashdash) {
			argv[out++] = argv[i];
			continue;
		}
		if (!strcmp(a, "--")) {
			after_dashdash = true;
			argv[out++] = argv[i];
			continue;
		}
		if (!strcmp(a, "-i") || !strcmp(a, "--inventory"))
			target = &s->inventory_path;
		else if (!strcmp(a, "-e") || !strcmp(a, "--env"))
			target = env_seen++ ? &s->env_b : &s->env;
		if (target) {
			if (i + 1 >= *argc) {
				pv_say_error("option '%s' needs a value", a);
				return -1;
			}
			*target = argv[++i];
			continue;
		}
		if (!strncmp(a, "--inventory=", 12)) {
			s->inventory_path = a + 12;
		} else if (!strncmp(a, "--env=", 6)) {
			*(env_seen++ ? &s->env_b : &s->env) = a + 6;
		} else if (!strcmp(a, "--json")) {
			s->mode = REPORT_JSON;
			s->mode_forced = true;
		} else if (!strcmp(a, "--plain")) {
			s->mode = REPORT_PLAIN;
			s->mode_forced = true;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			*help = true;
		} else {
			argv[out++] = argv[i];
		}
	}
	argv[out] = NULL;
	*argc = out;
	return 0;
}

static bool valid_env_name(const char *e)
{
	if (!*e || strlen(e) > 24 || !(e[0] >= 'a' && e[0] <= 'z'))
		return false;
	for (const char *p = e; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
			return false;
	return true;
}

int main(int argc, char **argv)
{
	struct session s;
	const struct cmd_entry *c;
	struct pv_error err = {{0}};
	bool help = false;
	int rc;

	pv_tmp_guard_signals();
	memset(&s, 0, sizeof(s));
	s.env = "default";
	s.mode = isatty(STDOUT_FILENO) ? REPORT_TTY : REPORT_PLAIN;
	if (take_globals(&s, &argc, argv, &help) < 0)
		return PV_EXIT_USAGE;
	if (argc < 2) {
		if (help) {
			main_help(stdout);
			return PV_EXIT_OK;
		}
		main_help(stderr);
		return PV_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("provision %s\n", PROVISION_VERSION);
		return PV_EXIT_OK;
	}
	if (!strcmp(argv[1], "help")) {
		if (argc > 2 && (c = find_command(argv[2]))) {
			pv_help(c);
			return PV_EXIT_OK;
		}
		main_help(stdout);
		return argc > 2 ? PV_EXIT_USAGE : PV_EXIT_OK;
	}
	c = find_command(argv[1]);
	if (!c) {
		const char *names[PV_ARRAY_SIZE(commands)];
		for (size_t i = 0; i < PV_ARRAY_SIZE(commands); i++)
			names[i] = commands[i]->name;
		const char *near = pv_nearest(argv[1], names, PV_ARRAY_SIZE(commands));
		if (near)
			pv_say_error("unknown command '%s' (did you mean '%s'?)", argv[1], near);
		else
			pv_say_error("unknown command '%s'; see 'provision --help'", argv[1]);
		return PV_EXIT_USAGE;
	}
	if (help) {
		pv_help(c);
		return PV_EXIT_OK;
	}
	if (s.env_b && strcmp(c->name, "diff")) {
		pv_say_error("-e is given twice; only 'diff' compares two environments");
		return PV_EXIT_USAGE;
	}
	if (s.env_b && !valid_env_name(s.env_b)) {
		pv_say_error("invalid environment name '%s' (lowercase letters, digits and '-', "
		             "starting with a letter)",
		             s.env_b);
		return PV_EXIT_USAGE;
	}
	if (!valid_env_name(s.env)) {
		pv_say_error("invalid environment name '%s' (lowercase letters, digits and '-', "
		             "starting with a letter)",
		             s.env);
		return PV_EXIT_USAGE;
	}
	/* before any thread exists: neither library may start it later */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		pv_say_error("initialising libcurl failed");
		return PV_EXIT_FAIL;
	}
	if (remote_global_init(&err) < 0) {
		pv_say_error("%s", err.msg);
		return PV_EXIT_FAIL;
	}
	s.rep = reporter_new(s.mode, stdout);
	/* the command sees its own name as argv[0], as getopt expects */
	rc = c->exec(&s, argc - 1, argv + 1);
	session_release(&s);
	remote_global_cleanup();
	curl_global_cleanup();
	return rc;
}

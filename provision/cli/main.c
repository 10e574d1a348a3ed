/*
 * main.c - the command table and the options every command shares.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "provision/common.h"
#include "provision/environment.h"
#include "provision/remote.h"
#include "provision/session.h"

#define PROVISION_VERSION "0.1.0"

static const struct cmd_entry *const commands[] = {
    &cmd_validate_entry, &cmd_plan_entry,     &cmd_up_entry,           &cmd_apply_entry,
    &cmd_status_entry,   &cmd_destroy_entry,  &cmd_ssh_entry,          &cmd_diff_entry,
    &cmd_share_entry,    &cmd_unshare_entry,  &cmd_kamal_config_entry, &cmd_switchover_entry,
    &cmd_backup_entry,   &cmd_snapshot_entry, &cmd_roles_entry,        &cmd_ui_entry,
    &cmd_audit_entry,    &cmd_logs_entry,
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
	fprintf(f, "\nA command may be shortened to any prefix only it has ('provision st' is\n"
	           "status; 'provision d' is ambiguous: destroy, diff).\n"
	           "'provision COMMAND --help' shows a command's options; 'provision --version'\n"
	           "the version and the libssh2 it runs with.\n"
	           "Output is a live view on a terminal, plain lines otherwise (and with\n"
	           "NO_COLOR set or TERM=dumb); --json gives one JSON object per line.\n"
	           "Exit status: 0 success, 1 something failed, 2 usage or input error.\n");
}

/*
 * The command called name, or the only one it is a prefix of (as in tmux).
 * NULL when there is none; *ambiguous then holds the names it is a prefix
 * of, ", "-separated (empty when none).
 */
static const struct cmd_entry *find_command(const char *name, struct buf *ambiguous)
{
	const struct cmd_entry *found = NULL;
	size_t len = strlen(name);
	int matches = 0;

	for (size_t i = 0; i < PV_ARRAY_SIZE(commands); i++) {
		if (!strcmp(commands[i]->name, name))
			return commands[i];
		if (len && !strncmp(commands[i]->name, name, len)) {
			buf_addf(ambiguous, "%s%s", matches ? ", " : "", commands[i]->name);
			found = commands[i];
			matches++;
		}
	}
	if (matches == 1) {
		buf_reset(ambiguous);
		return found;
	}
	return NULL;
}

/* Role names in dir (each a directory with a role.yml). */
static void print_roles(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		char *sub = pv_path_join(dir, e->d_name);
		char *yml = pv_path_join(sub, "role.yml");
		if (e->d_name[0] != '.' && access(yml, R_OK) == 0)
			printf("%s\n", e->d_name);
		free(yml);
		free(sub);
	}
	if (d)
		closedir(d);
}

/*
 * provision __complete commands|layouts|hosts|roles|environments: one word
 * a line, for the shell completion scripts (not a command of the table).
 */
static int complete(struct session *s, const char *what)
{
	if (!strcmp(what, "commands")) {
		for (size_t i = 0; i < PV_ARRAY_SIZE(commands); i++)
			printf("%s\n", commands[i]->name);
		return PV_EXIT_OK;
	}
	if (session_load(s))
		return PV_EXIT_USAGE;
	if (!strcmp(what, "layouts") || !strcmp(what, "hosts")) {
		for (size_t i = 0; i < s->inv->n_layouts; i++) {
			const struct inv_layout *l = &s->inv->layouts[i];
			if (what[0] == 'l')
				printf("%s\n", l->name);
			for (size_t k = 0; what[0] == 'h' && k < l->n_servers; k++)
				printf("%s\n", l->servers[k].name);
		}
	} else if (!strcmp(what, "roles")) {
		char *own = pv_path_join(s->inv->dir, "roles");
		char *builtin = pv_path_join(s->data_dir, "roles");
		print_roles(own);
		if (strcmp(own, builtin))
			print_roles(builtin);
		free(own);
		free(builtin);
	} else if (!strcmp(what, "environments")) {
		const struct node *envs = node_get(s->inv->root, "environments");
		if (!node_get(s->inv->root, "default_environment"))
			printf("default\n");
		for (size_t i = 0; envs && envs->kind == NODE_MAP && i < envs->n; i++)
			printf("%s\n", envs->keys[i]);
	} else {
		return PV_EXIT_USAGE;
	}
	return PV_EXIT_OK;
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
		} else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			pv_say_error("there is no '%s': every run already shows each resource and "
			             "its diff; '--json' gives every event in full",
			             a);
			return -1;
		} else {
			argv[out++] = argv[i];
		}
	}
	argv[out] = NULL;
	*argc = out;
	return 0;
}

int main(int argc, char **argv)
{
	struct session s;
	const struct cmd_entry *c;
	struct pv_error err = {{0}};
	struct buf amb = BUF_INIT;
	bool help = false;
	int rc;

	pv_tmp_guard_signals();
	memset(&s, 0, sizeof(s));
	s.env = NULL; /* the inventory's default environment, known once it is read */
	s.mode = report_mode_auto(isatty(STDOUT_FILENO), getenv("TERM"), getenv("NO_COLOR"));
	/* a usage error in the global options is an event too when --json is among them */
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "--json"))
			pv_errors_as_json(true);
	if (take_globals(&s, &argc, argv, &help) < 0)
		return PV_EXIT_USAGE;
	pv_errors_as_json(s.mode == REPORT_JSON);
	if (argc < 2) {
		if (help) {
			main_help(stdout);
			return PV_EXIT_OK;
		}
		if (s.mode == REPORT_JSON)
			pv_say_error("no command given; see 'provision --help'");
		else
			main_help(stderr);
		return PV_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("provision %s\n", PROVISION_VERSION);
		printf("libssh2 %s (encrypt-then-MAC and AES-GCM: %s)\n", remote_client_version(),
		       remote_client_etm() ? "yes" : "no, sshd keeps two SHA-2 MACs");
		return PV_EXIT_OK;
	}
	if (!strcmp(argv[1], "help")) {
		if (argc > 2 && (c = find_command(argv[2], &amb))) {
			pv_help(c);
			return PV_EXIT_OK;
		}
		buf_release(&amb);
		main_help(stdout);
		return argc > 2 ? PV_EXIT_USAGE : PV_EXIT_OK;
	}
	if (!strcmp(argv[1], "__complete") && argc == 3) {
		rc = complete(&s, argv[2]);
		session_release(&s);
		return rc;
	}
	if (argv[1][0] == '-') {
		pv_say_error("unknown option '%s'; see 'provision --help'", argv[1]);
		return PV_EXIT_USAGE;
	}
	c = find_command(argv[1], &amb);
	if (!c && amb.len) {
		pv_say_error("ambiguous command '%s': %s", argv[1], amb.s);
		buf_release(&amb);
		return PV_EXIT_USAGE;
	}
	buf_release(&amb);
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
	if (s.env_b && !env_name_valid(s.env_b)) {
		pv_say_error("invalid environment name '%s' (lowercase letters, digits and '-', "
		             "starting with a letter)",
		             s.env_b);
		return PV_EXIT_USAGE;
	}
	if (s.env && !env_name_valid(s.env)) {
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

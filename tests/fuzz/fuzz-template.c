/*
 * fuzz-template.c - libFuzzer target: the template engine.
 *
 * Input: one byte choosing the format (template.h's enum tpl_mode, taken
 * modulo their number), the template text up to the first NUL byte, then
 * YAML variables (when they do not load, a fixed set is used).  A secret
 * 'pw' is always there.  A refused render must leave the output as it was.  Any crash, sanitizer
 * report, leak or hang is a bug; errors in the input are expected and ignored.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "provision/buf.h"
#include "provision/common.h"
#include "provision/node.h"
#include "provision/scope.h"
#include "provision/template.h"

static const char fallback[] = "name: world\n"
                               "evil: \"x'; $(id) `id` \\\"q\\\" \\\\ # } % \\n next\"\n"
                               "list: [a, \"b c\", \"d\\ne\"]\n"
                               "map: {k: v, n: {m: \"1\"}}\n"
                               "servers: [{name: a, address: 10.0.0.1, roles: {web: x}}]\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pv_error err = {{0}};
	struct node *vars = NULL, *pw;
	struct scope s;
	struct buf out = BUF_INIT;
	struct pos start = {"fuzz.tpl", 1, 1};
	const char *text, *nul;
	char *tpl;
	enum tpl_mode mode;
	bool secret = false;

	if (size < 1)
		return 0;
	mode = (enum tpl_mode)(data[0] % (TPL_DECLARED + 1));
	text = (const char *)data + 1;
	size--;
	nul = memchr(text, '\0', size);
	tpl = xstrndup(text, nul ? (size_t)(nul - text) : size);
	if (!nul ||
	    node_load_string(&vars, "vars.yml", nul + 1, size - (size_t)(nul + 1 - text), &err) <
	        0 ||
	    vars->kind != NODE_MAP) {
		node_free(vars);
		vars = NULL;
		if (node_load_string(&vars, "vars.yml", fallback, strlen(fallback), &err) < 0)
			__builtin_trap();
	}
	scope_init(&s);
	scope_set_map(&s, vars);
	pw = node_new_scalar("hunter2\nsecret", NULL);
	pw->secret = true;
	scope_set_owned(&s, "pw", pw);

	/* a refused render leaves nothing behind */
	if (tpl_render(&out, tpl, &start, &s, mode, &secret, &err) < 0 && out.len != 0)
		__builtin_trap();
	buf_release(&out);
	scope_release(&s);
	node_free(vars);
	free(tpl);
	return 0;
}

/*
 * vartype.c - variable types (vartype.h): reading declarations, checking
 * values, describing types for people.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "provision/vartype.h"

enum vt_kind {
	VT_STRING,
	VT_INT,
	VT_BOOL,
	VT_ENUM,
	VT_NAME,
	VT_USER,
	VT_PORT,
	VT_PORT_PROTO,
	VT_RULE,
	VT_IPV4,
	VT_IPV6,
	VT_IP,
	VT_CIDR,
	VT_HOST,
	VT_HOST_PORT,
	VT_EMAIL,
	VT_URL,
	VT_PATH,
	VT_DURATION,
	VT_SIZE,
	VT_IMAGE,
	VT_SECRET,
	VT_VOLUME,
	VT_LIST,
	VT_MAP,
};

static const struct {
	const char *name;
	const char *desc; /* for messages: "must be <desc>" */
} kinds[] = {
    [VT_STRING] = {"string", "a single-line string without control characters"},
    [VT_INT] = {"int", "an integer"},
    [VT_BOOL] = {"bool", "a boolean (true or false)"},
    [VT_ENUM] = {"enum", "one of"},
    [VT_NAME] = {"name", "a name of letters, digits, '_', '.' and '-' (e.g. 'shop')"},
    [VT_USER] = {"user", "a user name like 'deploy' ([a-z_][a-z0-9_-]*, at most 32)"},
    [VT_PORT] = {"port", "a port from 1 to 65535"},
    [VT_PORT_PROTO] = {"port_proto", "a port with its protocol like '8080/tcp'"},
    [VT_RULE] = {"rule", "a firewall rule '[on IFACE] [PORT[:PORT][/PROTO]] [from CIDR]'"},
    [VT_IPV4] = {"ipv4", "an IPv4 address like '10.0.0.2'"},
    [VT_IPV6] = {"ipv6", "an IPv6 address like 'fd00::2'"},
    [VT_IP] = {"ip", "an IP address like '10.0.0.2' or 'fd00::2'"},
    [VT_CIDR] = {"cidr", "a network like '10.0.0.0/24' (host bits zero)"},
    [VT_HOST] = {"host", "a host name or an IP address"},
    [VT_HOST_PORT] = {"host_port", "HOST:PORT like '127.0.0.1:3000'"},
    [VT_EMAIL] = {"email", "an e-mail address like 'ops@example.com'"},
    [VT_URL] = {"url", "a URL"},
    [VT_PATH] = {"path", "an absolute path without spaces like '/srv/data'"},
    [VT_DURATION] = {"duration", "a duration like '10m', '1h30m' or '3600' (seconds)"},
    [VT_SIZE] = {"size", "a size like '500M', '10m' or '1G'"},
    [VT_IMAGE] = {"image", "a Docker image reference like 'traefik:v3.1'"},
    [VT_SECRET] = {"secret", "the name of a secret of the inventory"},
    [VT_VOLUME] = {"volume", "the name of a volume of the server"},
    [VT_LIST] = {"list", "a list"},
    [VT_MAP] = {"map", "a mapping"},
};

struct vartype {
	enum vt_kind kind;
	bool has_min, has_max;
	long long min, max;
	char **values; /* enum values, or extra words any type accepts */
	size_t n_values;
	bool multiline;
	bool empty_ok; /* "" is valid (the default is empty) */
	char **schemes; /* url */
	size_t n_schemes;
	bool no_query; /* url: "query: false", no '?' or '#' */
	struct vartype *of; /* list */
	char **keys; /* map */
	struct vartype **key_types;
	bool *key_required;
	size_t n_keys;
};

static const char *const decl_keys[] = {"type", "default", "doc",       "values",
                                        "min",  "max",     "multiline", "schemes",
                                        "of",   "keys",    "required",  "query"};
/* a variable's own declaration also takes "layout" (one value per layout) */
static const char *const var_decl_keys[] = {"type",     "default",   "doc",     "values", "min",
                                            "max",      "multiline", "schemes", "of",     "keys",
                                            "required", "layout",    "query"};

void vartype_free(struct vartype *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n_values; i++)
		free(t->values[i]);
	free(t->values);
	for (size_t i = 0; i < t->n_schemes; i++)
		free(t->schemes[i]);
	free(t->schemes);
	vartype_free(t->of);
	for (size_t i = 0; i < t->n_keys; i++) {
		free(t->keys[i]);
		vartype_free(t->key_types[i]);
	}
	free(t->keys);
	free(t->key_types);
	free(t->key_required);
	free(t);
}

/* A copy of untrusted text for a one-line message: control characters
 * escaped, long text cut. */
static char *shown(const char *s)
{
	struct buf b = BUF_INIT;
	size_t n = 0;

	for (; *s && n < 60; s++, n++) {
		unsigned char c = (unsigned char)*s;
		if (c == '\n')
			buf_adds(&b, "\\n");
		else if (c == '\t')
			buf_adds(&b, "\\t");
		else if (c < 0x20 || c == 0x7f)
			buf_addf(&b, "\\x%02x", c);
		else
			buf_addc(&b, (char)c);
	}
	if (*s)
		buf_adds(&b, "...");
	return buf_detach(&b, NULL);
}

static int strlist(char ***out, size_t *n, const struct node *v, const char *what,
                   const char *where, struct diags *d)
{
	if (!v || v->kind != NODE_SEQ || !v->n) {
		diags_add(d, v ? &v->pos : NULL, "'%s' of %s must be a non-empty list", what,
		          where);
		return -1;
	}
	*out = xcalloc(v->n, sizeof(**out));
	for (size_t i = 0; i < v->n; i++) {
		if (v->items[i]->kind != NODE_SCALAR) {
			diags_add(d, &v->items[i]->pos, "items of '%s' of %s must be words", what,
			          where);
			return -1;
		}
		(*out)[(*n)++] = xstrdup(v->items[i]->scalar);
	}
	return 0;
}

static int num(const struct node *v, long long *out, const char *what, const char *where,
               struct diags *d)
{
	char *m = xasprintf("'%s' of %s", what, where);
	int rc = node_to_int(v, out, m, d);

	free(m);
	return rc;
}

static int parse_type(struct vartype **out, const struct node *decl, const char *where, bool top,
                      struct diags *d);

int vartype_parse(struct vartype **out, const struct node *decl, const char *where, struct diags *d)
{
	return parse_type(out, decl, where, false, d);
}

/*
 * An option the type never reads would check nothing: refused, at its value.
 * Each option with the types that read it.
 */
static int decl_options_apply(const struct node *decl, enum vt_kind kind, const char *where,
                              struct diags *d)
{
	static const struct {
		const char *key, *types;
		unsigned long kinds;
	} only[] = {
	    {"min", "int", 1ul << VT_INT},
	    {"max", "int and list", 1ul << VT_INT | 1ul << VT_LIST},
	    {"schemes", "url", 1ul << VT_URL},
	    {"query", "url", 1ul << VT_URL},
	    {"multiline", "string and secret", 1ul << VT_STRING | 1ul << VT_SECRET},
	};
	int rc = 0;

	for (size_t i = 0; i < PV_ARRAY_SIZE(only); i++) {
		const struct node *v = node_get(decl, only[i].key);
		if (!v || (only[i].kinds & (1ul << kind)))
			continue;
		diags_add(d, &v->pos, "'%s' does not apply to type %s in %s (only to %s)",
		          only[i].key, kinds[kind].name, where, only[i].types);
		rc = -1;
	}
	return rc;
}

/* A boolean option of a declaration (dflt when absent); -1 when not a boolean. */
static int bool_option(const struct node *decl, const char *key, bool dflt, const char *where,
                       bool *out, struct diags *d)
{
	const struct node *v = node_get(decl, key);
	char *m;
	int rc;

	*out = dflt;
	if (!v)
		return 0;
	m = xasprintf("'%s' of %s", key, where);
	rc = node_to_bool(v, out, m, d);
	free(m);
	return rc;
}

/* top: the declaration of a variable itself, not a type within one */
static int parse_type(struct vartype **out, const struct node *decl, const char *where, bool top,
                      struct diags *d)
{
	struct vartype *t = xcalloc(1, sizeof(*t));
	const struct node *tn = decl, *v;
	size_t before = d->n;
	bool found = false;

	*out = NULL;
	if (decl->kind == NODE_MAP) {
		if (top)
			node_check_keys(decl, var_decl_keys, PV_ARRAY_SIZE(var_decl_keys), where,
			                d);
		else
			node_check_keys(decl, decl_keys, PV_ARRAY_SIZE(decl_keys), where, d);
		tn = node_get(decl, "type");
		if (!tn) {
			diags_add(d, &decl->pos, "%s needs a 'type'", where);
			vartype_free(t);
			return -1;
		}
	}
	if (tn->kind == NODE_SCALAR)
		for (size_t i = 0; i < PV_ARRAY_SIZE(kinds) && !found; i++)
			if (!strcmp(tn->scalar, kinds[i].name)) {
				t->kind = (enum vt_kind)i;
				found = true;
			}
	if (!found) {
		const char *names[PV_ARRAY_SIZE(kinds)];
		for (size_t i = 0; i < PV_ARRAY_SIZE(kinds); i++)
			names[i] = kinds[i].name;
		const char *near = tn->kind == NODE_SCALAR
		                       ? pv_nearest(tn->scalar, names, PV_ARRAY_SIZE(kinds))
		                       : NULL;
		char *s = tn->kind == NODE_SCALAR ? shown(tn->scalar) : xstrdup("?");
		if (near)
			diags_add(d, &tn->pos, "unknown type '%s' in %s (did you mean '%s'?)", s,
			          where, near);
		else
			diags_add(d, &tn->pos, "unknown type '%s' in %s", s, where);
		free(s);
		vartype_free(t);
		return -1;
	}
	if (decl->kind != NODE_MAP) {
		if (t->kind == VT_ENUM || t->kind == VT_LIST || t->kind == VT_MAP) {
			diags_add(d, &decl->pos, "type '%s' in %s needs its details in a mapping",
			          kinds[t->kind].name, where);
			vartype_free(t);
			return -1;
		}
		*out = t;
		return 0;
	}
	if ((v = node_get(decl, "values")) &&
	    strlist(&t->values, &t->n_values, v, "values", where, d) < 0)
		goto bad;
	if (t->kind == VT_ENUM && !t->n_values) {
		diags_add(d, &decl->pos, "type enum in %s needs 'values'", where);
		goto bad;
	}
	if ((v = node_get(decl, "min"))) {
		if (num(v, &t->min, "min", where, d) < 0)
			goto bad;
		t->has_min = true;
	}
	if ((v = node_get(decl, "max"))) {
		if (num(v, &t->max, "max", where, d) < 0)
			goto bad;
		t->has_max = true;
	}
	if (bool_option(decl, "multiline", false, where, &t->multiline, d) < 0)
		goto bad;
	if ((v = node_get(decl, "schemes")) &&
	    strlist(&t->schemes, &t->n_schemes, v, "schemes", where, d) < 0)
		goto bad;
	bool query;
	if (bool_option(decl, "query", true, where, &query, d) < 0)
		goto bad;
	t->no_query = !query;
	if (t->kind == VT_LIST) {
		v = node_get(decl, "of");
		char *w = xasprintf("the items of %s", where);
		int rc = v ? vartype_parse(&t->of, v, w, d) : -1;
		if (!v)
			diags_add(d, &decl->pos, "type list in %s needs 'of' (the items' type)",
			          where);
		free(w);
		if (rc < 0)
			goto bad;
	}
	if (t->kind == VT_MAP) {
		v = node_get(decl, "keys");
		if (!v || v->kind != NODE_MAP || !v->n) {
			diags_add(d, v ? &v->pos : &decl->pos,
			          "type map in %s needs 'keys' (each key with its type)", where);
			goto bad;
		}
		t->keys = xcalloc(v->n, sizeof(*t->keys));
		t->key_types = xcalloc(v->n, sizeof(*t->key_types));
		t->key_required = xcalloc(v->n, sizeof(*t->key_required));
		for (size_t i = 0; i < v->n; i++) {
			char *w = xasprintf("key '%s' of %s", v->keys[i], where);
			const struct node *req = node_get(v->items[i], "required");
			int rc = vartype_parse(&t->key_types[i], v->items[i], w, d);
			if (rc == 0 && req && node_to_bool(req, &t->key_required[i], w, d) < 0)
				rc = -1;
			free(w);
			t->keys[t->n_keys++] = xstrdup(v->keys[i]);
			if (rc < 0)
				goto bad;
		}
	}
	if (decl_options_apply(decl, t->kind, where, d) < 0 || d->n != before)
		goto bad;
	*out = t;
	return 0;
bad:
	vartype_free(t);
	return -1;
}

void vartype_describe(const struct vartype *t, struct buf *out)
{
	switch (t->kind) {
	case VT_INT:
		if (t->has_min && t->has_max)
			buf_addf(out, "an integer from %lld to %lld", t->min, t->max);
		else if (t->has_min)
			buf_addf(out, "an integer of at least %lld", t->min);
		else if (t->has_max)
			buf_addf(out, "an integer of at most %lld", t->max);
		else
			buf_adds(out, kinds[t->kind].desc);
		break;
	case VT_ENUM:
		buf_adds(out, "one of ");
		for (size_t i = 0; i < t->n_values; i++)
			buf_addf(out, "%s'%s'", i ? ", " : "", t->values[i]);
		break;
	case VT_STRING:
		buf_adds(out,
		         t->multiline ? "a string (line breaks allowed)" : kinds[t->kind].desc);
		break;
	case VT_URL:
		buf_adds(out, "a URL starting with ");
		if (!t->n_schemes)
			buf_adds(out, "'https://'");
		for (size_t i = 0; i < t->n_schemes; i++)
			buf_addf(out, "%s'%s://'", i ? " or " : "", t->schemes[i]);
		buf_adds(out, t->no_query ? ", no user name or password, no query or fragment"
		                          : " and no user name or password");
		break;
	case VT_SECRET:
		buf_adds(out, kinds[t->kind].desc);
		if (t->multiline)
			buf_adds(out, " (its value may hold line breaks)");
		break;
	case VT_LIST:
		buf_adds(out, "a list of ");
		{
			struct buf inner = BUF_INIT;
			vartype_describe(t->of, &inner);
			/* "a list of an integer" reads badly: drop the article */
			const char *s = inner.s;
			if (!strncmp(s, "an ", 3))
				s += 3;
			else if (!strncmp(s, "a ", 2))
				s += 2;
			buf_adds(out, s);
			buf_release(&inner);
		}
		if (t->has_max)
			buf_addf(out, " (at most %lld items)", t->max);
		break;
	case VT_MAP:
		buf_adds(out, "a mapping with keys ");
		for (size_t i = 0; i < t->n_keys; i++)
			buf_addf(out, "%s%s%s", i ? ", " : "", t->keys[i],
			         t->key_required[i] ? "" : "?");
		break;
	default:
		buf_adds(out, kinds[t->kind].desc);
	}
	if (t->kind != VT_ENUM && t->n_values) {
		buf_adds(out, ", or ");
		for (size_t i = 0; i < t->n_values; i++)
			buf_addf(out, "%s'%s'", i ? " or " : "", t->values[i]);
	}
}

/* ---- scalar checks: each returns true when s is valid; *near may get a suggestion ---- */

static bool has_ctl(const char *s, bool multiline)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (multiline && (c == '\n' || c == '\t'))
			continue;
		if (c < 0x20 || c == 0x7f)
			return true;
	}
	return false;
}

static bool digits(const char *s)
{
	return *s && strspn(s, "0123456789") == strlen(s);
}

/* A decimal integer (optional '-'), within long long. */
static bool parse_ll(const char *s, long long *out)
{
	char *end;

	if (!*s || (!isdigit((unsigned char)*s) && *s != '-') || (*s == '-' && !digits(s + 1)))
		return false;
	if (*s != '-' && !digits(s))
		return false;
	*out = strtoll(s, &end, 10);
	return *end == '\0';
}

static bool port_ok(const char *s, long *out)
{
	long long v;

	if (!digits(s) || strlen(s) > 5 || !parse_ll(s, &v))
		return false;
	if (out)
		*out = (long)v;
	return v >= 1 && v <= 65535;
}

static bool ip_ok(const char *s, int fam)
{
	unsigned char b[16];

	if (fam != 6 && inet_pton(AF_INET, s, b) == 1)
		return true;
	return fam != 4 && inet_pton(AF_INET6, s, b) == 1;
}

/* ADDRESS/BITS with the host bits zero; *near gets the network when only those are wrong. */
static bool cidr_ok(const char *s, bool need_bits, char **near)
{
	const char *slash = strchr(s, '/');
	char addr[64], buf[INET6_ADDRSTRLEN];
	unsigned char b[16];
	long long bits;
	int af, max;
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);

	if (!alen || alen >= sizeof(addr))
		return false;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	af = strchr(addr, ':') ? AF_INET6 : AF_INET;
	max = af == AF_INET ? 32 : 128;
	if (inet_pton(af, addr, b) != 1)
		return false;
	if (!slash) {
		if (need_bits && near)
			*near = xasprintf("%s/%d", addr, max);
		return !need_bits;
	}
	if (!digits(slash + 1) || strlen(slash + 1) > 3 || !parse_ll(slash + 1, &bits))
		return false;
	if (bits > max) {
		if (near)
			*near = xasprintf("%s/%d", addr, max);
		return false;
	}
	bool clean = true;
	for (int i = 0; i < max / 8; i++) {
		int keep = (int)bits - i * 8;
		unsigned char mask = keep >= 8   ? 0xff
		                     : keep <= 0 ? 0
		                                 : (unsigned char)(0xff << (8 - keep));
		if (b[i] & ~mask)
			clean = false;
		b[i] &= mask;
	}
	if (!clean && near && inet_ntop(af, b, buf, sizeof(buf)))
		*near = xasprintf("%s/%lld", buf, bits);
	return clean;
}

static bool label_char(char c)
{
	return isascii((unsigned char)c) && (isalnum((unsigned char)c) || c == '-');
}

static bool hostname_ok(const char *s)
{
	size_t n = strlen(s), label = 0;

	if (!n || n > 253 || s[0] == '-' || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (!label || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!label_char(s[i]) || (label == 0 && s[i] == '-') || ++label > 63)
			return false;
	}
	return s[n - 1] != '-';
}

static bool host_ok(const char *s)
{
	return ip_ok(s, 0) || hostname_ok(s);
}

static bool host_port_ok(const char *s)
{
	const char *colon;

	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (!end || end[1] != ':')
			return false;
		char *a = xstrndup(s + 1, (size_t)(end - s - 1));
		bool ok = ip_ok(a, 6);
		free(a);
		return ok && port_ok(end + 2, NULL);
	}
	colon = strrchr(s, ':');
	if (!colon || strchr(s, ':') != colon)
		return false;
	char *h = xstrndup(s, (size_t)(colon - s));
	bool ok = host_ok(h);
	free(h);
	return ok && port_ok(colon + 1, NULL);
}

static bool port_proto_ok(const char *s)
{
	const char *slash = strchr(s, '/');
	char *p = xstrndup(s, slash ? (size_t)(slash - s) : strlen(s));
	char *colon = strchr(p, ':');
	long a, b;
	bool ok;

	if (colon)
		*colon = '\0';
	ok = port_ok(p, &a) && (!colon || (port_ok(colon + 1, &b) && b > a));
	free(p);
	return ok && (!slash || !strcmp(slash + 1, "tcp") || !strcmp(slash + 1, "udp"));
}

static bool iface_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > 15 || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isascii((unsigned char)s[i]) ||
		    !(isalnum((unsigned char)s[i]) || strchr("_.-@", s[i])))
			return false;
	return true;
}

/* "[on IFACE] [PORT[:PORT][/PROTO] | vrrp] [from CIDR]", words separated by one space. */
static bool rule_ok(const char *s, char **near)
{
	char *copy = xstrdup(s), *save = NULL, *w;
	char *words[6];
	size_t n = 0, i = 0;
	bool ok = true, any = false;

	for (w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		if (n == PV_ARRAY_SIZE(words)) {
			free(copy);
			return false;
		}
		words[n++] = w;
	}
	if (i < n && !strcmp(words[i], "on")) {
		ok = i + 1 < n && iface_ok(words[i + 1]);
		i += 2;
		any = true;
	}
	if (ok && i < n && strcmp(words[i], "from")) {
		ok = port_proto_ok(words[i]) || !strcmp(words[i], "vrrp");
		i++;
		any = true;
	}
	if (ok && i < n) {
		char *net = NULL;
		ok = !strcmp(words[i], "from") && i + 1 < n && cidr_ok(words[i + 1], false, &net);
		if (net && near && i + 2 == n) {
			/* the rule as written, with the network that was meant */
			*near = xasprintf("%.*s%s", (int)(words[i + 1] - copy), s, net);
		}
		free(net);
		i += 2;
		any = true;
	}
	free(copy);
	return ok && any && i == n && !strstr(s, "  ") && s[0] != ' ';
}

static bool email_ok(const char *s)
{
	const char *at = strrchr(s, '@');

	if (!at || at == s || (size_t)(at - s) > 64)
		return false;
	for (const char *p = s; p < at; p++)
		if (!isascii((unsigned char)*p) ||
		    !(isalnum((unsigned char)*p) || strchr("._%+-", *p)))
			return false;
	return s[0] != '.' && s[0] != '-' && hostname_ok(at + 1);
}

/* No whitespace, quotes, control characters or characters configuration formats treat
 * specially. */
static bool plain_word(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c <= 0x20 || c == 0x7f || strchr("\"'`\\{}<>|;$", c))
			return false;
	}
	return true;
}

static bool url_ok(const struct vartype *t, const char *s)
{
	static const char *const https[] = {"https"};
	const char *const *sch = t->n_schemes ? (const char *const *)t->schemes : https;
	size_t n = t->n_schemes ? t->n_schemes : 1;
	const char *rest = NULL;

	for (size_t i = 0; i < n && !rest; i++) {
		size_t l = strlen(sch[i]);
		if (!strncmp(s, sch[i], l) && !strncmp(s + l, "://", 3))
			rest = s + l + 3;
	}
	if (!rest || !plain_word(rest) || (t->no_query && strpbrk(rest, "?#")))
		return false;
	size_t hl = strcspn(rest, "/?#");
	char *hp = xstrndup(rest, hl);
	bool ok = host_ok(hp) || host_port_ok(hp);
	free(hp);
	return ok;
}

static bool path_ok(const char *s)
{
	return s[0] == '/' && plain_word(s) && !strstr(s, "/../") &&
	       (strlen(s) < 3 || strcmp(s + strlen(s) - 3, "/.."));
}

static bool duration_ok(const char *s)
{
	static const char *const units[] = {"ms", "sec",  "s",   "min", "m",     "hours", "hour",
	                                    "h",  "days", "day", "d",   "weeks", "week",  "w"};

	if (digits(s))
		return strlen(s) <= 12;
	while (*s) {
		size_t nd = strspn(s, "0123456789"), ul = 0;
		if (!nd || nd > 9)
			return false;
		s += nd;
		for (size_t i = 0; i < PV_ARRAY_SIZE(units) && !ul; i++) {
			size_t l = strlen(units[i]);
			if (!strncmp(s, units[i], l) && !isalpha((unsigned char)s[l]))
				ul = l;
		}
		if (!ul)
			return false;
		s += ul;
	}
	return true;
}

static bool size_ok(const char *s)
{
	size_t nd = strspn(s, "0123456789");

	if (!nd || nd > 12)
		return false;
	s += nd;
	if (*s && strchr("kKmMgGtT", *s))
		s++;
	if (*s == 'B' || *s == 'b')
		s++;
	return *s == '\0';
}

static bool name_char(char c, const char *extra)
{
	return isascii((unsigned char)c) && (isalnum((unsigned char)c) || strchr(extra, c));
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > 128 || s[0] == '-' || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!name_char(s[i], "_.-"))
			return false;
	return true;
}

static bool user_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > 32 || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || isdigit((unsigned char)s[i]) || s[i] == '_' ||
		      s[i] == '-'))
			return false;
	return true;
}

/* [registry[:port]/]path[:tag][@sha256:hex]: lowercase path components. */
static bool image_ok(const char *s)
{
	const char *at = strchr(s, '@');
	size_t n = at ? (size_t)(at - s) : strlen(s);
	char *ref = xstrndup(s, n);
	bool ok = n > 0 && n <= 255;
	char *slash = strrchr(ref, '/');
	char *colon = strrchr(ref, ':');

	if (at) {
		const char *h = at + 1;
		ok = ok && !strncmp(h, "sha256:", 7) && strlen(h + 7) == 64 &&
		     strspn(h + 7, "0123456789abcdef") == 64;
	}
	if (ok && colon && (!slash || colon > slash)) {
		/* the tag */
		size_t tl = strlen(colon + 1);
		ok = tl >= 1 && tl <= 128 && colon[1] != '.' && colon[1] != '-';
		for (size_t i = 1; ok && colon[i]; i++)
			ok = name_char(colon[i], "_.-");
		*colon = '\0';
	}
	/* the components; the first may be a registry host with a port */
	char *save = NULL, *first = ref;
	for (char *c = strtok_r(ref, "/", &save); ok && c; c = strtok_r(NULL, "/", &save)) {
		if (c == first && strchr(s, '/') && (strchr(c, '.') || strchr(c, ':'))) {
			ok = host_ok(c) || host_port_ok(c);
			continue;
		}
		ok = c[0] && isalnum((unsigned char)c[0]);
		for (size_t i = 0; ok && c[i]; i++)
			ok = (islower((unsigned char)c[i]) || isdigit((unsigned char)c[i]) ||
			      strchr("._-", c[i])) &&
			     isascii((unsigned char)c[i]);
	}
	free(ref);
	return ok && !strstr(s, "//") && s[0] != '/' && s[strlen(s) - 1] != '/';
}

static bool bool_ok(const char *s)
{
	static const char *const words[] = {"true", "false", "yes",   "no", "on",
	                                    "off",  "True",  "False", "0",  "1"};

	for (size_t i = 0; i < PV_ARRAY_SIZE(words); i++)
		if (!strcmp(s, words[i]))
			return true;
	return false;
}

/* The first word of s (up to whitespace or a control character), when it differs. */
static char *first_word(const char *s)
{
	size_t n = 0;

	while (s[n] && (unsigned char)s[n] > 0x20 && s[n] != 0x7f)
		n++;
	return n && s[n] ? xstrndup(s, n) : NULL;
}

static bool scalar_ok(const struct vartype *t, const char *s, char **near)
{
	long long v;

	switch (t->kind) {
	case VT_STRING:
		return !has_ctl(s, t->multiline);
	case VT_INT:
		if (!parse_ll(s, &v) || strlen(s) > 18)
			return false;
		if ((t->has_min && v < t->min) || (t->has_max && v > t->max)) {
			*near = xasprintf("%lld", t->has_min && v < t->min ? t->min : t->max);
			return false;
		}
		return true;
	case VT_BOOL:
		return bool_ok(s);
	case VT_ENUM:
		return false; /* the values were tried already */
	case VT_NAME:
		return name_ok(s);
	case VT_USER:
		return user_ok(s);
	case VT_PORT:
		if (digits(s) && strlen(s) <= 9 && parse_ll(s, &v)) {
			if (v < 1 || v > 65535)
				*near = xstrdup(v < 1 ? "1" : "65535");
		}
		return port_ok(s, NULL);
	case VT_PORT_PROTO:
		return port_proto_ok(s);
	case VT_RULE:
		return rule_ok(s, near);
	case VT_IPV4:
		return ip_ok(s, 4);
	case VT_IPV6:
		return ip_ok(s, 6);
	case VT_IP:
		return ip_ok(s, 0);
	case VT_CIDR:
		return cidr_ok(s, true, near);
	case VT_HOST:
		return host_ok(s);
	case VT_HOST_PORT:
		return host_port_ok(s);
	case VT_EMAIL:
		return email_ok(s);
	case VT_URL:
		return url_ok(t, s);
	case VT_PATH:
		return path_ok(s);
	case VT_DURATION:
		return duration_ok(s);
	case VT_SIZE:
		return size_ok(s);
	case VT_IMAGE:
		return image_ok(s);
	case VT_SECRET:
	case VT_VOLUME:
		return name_ok(s);
	default:
		return false;
	}
}

bool vartype_is_volume(const struct vartype *t)
{
	return t && t->kind == VT_VOLUME;
}

bool vartype_is_rule_list(const struct vartype *t)
{
	return t && t->kind == VT_LIST && t->of && t->of->kind == VT_RULE;
}

bool vartype_text_ok(const char *type, const char *text)
{
	struct vartype t = {0};
	char *near = NULL;
	bool found = false, ok;

	for (size_t i = 0; i < PV_ARRAY_SIZE(kinds) && !found; i++)
		if (!strcmp(type, kinds[i].name)) {
			t.kind = (enum vt_kind)i;
			found = true;
		}
	if (!found || t.kind == VT_LIST || t.kind == VT_MAP || t.kind == VT_ENUM)
		return false;
	ok = scalar_ok(&t, text, &near);
	free(near);
	return ok;
}

/* ---- checking a value ---- */

struct check {
	const struct scope *secrets;
	struct diags *d;
	int problems;
};

/* "variable 'x'", or name itself when it already says what it is ("key 'x' of ..."). */
static char *subject(const char *name)
{
	return strchr(name, ' ') ? xstrdup(name) : xasprintf("variable '%s'", name);
}

static void problem(struct check *c, const struct node *v, const struct vartype *t,
                    const char *name, const char *near)
{
	struct buf want = BUF_INIT;
	char *subj = subject(name);

	vartype_describe(t, &want);
	if (v->secret) {
		diags_add(c->d, &v->pos,
		          "%s must be %s; its value comes from a secret and is not "
		          "shown",
		          subj, want.s);
	} else if (v->kind != NODE_SCALAR) {
		diags_add(c->d, &v->pos, "%s must be %s, not %s", subj, want.s, node_kind_name(v));
	} else {
		char *s = shown(v->scalar);
		char *n = near ? shown(near) : NULL;
		if (n)
			diags_add(c->d, &v->pos,
			          "%s must be %s, not '%s' (nearest valid value: '%s')", subj,
			          want.s, s, n);
		else
			diags_add(c->d, &v->pos, "%s must be %s, not '%s'", subj, want.s, s);
		free(s);
		free(n);
	}
	c->problems++;
	free(subj);
	buf_release(&want);
}

static void check_secret_value(struct check *c, const struct vartype *t, const struct node *v,
                               const char *name)
{
	const struct node *sv = c->secrets ? scope_get(c->secrets, v->scalar) : NULL;

	if (!c->secrets)
		return;
	if (!sv) {
		const char **names = xcalloc(c->secrets->n + 1, sizeof(*names));
		for (size_t i = 0; i < c->secrets->n; i++)
			names[i] = c->secrets->names[i];
		const char *near = pv_nearest(v->scalar, names, c->secrets->n);
		char *s = shown(v->scalar);
		if (near)
			diags_add(c->d, &v->pos,
			          "variable '%s' names secret '%s', which the inventory does not "
			          "declare (did you mean '%s'?)",
			          name, s, near);
		else
			diags_add(c->d, &v->pos,
			          "variable '%s' names secret '%s', which the inventory does not "
			          "declare under 'secrets'",
			          name, s);
		free(s);
		free(names);
		c->problems++;
		return;
	}
	if (sv->kind == NODE_SCALAR && has_ctl(sv->scalar, t->multiline)) {
		diags_add(c->d, &sv->pos,
		          "secret '%s' (variable '%s') must be a single line without control "
		          "characters; its value is not shown",
		          v->scalar, name);
		c->problems++;
	}
}

static void check_value(struct check *c, const struct vartype *t, const struct node *v,
                        const char *name)
{
	if (t->kind == VT_LIST) {
		if (v->kind != NODE_SEQ) {
			problem(c, v, t, name, NULL);
			return;
		}
		if (t->has_max && (long long)v->n > t->max) {
			diags_add(c->d, &v->pos, "variable '%s' holds %zu items; at most %lld",
			          name, v->n, t->max);
			c->problems++;
		}
		for (size_t i = 0; i < v->n; i++) {
			char *sub = xasprintf("%s[%zu]", name, i);
			check_value(c, t->of, v->items[i], sub);
			free(sub);
		}
		return;
	}
	if (t->kind == VT_MAP) {
		if (v->kind != NODE_MAP) {
			problem(c, v, t, name, NULL);
			return;
		}
		for (size_t i = 0; i < v->n; i++) {
			size_t k = 0;
			while (k < t->n_keys && strcmp(t->keys[k], v->keys[i]))
				k++;
			if (k == t->n_keys) {
				const char *near =
				    pv_nearest(v->keys[i], (const char *const *)t->keys, t->n_keys);
				char *s = shown(v->keys[i]);
				if (near)
					diags_add(c->d, &v->key_pos[i],
					          "unknown key '%s' in variable '%s' (did you mean "
					          "'%s'?)",
					          s, name, near);
				else
					diags_add(c->d, &v->key_pos[i],
					          "unknown key '%s' in variable '%s'", s, name);
				free(s);
				c->problems++;
				continue;
			}
			char *sub = xasprintf("%s.%s", name, t->keys[k]);
			check_value(c, t->key_types[k], v->items[i], sub);
			free(sub);
		}
		for (size_t k = 0; k < t->n_keys; k++)
			if (t->key_required[k] && !node_get(v, t->keys[k])) {
				diags_add(c->d, &v->pos, "variable '%s' needs key '%s'", name,
				          t->keys[k]);
				c->problems++;
			}
		return;
	}
	if (v->kind != NODE_SCALAR) {
		problem(c, v, t, name, NULL);
		return;
	}
	const char *s = v->scalar;
	for (size_t i = 0; i < t->n_values; i++)
		if (!strcmp(s, t->values[i]))
			return;
	if (!*s && t->empty_ok)
		return;
	char *near = NULL;
	if (scalar_ok(t, s, &near)) {
		if (t->kind == VT_SECRET)
			check_secret_value(c, t, v, name);
		return;
	}
	if (!v->secret && !near) {
		/* a value with something glued on: its first word may be what was meant */
		char *w = first_word(s);
		char *dummy = NULL;
		/* an address written with a prefix or more: the address */
		const char *slash = strchr(s, '/');
		if (slash && (t->kind == VT_IP || t->kind == VT_IPV4 || t->kind == VT_IPV6 ||
		              t->kind == VT_HOST)) {
			free(w);
			w = xstrndup(s, (size_t)(slash - s));
		}
		if (w && t->kind != VT_STRING && (scalar_ok(t, w, &dummy) || t->n_values)) {
			near = w;
			w = NULL;
		}
		free(dummy);
		free(w);
		if (t->n_values && (!near || t->kind == VT_ENUM)) {
			char *probe = xstrndup(near ? near : s, 64);
			const char *e =
			    pv_nearest(probe, (const char *const *)t->values, t->n_values);
			free(near);
			near = e ? xstrdup(e) : NULL;
			free(probe);
		}
	}
	problem(c, v, t, name, v->secret ? NULL : near);
	free(near);
}

int vartype_check(const struct vartype *t, const struct node *v, const char *name,
                  const struct scope *secrets, struct diags *d)
{
	struct check c = {secrets, d, 0};

	check_value(&c, t, v, name);
	return c.problems;
}

/*
 * The short form "name: default" of a project role: a string (line breaks
 * only when the default has one), or a list of strings.
 */
static bool infer(struct var_decl *out, const struct node *dflt)
{
	struct vartype *t = xcalloc(1, sizeof(*t));

	t->kind = VT_STRING;
	if (dflt->kind == NODE_SCALAR) {
		t->multiline = strchr(dflt->scalar, '\n') != NULL;
	} else if (dflt->kind == NODE_SEQ) {
		for (size_t i = 0; i < dflt->n; i++)
			if (dflt->items[i]->kind != NODE_SCALAR) {
				free(t);
				return false;
			}
		t->of = xcalloc(1, sizeof(*t->of));
		t->of->kind = VT_STRING;
		t->kind = VT_LIST;
	} else {
		free(t);
		return false;
	}
	out->type = t;
	out->dflt = dflt;
	out->inferred = true;
	return true;
}

int var_decl_parse(struct var_decl *out, const char *name, const struct pos *name_pos,
                   const struct node *decl, const char *where, struct diags *d)
{
	const struct node *v;

	memset(out, 0, sizeof(*out));
	if (decl->kind == NODE_MAP && node_get(decl, "type")) {
		if (parse_type(&out->type, decl, where, true, d) < 0)
			return -1;
		if ((v = node_get(decl, "doc")) && v->kind == NODE_SCALAR)
			out->doc = xstrdup(v->scalar);
		if ((v = node_get(decl, "layout")) &&
		    (node_to_bool(v, &out->per_layout, "'layout' of a variable", d) < 0 ||
		     (out->per_layout && !vartype_is_scalar(out->type)))) {
			if (out->per_layout)
				diags_add(
				    d, &v->pos,
				    "%s: 'layout: true' needs a scalar type (one value to compare)",
				    where);
			vartype_free(out->type);
			out->type = NULL;
			free(out->doc);
			out->doc = NULL;
			return -1;
		}
		out->dflt = node_get(decl, "default");
	} else if (!infer(out, decl)) {
		diags_add(d, &decl->pos,
		          "%s must be declared as { type: ..., default: ..., doc: ... } (see "
		          "'provision roles')",
		          where);
		return -1;
	}
	out->name = xstrdup(name);
	out->pos = *name_pos;
	if (out->dflt && out->dflt->kind == NODE_SCALAR && !*out->dflt->scalar)
		out->type->empty_ok = true;
	if (out->dflt && !node_is_null(out->dflt) &&
	    vartype_check(out->type, out->dflt, name, NULL, d)) {
		var_decl_release(out);
		return -1;
	}
	return 0;
}

void var_decl_release(struct var_decl *v)
{
	free(v->name);
	free(v->doc);
	vartype_free(v->type);
	memset(v, 0, sizeof(*v));
}

void vartype_check_keys(const struct node *map, const struct node *types, const char *of,
                        struct diags *d)
{
	for (size_t i = 0; types && i < types->n; i++) {
		const struct node *v = node_get(map, types->keys[i]);
		struct vartype *t = NULL;
		if (!v || vartype_parse(&t, types->items[i], types->keys[i], d) < 0)
			continue;
		char *name = xasprintf("'%s' %s", types->keys[i], of);
		vartype_check(t, v, name, NULL, d);
		free(name);
		vartype_free(t);
	}
}

bool vartype_is_scalar(const struct vartype *t)
{
	return t && t->kind != VT_LIST && t->kind != VT_MAP;
}

/* "true", "yes", "on", "True", "1" */
static bool truthy(const char *s)
{
	return !strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on") || !strcmp(s, "True") ||
	       !strcmp(s, "1");
}

bool vartype_same(const struct vartype *t, const struct node *a, const struct node *b)
{
	if (!a || !b || node_is_null(a) || node_is_null(b))
		return (!a || node_is_null(a)) == (!b || node_is_null(b));
	if (a->kind != NODE_SCALAR || b->kind != NODE_SCALAR)
		return false;
	if (t && t->kind == VT_BOOL)
		return truthy(a->scalar) == truthy(b->scalar);
	return !strcmp(a->scalar, b->scalar);
}

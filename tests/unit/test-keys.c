/*
 * test-keys.c - generated keys checked by OpenSSH's own ssh-keygen, and the
 * known_hosts file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "provision/common.h"
#include "provision/keys.h"

static char tmpdir[] = "/tmp/test-keys.XXXXXX";

/* First line of a command's stdout, without the newline; NULL when it failed. */
static char *run_line(const char *fmt, const char *arg)
{
	char cmd[1024], line[4096];
	FILE *p;
	int st;

	snprintf(cmd, sizeof(cmd), fmt, arg);
	p = popen(cmd, "r");
	if (!p)
		return NULL;
	if (!fgets(line, sizeof(line), p))
		line[0] = '\0';
	st = pclose(p);
	if (st != 0 || !line[0])
		return NULL;
	line[strcspn(line, "\n")] = '\0';
	return xstrdup(line);
}

static char *tpath(const char *name)
{
	return pv_path_join(tmpdir, name);
}

static char *slurp(const char *path)
{
	char *s = NULL;
	size_t len;
	struct pv_error err;

	if (pv_read_file(path, &s, &len, 0, &err) < 0)
		return NULL;
	return s;
}

/* "type base64" part of a public key line. */
static char *key_part(const char *line)
{
	const char *sp = strchr(line, ' ');
	const char *sp2 = sp ? strchr(sp + 1, ' ') : NULL;

	return sp2 ? xstrndup(line, (size_t)(sp2 - line)) : xstrdup(line);
}

static void test_keygen_format(void)
{
	struct pv_error err = {{0}};
	char *pem = NULL, *pub = NULL;

	CHECK(keygen_ed25519(&pem, &pub, "me@example", &err) == 0);
	CHECK(pem && strncmp(pem, "-----BEGIN OPENSSH PRIVATE KEY-----\n", 36) == 0);
	CHECK(pem && strstr(pem, "\n-----END OPENSSH PRIVATE KEY-----\n"));
	CHECK(pub && strncmp(pub, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI", 37) == 0);
	CHECK(pub && strlen(pub) > 20 && strcmp(pub + strlen(pub) - 11, " me@example") == 0);
	/* body lines are wrapped at 70 columns */
	if (pem) {
		const char *p = strchr(pem, '\n') + 1;
		size_t first = strcspn(p, "\n");
		CHECK(first == 70);
	}
	pv_free_secret(pem);
	free(pub);

	/* two keys differ */
	char *pem2 = NULL, *pub2 = NULL, *pub3 = NULL;
	CHECK(keygen_ed25519(&pem, &pub2, NULL, &err) == 0);
	pv_free_secret(pem);
	CHECK(keygen_ed25519(&pem2, &pub3, "", &err) == 0);
	CHECK(pub2 && pub3 && strcmp(pub2, pub3) != 0);
	CHECK(pub2 && strchr(pub2, ' ') == strrchr(pub2, ' ')); /* no comment */
	pv_free_secret(pem2);
	free(pub2);
	free(pub3);
}

static void test_ssh_keygen_reads_it(void)
{
	struct pv_error err = {{0}};
	char *path = tpath("sub/dir/id_ed25519");
	char *pubpath = xasprintf("%s.pub", path);
	char *pubfile = NULL, *derived = NULL, *fp_tool = NULL, *fp = NULL, *line = NULL;
	struct stat st;

	CHECK(key_ensure_file(path, "tool@test", &err) == 0);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600);
	CHECK(stat(pubpath, &st) == 0 && (st.st_mode & 07777) == 0644);
	char *dir = tpath("sub/dir");
	CHECK(stat(dir, &st) == 0 && (st.st_mode & 07777) == 0700);
	free(dir);

	pubfile = slurp(pubpath);
	CHECK(pubfile && pubfile[strlen(pubfile) - 1] == '\n');
	if (pubfile)
		pubfile[strcspn(pubfile, "\n")] = '\0';

	/* ssh-keygen derives the public key from our private key file */
	derived = run_line("ssh-keygen -y -f '%s' 2>&1", path);
	CHECK(derived != NULL);
	if (derived && pubfile) {
		char *a = key_part(derived), *b = key_part(pubfile);
		CHECK_STR(a, b);
		free(a);
		free(b);
		CHECK_HAS(derived, "tool@test");
	}

	/* fingerprint as ssh-keygen -l prints it: "256 SHA256:... comment (ED25519)" */
	fp_tool = run_line("ssh-keygen -l -f '%s.pub' 2>&1", path);
	CHECK(pubfile && key_fingerprint(pubfile, &fp, &err) == 0);
	CHECK(fp_tool && fp && strncmp(fp_tool, "256 ", 4) == 0);
	if (fp_tool && fp) {
		char *tf = fp_tool + 4;
		tf[strcspn(tf, " ")] = '\0';
		CHECK_STR(fp, tf);
	}

	/* key_public_from_file: through .pub, and from the private file alone */
	CHECK(key_public_from_file(path, &line, &err) == 0);
	CHECK_STR(line, pubfile);
	free(line);
	line = NULL;
	CHECK(unlink(pubpath) == 0);
	CHECK(key_public_from_file(path, &line, &err) == 0);
	CHECK_STR(line, pubfile);
	free(line);

	free(path);
	free(pubpath);
	free(pubfile);
	free(derived);
	free(fp_tool);
	free(fp);
}

static void test_ensure_idempotent(void)
{
	struct pv_error err = {{0}};
	char *path = tpath("id_again");
	char *a, *b, *pa, *pb, *pubpath = xasprintf("%s.pub", path);

	CHECK(key_ensure_file(path, "x", &err) == 0);
	a = slurp(path);
	pa = slurp(pubpath);
	CHECK(key_ensure_file(path, "x", &err) == 0);
	b = slurp(path);
	pb = slurp(pubpath);
	CHECK(a && b && strcmp(a, b) == 0);
	CHECK(pa && pb && strcmp(pa, pb) == 0);
	pv_free_secret(a);
	pv_free_secret(b);
	free(pa);
	free(pb);
	free(pubpath);
	free(path);
}

/*
 * A layout CA key: made once (0600, in a new 0700 directory), the same on
 * the next call, and its public half is what openssl derives from it.
 */
static void test_ca_key(void)
{
	struct pv_error err = {{0}};
	char *path = tpath("ca/env/layout.pem");
	char *priv = NULL, *pub = NULL, *priv2 = NULL, *pub2 = NULL, *want;
	struct stat sb;

	CHECK(ca_key_ensure_file(path, &priv, &pub, &err) == 0);
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	char *dir = tpath("ca/env");
	CHECK(stat(dir, &sb) == 0 && (sb.st_mode & 0777) == 0700);
	free(dir);
	CHECK_HAS(priv, "-----BEGIN PRIVATE KEY-----");
	CHECK_HAS(pub, "-----BEGIN PUBLIC KEY-----");
	want = run_line("openssl pkey -in '%s' -pubout | sed -n 2p", path);
	CHECK(want && strstr(pub, want));
	free(want);
	CHECK(ca_key_ensure_file(path, &priv2, &pub2, &err) == 0);
	CHECK(priv && priv2 && !strcmp(priv, priv2));
	CHECK(pub && pub2 && !strcmp(pub, pub2));
	pv_free_secret(priv);
	pv_free_secret(priv2);
	free(pub);
	free(pub2);

	/* not a key of the kind: refused, naming the file */
	char *bad = tpath("ca/env/bad.pem");
	CHECK(pv_write_file_atomic(bad, "junk\n", 5, 0600, &err) == 0);
	CHECK(ca_key_ensure_file(bad, &priv, &pub, &err) < 0);
	CHECK_HAS(err.msg, "is not an ed25519 private key");
	CHECK(!priv && !pub);
	free(bad);
	free(path);
}

static void test_other_key_types(void)
{
	struct pv_error err = {{0}};
	char *rsa = tpath("id_rsa"), *pem = tpath("id_pem"), *line = NULL, *tool = NULL;
	char *fp = NULL, *fp_tool = NULL, *cmd;

	/* an OpenSSH-format RSA key: the public blob is read from the file */
	cmd = xasprintf("ssh-keygen -q -t rsa -b 2048 -N '' -C rsa@test -f '%s'", rsa);
	CHECK(system(cmd) == 0);
	free(cmd);
	char *rsapub = xasprintf("%s.pub", rsa);
	CHECK(key_public_from_file(rsa, &line, &err) == 0);
	CHECK_HAS(line, "ssh-rsa AAAA");
	CHECK_HAS(line, " rsa@test");
	free(line);
	line = NULL;
	tool = run_line("ssh-keygen -y -f '%s'", rsa);
	unlink(rsapub);
	CHECK(key_public_from_file(rsa, &line, &err) == 0);
	if (line && tool) {
		char *a = key_part(line), *b = key_part(tool);
		CHECK_STR(a, b);
		free(a);
		free(b);
	}
	fp_tool = run_line("ssh-keygen -l -f '%s' 2>&1", rsa);
	CHECK(line && key_fingerprint(line, &fp, &err) == 0);
	CHECK(fp && fp_tool && strstr(fp_tool, fp));
	free(line);
	free(tool);
	free(fp);
	free(fp_tool);
	free(rsapub);

	/* a PEM (not OpenSSH format) key without .pub: a clear error */
	cmd =
	    xasprintf("ssh-keygen -q -t rsa -b 2048 -m PEM -N '' -f '%s' && rm '%s.pub'", pem, pem);
	CHECK(system(cmd) == 0);
	free(cmd);
	line = NULL;
	CHECK(key_public_from_file(pem, &line, &err) == -1);
	CHECK(line == NULL);
	CHECK_HAS(err.msg, "is not an OpenSSH private key");
	CHECK_HAS(err.msg, pem);

	char *missing = tpath("nope");
	CHECK(key_public_from_file(missing, &line, &err) == -1);
	CHECK_HAS(err.msg, "nope");
	free(missing);

	CHECK(key_fingerprint("ssh-ed25519 !!!notbase64", &fp, &err) == -1);
	CHECK_HAS(err.msg, "malformed public key");
	CHECK(key_fingerprint("ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIBhY", &fp, &err) == -1);
	free(rsa);
	free(pem);
}

static void test_known_hosts(void)
{
	struct pv_error err = {{0}};
	char *kh = tpath("state/known_hosts");
	char *k1 = NULL, *k2 = NULL, *k3 = NULL, *pem = NULL, *got = NULL, *text, *cmd, *out;
	struct stat st;

	CHECK(keygen_ed25519(&pem, &k1, "one", &err) == 0);
	pv_free_secret(pem);
	CHECK(keygen_ed25519(&pem, &k2, "two", &err) == 0);
	pv_free_secret(pem);
	CHECK(keygen_ed25519(&pem, &k3, NULL, &err) == 0);
	pv_free_secret(pem);

	/* missing file: no entry */
	CHECK(known_hosts_lookup(kh, "10.0.0.1", 22, &got, &err) == 1);
	CHECK(got == NULL);
	CHECK(known_hosts_forget(kh, "10.0.0.1", 22, &err) == 0);

	CHECK(known_hosts_pin(kh, "10.0.0.1", 22, k1, &err) == 0);
	CHECK(stat(kh, &st) == 0 && (st.st_mode & 07777) == 0600);
	CHECK(known_hosts_pin(kh, "10.0.0.1", 2222, k2, &err) == 0);

	char *p1 = key_part(k1), *p2 = key_part(k2);
	CHECK(known_hosts_lookup(kh, "10.0.0.1", 22, &got, &err) == 0);
	CHECK_STR(got, p1);
	free(got);
	CHECK(known_hosts_lookup(kh, "10.0.0.1", 2222, &got, &err) == 0);
	CHECK_STR(got, p2);
	free(got);
	CHECK(known_hosts_lookup(kh, "10.0.0.1", 2223, &got, &err) == 1);
	CHECK(known_hosts_lookup(kh, "10.0.0.10", 22, &got, &err) == 1);

	/* exact file format, and OpenSSH's own lookup agrees */
	text = slurp(kh);
	char *want = xasprintf("10.0.0.1 %s\n[10.0.0.1]:2222 %s\n", p1, p2);
	CHECK_STR(text, want);
	free(want);
	free(text);
	cmd = xasprintf("ssh-keygen -F '[10.0.0.1]:2222' -f '%s' | grep -v '^#'", kh);
	out = run_line("%s", cmd);
	free(cmd);
	CHECK(out && strstr(out, p2 + strlen("ssh-ed25519 ")));
	free(out);

	/* pin replaces; other lines (and comments, shared lines) survive */
	text = xasprintf("# kept\n%s\nother.example,10.0.0.1 %s\n", "9.9.9.9 ssh-ed25519 AAAA", p2);
	struct pv_error e2;
	CHECK(pv_write_file_atomic(kh, text, strlen(text), 0600, &e2) == 0);
	free(text);
	CHECK(known_hosts_lookup(kh, "10.0.0.1", 22, &got, &err) == 0);
	CHECK_STR(got, p2);
	free(got);
	CHECK(known_hosts_lookup(kh, "OTHER.example", 22, &got, &err) == 0);
	free(got);
	CHECK(known_hosts_pin(kh, "10.0.0.1", 22, k3, &err) == 0);
	CHECK(known_hosts_lookup(kh, "10.0.0.1", 22, &got, &err) == 0);
	CHECK_STR(got, k3);
	free(got);
	text = slurp(kh);
	want =
	    xasprintf("# kept\n9.9.9.9 ssh-ed25519 AAAA\nother.example %s\n10.0.0.1 %s\n", p2, k3);
	CHECK_STR(text, want);
	free(want);
	free(text);

	/* forget removes only that host and port */
	CHECK(known_hosts_pin(kh, "10.0.0.1", 2222, k1, &err) == 0);
	CHECK(known_hosts_forget(kh, "10.0.0.1", 22, &err) == 0);
	CHECK(known_hosts_lookup(kh, "10.0.0.1", 22, &got, &err) == 1);
	CHECK(known_hosts_lookup(kh, "10.0.0.1", 2222, &got, &err) == 0);
	CHECK_STR(got, p1);
	free(got);
	CHECK(known_hosts_forget(kh, "10.0.0.1", 2222, &err) == 0);
	CHECK(known_hosts_lookup(kh, "10.0.0.1", 2222, &got, &err) == 1);

	/* bad input */
	CHECK(known_hosts_pin(kh, "10.0.0.2", 22, "not a key", &err) == -1);
	CHECK_HAS(err.msg, "malformed public key");
	CHECK(known_hosts_pin(kh, "a b", 22, k1, &err) == -1);
	CHECK_HAS(err.msg, "'a b'");

	free(p1);
	free(p2);
	free(k1);
	free(k2);
	free(k3);
	free(kh);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_keygen_format);
	RUN(test_ssh_keygen_reads_it);
	RUN(test_ensure_idempotent);
	RUN(test_ca_key);
	RUN(test_other_key_types);
	RUN(test_known_hosts);
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		printf("warning: cannot remove %s\n", tmpdir);
	free(cmd);
	return check_done("test-keys");
}

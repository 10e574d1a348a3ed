/*
 * keys.c - ed25519 keys in OpenSSH's own file format, fingerprints, and the
 * tool's known_hosts file.
 *
 * The private key file is "openssh-key-v1": a binary structure of SSH wire
 * strings (uint32 length + bytes), base64 encoded between PEM-like lines.
 * Keys made here are never encrypted (cipher and kdf "none").
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "provision/buf.h"
#include "provision/keys.h"

#define OPENSSH_MAGIC "openssh-key-v1" /* followed by its NUL in the file */
#define PEM_BEGIN "-----BEGIN OPENSSH PRIVATE KEY-----"
#define PEM_END "-----END OPENSSH PRIVATE KEY-----"
#define PEM_COLUMNS 70
#define ED25519_LEN 32
#define KEY_FILE_MAX ((size_t)1 << 20)

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void b64_encode(struct buf *out, const unsigned char *p, size_t n, bool pad)
{
	size_t i = 0;

	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		buf_addc(out, b64_alphabet[v >> 18 & 63]);
		buf_addc(out, b64_alphabet[v >> 12 & 63]);
		buf_addc(out, b64_alphabet[v >> 6 & 63]);
		buf_addc(out, b64_alphabet[v & 63]);
	}
	if (i < n) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
		buf_addc(out, b64_alphabet[v >> 18 & 63]);
		buf_addc(out, b64_alphabet[v >> 12 & 63]);
		if (i + 1 < n)
			buf_addc(out, b64_alphabet[v >> 6 & 63]);
		else if (pad)
			buf_addc(out, '=');
		if (pad)
			buf_addc(out, '=');
	}
}

/* Decode base64, skipping white space; -1 on anything else that is not base64. */
static int b64_decode(struct buf *out, const char *s, size_t n)
{
	uint32_t acc = 0;
	int bits = 0;
	bool padded = false;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		const char *at;

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (c == '=') {
			padded = true;
			continue;
		}
		if (padded || c == '\0' || !(at = strchr(b64_alphabet, c)))
			return -1;
		acc = (acc << 6 | (uint32_t)(at - b64_alphabet)) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf_addc(out, (char)(acc >> bits & 0xff));
		}
	}
	return 0;
}

static void put_u32(struct buf *b, uint32_t v)
{
	unsigned char p[4] = {v >> 24 & 0xff, v >> 16 & 0xff, v >> 8 & 0xff, v & 0xff};
	buf_add(b, p, 4);
}

static void put_string(struct buf *b, const void *p, size_t n)
{
	put_u32(b, (uint32_t)n);
	buf_add(b, p, n);
}

static void put_cstring(struct buf *b, const char *s)
{
	put_string(b, s, strlen(s));
}

/* A reader over SSH wire data. */
struct wire {
	const unsigned char *p;
	size_t n;
};

static int get_u32(struct wire *w, uint32_t *v)
{
	if (w->n < 4)
		return -1;
	*v = (uint32_t)w->p[0] << 24 | (uint32_t)w->p[1] << 16 | (uint32_t)w->p[2] << 8 | w->p[3];
	w->p += 4;
	w->n -= 4;
	return 0;
}

static int get_string(struct wire *w, const unsigned char **s, size_t *len)
{
	uint32_t n;

	if (get_u32(w, &n) < 0 || n > w->n)
		return -1;
	*s = w->p;
	*len = n;
	w->p += n;
	w->n -= n;
	return 0;
}

static bool wire_eq(const unsigned char *s, size_t len, const char *want)
{
	return len == strlen(want) && memcmp(s, want, len) == 0;
}

/* The one place OpenSSL errors become text. */
static int openssl_fail(struct pv_error *err, const char *what)
{
	unsigned long e = ERR_get_error();
	char msg[256] = "unknown error";

	if (e)
		ERR_error_string_n(e, msg, sizeof(msg));
	ERR_clear_error();
	return pv_error_set(err, "%s failed: %s", what, msg);
}

/* "type base64 comment" from a public key blob whose first string is its type. */
static int blob_to_line(char **line, const unsigned char *blob, size_t len, const char *comment)
{
	struct wire w = {blob, len};
	const unsigned char *type;
	size_t type_len;
	struct buf b = BUF_INIT;

	if (get_string(&w, &type, &type_len) < 0 || type_len == 0 || memchr(type, ' ', type_len) ||
	    memchr(type, '\0', type_len))
		return -1;
	buf_add(&b, type, type_len);
	buf_addc(&b, ' ');
	b64_encode(&b, blob, len, true);
	if (comment && *comment)
		buf_addf(&b, " %s", comment);
	*line = buf_detach(&b, NULL);
	return 0;
}

int keygen_ed25519(char **private_pem, char **public_line, const char *comment,
                   struct pv_error *err)
{
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	unsigned char seed[ED25519_LEN], pub[ED25519_LEN];
	size_t len;
	uint32_t check = 0;
	struct buf pubblob = BUF_INIT, priv = BUF_INIT, file = BUF_INIT, b64 = BUF_INIT,
	           pem = BUF_INIT;
	int rc = -1;

	*private_pem = NULL;
	*public_line = NULL;
	if (!comment)
		comment = "";

	ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_keygen(ctx, &pkey) <= 0) {
		openssl_fail(err, "generating an ed25519 key");
		goto out;
	}
	len = sizeof(seed);
	if (EVP_PKEY_get_raw_private_key(pkey, seed, &len) <= 0 || len != sizeof(seed)) {
		openssl_fail(err, "reading the new ed25519 private key");
		goto out;
	}
	len = sizeof(pub);
	if (EVP_PKEY_get_raw_public_key(pkey, pub, &len) <= 0 || len != sizeof(pub)) {
		openssl_fail(err, "reading the new ed25519 public key");
		goto out;
	}
	if (RAND_bytes((unsigned char *)&check, sizeof(check)) != 1) {
		openssl_fail(err, "drawing random bytes");
		goto out;
	}

	put_cstring(&pubblob, "ssh-ed25519");
	put_string(&pubblob, pub, sizeof(pub));

	/* The private section: check ints, the key, its comment, padding to 8. */
	put_u32(&priv, check);
	put_u32(&priv, check);
	put_cstring(&priv, "ssh-ed25519");
	put_string(&priv, pub, sizeof(pub));
	put_u32(&priv, 2 * ED25519_LEN);
	buf_add(&priv, seed, sizeof(seed));
	buf_add(&priv, pub, sizeof(pub));
	put_cstring(&priv, comment);
	for (char pad = 1; priv.len % 8; pad++)
		buf_addc(&priv, pad);

	buf_add(&file, OPENSSH_MAGIC, sizeof(OPENSSH_MAGIC));
	put_cstring(&file, "none");
	put_cstring(&file, "none");
	put_cstring(&file, "");
	put_u32(&file, 1);
	put_string(&file, pubblob.s, pubblob.len);
	put_string(&file, priv.s, priv.len);

	b64_encode(&b64, (const unsigned char *)file.s, file.len, true);
	buf_adds(&pem, PEM_BEGIN "\n");
	for (size_t i = 0; i < b64.len; i += PEM_COLUMNS) {
		size_t n = b64.len - i < PEM_COLUMNS ? b64.len - i : PEM_COLUMNS;
		buf_add(&pem, b64.s + i, n);
		buf_addc(&pem, '\n');
	}
	buf_adds(&pem, PEM_END "\n");

	if (blob_to_line(public_line, (const unsigned char *)pubblob.s, pubblob.len, comment) < 0) {
		pv_error_set(err, "encoding the new public key failed");
		goto out;
	}
	*private_pem = buf_detach(&pem, NULL);
	rc = 0;
out:
	pv_wipe(seed, sizeof(seed));
	pv_wipe(&check, sizeof(check));
	buf_release(&pubblob);
	buf_wipe(&priv);
	buf_wipe(&file);
	buf_wipe(&b64);
	buf_wipe(&pem);
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

/* Create the directory that will hold path, if path has one. */
static int ensure_parent(const char *path, int mode, struct pv_error *err)
{
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	int rc = 0;

	if (slash && slash != dir) {
		*slash = '\0';
		rc = pv_mkdir_p(dir, mode, err);
	}
	free(dir);
	return rc;
}

int key_ensure_file(const char *path, const char *comment, struct pv_error *err)
{
	struct stat st;
	char *pem = NULL, *line = NULL, *pubpath = NULL, *pubtext = NULL;
	int rc = -1;

	if (lstat(path, &st) == 0)
		return 0;
	if (errno != ENOENT)
		return pv_error_set(err, "cannot check key file '%s': %s", path, strerror(errno));
	if (ensure_parent(path, 0700, err) < 0)
		return -1;
	if (keygen_ed25519(&pem, &line, comment, err) < 0)
		goto out;
	/* Each half written under a temporary name, then renamed; the public
	 * half first: a crash in between leaves no private key, so the next run
	 * starts over instead of keeping a stale .pub.  Callers hold the run
	 * lock, so two first runs never interleave their halves. */
	pubpath = xasprintf("%s.pub", path);
	pubtext = xasprintf("%s\n", line);
	if (pv_write_file_atomic(pubpath, pubtext, strlen(pubtext), 0644, err) < 0 ||
	    pv_write_file_atomic(path, pem, strlen(pem), 0600, err) < 0)
		goto out;
	rc = 0;
out:
	pv_free_secret(pem);
	free(line);
	free(pubpath);
	free(pubtext);
	return rc;
}

/* pem (PKCS#8) as the key's private and public PEM texts. */
static int ca_key_parse(const char *pem, size_t len, const char *path, char **private_pem,
                        char **public_pem, struct pv_error *err)
{
	BIO *in = BIO_new_mem_buf(pem, (int)len), *out = BIO_new(BIO_s_mem());
	EVP_PKEY *pkey = in ? PEM_read_bio_PrivateKey(in, NULL, NULL, NULL) : NULL;
	char *p;
	long n;
	int rc = -1;

	if (!pkey || EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) {
		ERR_clear_error();
		pv_error_set(err, "'%s' is not an ed25519 private key", path);
		goto out;
	}
	if (!out || PEM_write_bio_PUBKEY(out, pkey) != 1 || (n = BIO_get_mem_data(out, &p)) <= 0) {
		openssl_fail(err, "writing the certificate authority's public key");
		goto out;
	}
	*public_pem = xstrndup(p, (size_t)n);
	*private_pem = xstrndup(pem, len);
	rc = 0;
out:
	EVP_PKEY_free(pkey);
	BIO_free(in);
	BIO_free(out);
	return rc;
}

int ca_key_ensure_file(const char *path, char **private_pem, char **public_pem,
                       struct pv_error *err)
{
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	BIO *out = NULL;
	char *text = NULL, *p;
	size_t len = 0;
	long n;
	int rc = -1;

	*private_pem = *public_pem = NULL;
	if (access(path, F_OK) != 0) {
		if (errno != ENOENT)
			return pv_error_set(err, "cannot check key file '%s': %s", path,
			                    strerror(errno));
		if (ensure_parent(path, 0700, err) < 0)
			return -1;
		ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
		out = BIO_new(BIO_s_mem());
		if (!ctx || !out || EVP_PKEY_keygen_init(ctx) <= 0 ||
		    EVP_PKEY_keygen(ctx, &pkey) <= 0 ||
		    PEM_write_bio_PrivateKey(out, pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
		    (n = BIO_get_mem_data(out, &p)) <= 0) {
			openssl_fail(err, "generating the certificate authority's key");
			goto out;
		}
		if (pv_write_file_atomic(path, p, (size_t)n, 0600, err) < 0)
			goto out;
	}
	if (pv_read_file(path, &text, &len, KEY_FILE_MAX, err) < 0)
		goto out;
	rc = ca_key_parse(text, len, path, private_pem, public_pem, err);
out:
	if (out) {
		long m = BIO_get_mem_data(out, &p);
		if (m > 0)
			OPENSSL_cleanse(p, (size_t)m);
		BIO_free(out);
	}
	pv_free_secret(text);
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

/* Split "type base64 [comment]" and decode the blob, which must start with type. */
static int parse_public_line(const char *line, struct buf *blob, size_t *type_len)
{
	const char *type, *b64;
	size_t tlen, blen;
	struct wire w;
	const unsigned char *inner;
	size_t inner_len;

	type = line + strspn(line, " \t");
	tlen = strcspn(type, " \t\r\n");
	b64 = type + tlen;
	b64 += strspn(b64, " \t");
	blen = strcspn(b64, " \t\r\n");
	if (tlen == 0 || blen == 0 || b64_decode(blob, b64, blen) < 0)
		return -1;
	w.p = (const unsigned char *)blob->s;
	w.n = blob->len;
	if (get_string(&w, &inner, &inner_len) < 0 || inner_len != tlen ||
	    memcmp(inner, type, tlen) != 0)
		return -1;
	if (type_len)
		*type_len = tlen;
	return 0;
}

/* "type base64" of a public key line, without its comment. */
static int public_key_part(const char *line, char **out)
{
	struct buf blob = BUF_INIT;
	const unsigned char *p;
	int rc;

	if (parse_public_line(line, &blob, NULL) < 0) {
		buf_release(&blob);
		return -1;
	}
	p = (const unsigned char *)blob.s;
	rc = blob_to_line(out, p, blob.len, NULL);
	buf_release(&blob);
	return rc;
}

/* Public key line from the public section of an OpenSSH private key file. */
static int public_from_private(const char *path, const char *data, char **line,
                               struct pv_error *err)
{
	const char *begin, *end;
	struct buf dec = BUF_INIT;
	struct wire w, pw;
	const unsigned char *magic, *cipher, *kdf, *kdfopt, *pub, *priv, *s;
	size_t cipher_len, kdf_len, kdfopt_len, pub_len, priv_len, len;
	uint32_t nkeys, c1, c2;
	char *comment = NULL;
	int rc = -1;

	begin = strstr(data, PEM_BEGIN);
	if (!begin)
		return pv_error_set(
		    err, "'%s' is not an OpenSSH private key and '%s.pub' does not exist", path,
		    path);
	begin += strlen(PEM_BEGIN);
	end = strstr(begin, PEM_END);
	if (!end || b64_decode(&dec, begin, (size_t)(end - begin)) < 0) {
		pv_error_set(err, "private key '%s' is not valid base64", path);
		goto out;
	}
	w.p = (const unsigned char *)dec.s;
	w.n = dec.len;
	magic = w.p;
	if (w.n < sizeof(OPENSSH_MAGIC) || memcmp(magic, OPENSSH_MAGIC, sizeof(OPENSSH_MAGIC))) {
		pv_error_set(err, "private key '%s' does not start with '%s'", path, OPENSSH_MAGIC);
		goto out;
	}
	w.p += sizeof(OPENSSH_MAGIC);
	w.n -= sizeof(OPENSSH_MAGIC);
	if (get_string(&w, &cipher, &cipher_len) < 0 || get_string(&w, &kdf, &kdf_len) < 0 ||
	    get_string(&w, &kdfopt, &kdfopt_len) < 0 || get_u32(&w, &nkeys) < 0) {
		pv_error_set(err, "private key '%s' is truncated", path);
		goto out;
	}
	if (nkeys != 1) {
		pv_error_set(err,
		             "private key '%s' holds %u keys; only files with one are supported",
		             path, nkeys);
		goto out;
	}
	if (get_string(&w, &pub, &pub_len) < 0 || get_string(&w, &priv, &priv_len) < 0) {
		pv_error_set(err, "private key '%s' is truncated", path);
		goto out;
	}

	/* The comment lives in the private section; read it when it is in the clear. */
	pw.p = priv;
	pw.n = priv_len;
	if (wire_eq(cipher, cipher_len, "none") && get_u32(&pw, &c1) == 0 &&
	    get_u32(&pw, &c2) == 0) {
		if (c1 != c2) {
			pv_error_set(err, "private key '%s' is corrupt (check bytes differ)", path);
			goto out;
		}
		if (get_string(&pw, &s, &len) == 0 && wire_eq(s, len, "ssh-ed25519") &&
		    get_string(&pw, &s, &len) == 0 && get_string(&pw, &s, &len) == 0 &&
		    get_string(&pw, &s, &len) == 0 && !memchr(s, '\n', len) &&
		    !memchr(s, '\0', len))
			comment = xstrndup((const char *)s, len);
	}
	if (blob_to_line(line, pub, pub_len, comment) < 0) {
		pv_error_set(err, "private key '%s' has a malformed public key", path);
		goto out;
	}
	rc = 0;
out:
	free(comment);
	buf_wipe(&dec);
	return rc;
}

int key_public_from_file(const char *private_path, char **public_line, struct pv_error *err)
{
	char *pubpath = xasprintf("%s.pub", private_path);
	char *data = NULL, *check = NULL;
	size_t len = 0;
	int rc = -1;

	*public_line = NULL;
	if (access(pubpath, F_OK) == 0) {
		char *line;

		if (pv_read_file(pubpath, &data, &len, KEY_FILE_MAX, err) < 0)
			goto out;
		line = data + strspn(data, " \t\r\n");
		line[strcspn(line, "\r\n")] = '\0';
		if (public_key_part(line, &check) < 0) {
			pv_error_set(err, "'%s' is not an OpenSSH public key", pubpath);
			goto out;
		}
		for (size_t n = strlen(line); n && (line[n - 1] == ' ' || line[n - 1] == '\t');)
			line[--n] = '\0';
		*public_line = xstrdup(line);
		rc = 0;
		goto out;
	}
	if (pv_read_file(private_path, &data, &len, KEY_FILE_MAX, err) < 0)
		goto out;
	rc = public_from_private(private_path, data, public_line, err);
out:
	if (data)
		pv_wipe(data, len);
	free(data);
	free(check);
	free(pubpath);
	return rc;
}

int key_fingerprint(const char *public_line, char **out, struct pv_error *err)
{
	struct buf blob = BUF_INIT, b = BUF_INIT;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	int rc = -1;

	*out = NULL;
	if (parse_public_line(public_line, &blob, NULL) < 0) {
		pv_error_set(err, "malformed public key '%.40s'", public_line);
		goto out;
	}
	if (EVP_Digest(blob.s, blob.len, md, &md_len, EVP_sha256(), NULL) != 1) {
		openssl_fail(err, "hashing a public key");
		goto out;
	}
	buf_adds(&b, "SHA256:");
	b64_encode(&b, md, md_len, false);
	*out = buf_detach(&b, NULL);
	rc = 0;
out:
	buf_release(&blob);
	buf_release(&b);
	return rc;
}

/* known_hosts names a host "address" on port 22 and "[address]:port" otherwise. */
static char *known_hosts_name(const char *address, int port)
{
	if (port <= 0 || port == 22)
		return xstrdup(address);
	return xasprintf("[%s]:%d", address, port);
}

/* Does the comma-separated host list [list, list+n) name host? */
static bool hosts_match(const char *list, size_t n, const char *host)
{
	size_t hl = strlen(host);

	while (n > 0) {
		const char *comma = memchr(list, ',', n);
		size_t len = comma ? (size_t)(comma - list) : n;

		if (len == hl && strncasecmp(list, host, hl) == 0)
			return true;
		if (!comma)
			break;
		n -= len + 1;
		list += len + 1;
	}
	return false;
}

/* Is this a line with host entries (not blank, comment or @marker)? */
static bool is_host_line(const char *line)
{
	line += strspn(line, " \t");
	return *line && *line != '\n' && *line != '\r' && *line != '#' && *line != '@';
}

/*
 * Copy the known_hosts text to out without host; with a key line, append
 * "host key" at the end.
 */
static void rewrite_known_hosts(struct buf *out, const char *text, const char *host,
                                const char *key)
{
	const char *p = text;

	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		const char *next = eol ? eol + 1 : p + len;

		if (is_host_line(p)) {
			const char *f = p + strspn(p, " \t");
			size_t flen = strcspn(f, " \t\n");

			if (hosts_match(f, flen, host)) {
				/* Keep the other names of a shared line. */
				struct buf names = BUF_INIT;
				const char *q = f, *fend = f + flen;

				while (q < fend) {
					const char *comma = memchr(q, ',', (size_t)(fend - q));
					size_t nl =
					    comma ? (size_t)(comma - q) : (size_t)(fend - q);

					if (!hosts_match(q, nl, host) && nl) {
						if (names.len)
							buf_addc(&names, ',');
						buf_add(&names, q, nl);
					}
					q += nl + 1;
				}
				if (names.len) {
					buf_add(out, names.s, names.len);
					buf_add(out, fend, (size_t)(p + len - fend));
					buf_addc(out, '\n');
				}
				buf_release(&names);
				p = next;
				continue;
			}
		}
		buf_add(out, p, len);
		buf_addc(out, '\n');
		p = next;
	}
	if (key)
		buf_addf(out, "%s %s\n", host, key);
}

/* Read known_hosts; a missing file reads as empty. */
static int read_known_hosts(const char *path, char **text, struct pv_error *err)
{
	size_t len;

	if (access(path, F_OK) != 0 && errno == ENOENT) {
		*text = xstrdup("");
		return 0;
	}
	return pv_read_file(path, text, &len, 0, err);
}

static int update_known_hosts(const char *path, const char *address, int port, const char *key,
                              struct pv_error *err)
{
	char *host = known_hosts_name(address, port);
	char *text = NULL;
	struct buf out = BUF_INIT;
	int rc = -1;

	if (read_known_hosts(path, &text, err) < 0)
		goto out;
	rewrite_known_hosts(&out, text, host, key);
	if (!key && strcmp(out.s, text) == 0) {
		rc = 0; /* nothing to forget */
		goto out;
	}
	if (ensure_parent(path, 0700, err) < 0 ||
	    pv_write_file_atomic(path, out.s, out.len, 0600, err) < 0)
		goto out;
	rc = 0;
out:
	free(host);
	free(text);
	buf_release(&out);
	return rc;
}

int known_hosts_pin(const char *path, const char *address, int port, const char *public_line,
                    struct pv_error *err)
{
	char *key = NULL;
	int rc;

	if (!address || !*address || strpbrk(address, " \t\r\n,"))
		return pv_error_set(err, "cannot pin a host key for address '%s'",
		                    address ? address : "");
	if (public_key_part(public_line, &key) < 0)
		return pv_error_set(err, "cannot pin malformed public key '%.40s' for '%s'",
		                    public_line, address);
	rc = update_known_hosts(path, address, port, key, err);
	free(key);
	return rc;
}

int known_hosts_forget(const char *path, const char *address, int port, struct pv_error *err)
{
	return update_known_hosts(path, address, port, NULL, err);
}

int known_hosts_lookup(const char *path, const char *address, int port, char **public_line,
                       struct pv_error *err)
{
	char *host = known_hosts_name(address, port);
	char *text = NULL;
	int rc = 1;

	*public_line = NULL;
	if (read_known_hosts(path, &text, err) < 0) {
		rc = -1;
		goto out;
	}
	for (char *p = text; *p;) {
		char *eol = strchr(p, '\n');
		char *next = eol ? eol + 1 : p + strlen(p);

		if (eol)
			*eol = '\0';
		if (is_host_line(p)) {
			char *f = p + strspn(p, " \t");
			size_t flen = strcspn(f, " \t\r");

			if (hosts_match(f, flen, host)) {
				if (public_key_part(f + flen, public_line) < 0) {
					rc = pv_error_set(err, "%s: malformed key for '%s'", path,
					                  host);
					goto out;
				}
				rc = 0;
				goto out;
			}
		}
		p = next;
	}
out:
	free(host);
	free(text);
	return rc;
}

/*
 * remote.c - SSH connections to hosts through libssh2.
 *
 * A connection is made blocking (with libssh2's session timeout) up to and
 * including authentication; commands then run in non-blocking mode in one
 * poll() loop that interleaves writing stdin with reading stdout and stderr,
 * so a command that writes a lot while we still feed it cannot deadlock.
 * Each struct remote belongs to one thread; the only global state is
 * libssh2's own initialisation.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libssh2.h>

#include "provision/keys.h"
#include "provision/remote.h"

#define DEFAULT_TIMEOUT_MS 15000
#define KEEPALIVE_SECONDS 15
#define IDLE_LIMIT_MS (10 * 60 * 1000) /* no sign of life from the peer for this long */
#define POLL_SLICE_MS 1000
#define WAIT_PORT_INTERVAL_MS 200
#define CHUNK 32768

struct remote {
	LIBSSH2_SESSION *s;
	int fd;
	int timeout_ms;
	char *name;
	char *user;
	char *address;
	int port;
};

static int global_inited;

int remote_global_init(struct pv_error *err)
{
	int rc;

	if (global_inited)
		return 0;
	rc = libssh2_init(0);
	if (rc != 0)
		return pv_error_set(err, "initialising libssh2 failed (error %d)", rc);
	global_inited = 1;
	return 0;
}

void remote_global_cleanup(void)
{
	if (!global_inited)
		return;
	libssh2_exit();
	global_inited = 0;
}

/* Text for a libssh2 error code, for when libssh2 left no message. */
static const char *ssh_code_text(int code)
{
	switch (code) {
	case LIBSSH2_ERROR_SOCKET_DISCONNECT:
		return "the server closed the connection";
	case LIBSSH2_ERROR_TIMEOUT:
		return "timed out";
	case LIBSSH2_ERROR_SOCKET_SEND:
		return "cannot send to the server";
	case LIBSSH2_ERROR_SOCKET_RECV:
		return "cannot receive from the server";
	case LIBSSH2_ERROR_BANNER_RECV:
	case LIBSSH2_ERROR_BANNER_SEND:
		return "no SSH banner exchanged";
	case LIBSSH2_ERROR_KEX_FAILURE:
		return "key exchange failed";
	case LIBSSH2_ERROR_METHOD_NONE:
		return "no algorithm in common with the server";
	case LIBSSH2_ERROR_HOSTKEY_INIT:
	case LIBSSH2_ERROR_HOSTKEY_SIGN:
		return "the server's host key signature is invalid";
	case LIBSSH2_ERROR_PROTO:
		return "protocol error";
	case LIBSSH2_ERROR_AUTHENTICATION_FAILED:
		return "authentication failed";
	case LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED:
		return "the server did not accept the public key";
	case LIBSSH2_ERROR_FILE:
		return "cannot read the key file";
	case LIBSSH2_ERROR_CHANNEL_FAILURE:
		return "the server refused to open a channel";
	case LIBSSH2_ERROR_CHANNEL_REQUEST_DENIED:
		return "the server refused the request";
	case LIBSSH2_ERROR_CHANNEL_CLOSED:
		return "the channel was closed";
	case LIBSSH2_ERROR_CHANNEL_EOF_SENT:
		return "the channel's input was already closed";
	case LIBSSH2_ERROR_ALLOC:
		return "out of memory";
	case LIBSSH2_ERROR_EAGAIN:
		return "the operation would block";
	default:
		return "ssh error";
	}
}

/*
 * The one place libssh2 errors become messages: "WHAT: reason", the reason
 * being libssh2's own message for the session's last error when it has one.
 */
static int ssh_fail(struct pv_error *err, LIBSSH2_SESSION *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int ssh_fail(struct pv_error *err, LIBSSH2_SESSION *s, int code, const char *fmt, ...)
{
	char what[PV_ERRMAX / 2], reason[512];
	char *msg = NULL;
	int len = 0, last = 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (s)
		last = libssh2_session_last_error(s, &msg, &len, 0);
	if (!code)
		code = last;
	if (code == LIBSSH2_ERROR_TIMEOUT || code == LIBSSH2_ERROR_SOCKET_DISCONNECT || !msg ||
	    len <= 0 || last != code) {
		snprintf(reason, sizeof(reason), "%s", ssh_code_text(code));
	} else {
		snprintf(reason, sizeof(reason), "%.*s", len, msg);
		/* libssh2 capitalises its messages; ours are lowercase */
		if (reason[0] >= 'A' && reason[0] <= 'Z' && reason[1] >= 'a' && reason[1] <= 'z')
			reason[0] = (char)(reason[0] - 'A' + 'a');
	}
	return pv_error_set(err, "%s: %s", what, reason);
}

/* Connect a TCP socket to address:port within timeout_ms; returns the fd or
 * -1 with the reason in why (and *refused set when the host refused it). */
static int tcp_connect(const char *address, int port, int timeout_ms, char *why, size_t why_len,
                       bool *refused)
{
	struct addrinfo hints, *res = NULL, *ai;
	char portstr[16];
	long long deadline = pv_now_ms() + timeout_ms;
	int fd = -1, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(portstr, sizeof(portstr), "%d", port);
	rc = getaddrinfo(address, portstr, &hints, &res);
	if (rc != 0) {
		snprintf(why, why_len, "cannot resolve '%s': %s", address, gai_strerror(rc));
		return -1;
	}
	snprintf(why, why_len, "no address");
	*refused = false;
	for (ai = res; ai; ai = ai->ai_next) {
		int soerr = 0;
		socklen_t sl = sizeof(soerr);

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		            ai->ai_protocol);
		if (fd < 0) {
			snprintf(why, why_len, "%s", strerror(errno));
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
			if (errno != EINPROGRESS) {
				*refused = errno == ECONNREFUSED;
				snprintf(why, why_len, "%s", strerror(errno));
				goto next;
			}
			for (;;) {
				struct pollfd p = {fd, POLLOUT, 0};
				long long left = deadline - pv_now_ms();

				if (left <= 0) {
					snprintf(why, why_len, "timed out after %d ms", timeout_ms);
					goto next;
				}
				rc = poll(&p, 1, (int)left);
				if (rc > 0)
					break;
				if (rc < 0 && errno != EINTR) {
					snprintf(why, why_len, "%s", strerror(errno));
					goto next;
				}
			}
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
				soerr = errno;
			if (soerr) {
				*refused = soerr == ECONNREFUSED;
				snprintf(why, why_len, "%s", strerror(soerr));
				goto next;
			}
		}
		freeaddrinfo(res);
		return fd;
	next:
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return -1;
}

/* The key type named by the first string of a public key blob. */
static char *blob_type(const unsigned char *blob, size_t len)
{
	size_t n;

	if (len < 4)
		return NULL;
	n = (size_t)blob[0] << 24 | (size_t)blob[1] << 16 | (size_t)blob[2] << 8 | blob[3];
	if (n == 0 || n > len - 4 || n > 64)
		return NULL;
	return xstrndup((const char *)blob + 4, n);
}

static void b64(char *dst, const unsigned char *p, size_t n)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i = 0;

	for (; i + 2 < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
		*dst++ = a[v >> 18 & 63];
		*dst++ = a[v >> 12 & 63];
		*dst++ = a[v >> 6 & 63];
		*dst++ = a[v & 63];
	}
	if (i < n) {
		unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0);
		*dst++ = a[v >> 18 & 63];
		*dst++ = a[v >> 12 & 63];
		*dst++ = i + 1 < n ? a[v >> 6 & 63] : '=';
		*dst++ = '=';
	}
	*dst = '\0';
}

/* "type base64" of the key the server offered. */
static char *offered_key_line(LIBSSH2_SESSION *s)
{
	size_t len = 0;
	int type = 0;
	const char *blob = libssh2_session_hostkey(s, &len, &type);
	char *t, *enc, *line;

	if (!blob || !len || !(t = blob_type((const unsigned char *)blob, len)))
		return NULL;
	enc = xmalloc(4 * ((len + 2) / 3) + 1);
	b64(enc, (const unsigned char *)blob, len);
	line = xasprintf("%s %s", t, enc);
	free(t);
	free(enc);
	return line;
}

/* Host key algorithms to ask for, the pinned key's type first. */
static char *hostkey_prefs(const char *pinned)
{
	static const char all[] = "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,"
	                          "ecdsa-sha2-nistp521,rsa-sha2-512,rsa-sha2-256,ssh-rsa";
	size_t tl = pinned ? strcspn(pinned, " ") : 0;

	if (tl == 7 && strncmp(pinned, "ssh-rsa", 7) == 0)
		return xasprintf("rsa-sha2-512,rsa-sha2-256,ssh-rsa,%s", all);
	if (tl)
		return xasprintf("%.*s,%s", (int)tl, pinned, all);
	return xstrdup(all);
}

static int check_host_key(struct remote *r, const char *pinned, struct pv_error *err)
{
	char *offered = offered_key_line(r->s);
	char *fp_pinned = NULL, *fp_offered = NULL;
	struct pv_error ignored;
	int rc = -1;

	if (!offered) {
		pv_error_set(err, "'%s' (%s:%d) offered no usable host key; refusing to connect",
		             r->name, r->address, r->port);
		goto out;
	}
	if (strcmp(offered, pinned) == 0) {
		rc = 0;
		goto out;
	}
	if (key_fingerprint(pinned, &fp_pinned, &ignored) < 0)
		fp_pinned = xstrdup("(unreadable)");
	if (key_fingerprint(offered, &fp_offered, &ignored) < 0)
		fp_offered = xstrdup("(unreadable)");
	pv_error_set(err,
	             "host key of '%s' (%s:%d) does not match the pinned key (pinned %s, "
	             "offered %s); refusing to connect",
	             r->name, r->address, r->port, fp_pinned, fp_offered);
out:
	free(offered);
	free(fp_pinned);
	free(fp_offered);
	return rc;
}

bool remote_client_etm(void)
{
	return libssh2_version(0x010b00) != NULL;
}

const char *remote_client_version(void)
{
	return libssh2_version(0);
}

/*
 * Connect to the host's sshd.  A refused connection is what a host answers
 * while its sshd restarts (a killed run's handlers, a reload the user just
 * made), so it is tried again after 1, 2 and 3 s, within the timeout: four
 * tries in 6 s stay under ufw's limit of six new connections to the SSH port
 * within 30 s, which a faster retry would reach and prolong.
 */
static int connect_retrying(struct remote *r, char *why, size_t why_len)
{
	static const int pause_ms[] = {1000, 2000, 3000};
	long long start = pv_now_ms(), deadline = start + r->timeout_ms;
	size_t tries = 0;

	for (;;) {
		long long left = deadline - pv_now_ms();
		bool refused = false;
		int fd = tcp_connect(r->address, r->port, left > 0 ? (int)left : 1, why, why_len,
		                     &refused);

		if (fd >= 0 || !refused || tries == sizeof(pause_ms) / sizeof(pause_ms[0]) ||
		    pv_now_ms() + pause_ms[tries] >= deadline) {
			if (fd < 0 && refused && tries > 0) {
				size_t n = strlen(why);
				snprintf(why + n, why_len - n, " (%zu tries in %.0f s)", tries + 1,
				         (double)(pv_now_ms() - start) / 1000.0);
			}
			return fd;
		}
		struct timespec ts = {pause_ms[tries] / 1000, (pause_ms[tries] % 1000) * 1000000L};
		nanosleep(&ts, NULL);
		tries++;
	}
}

int remote_connect(struct remote **out, const struct remote_target *t, struct pv_error *err)
{
	struct remote *r = xcalloc(1, sizeof(*r));
	char why[256], *pinned = NULL, *prefs = NULL, *pubpath = NULL;
	const char *user = t->user ? t->user : "root";
	int rc, flags;

	*out = NULL;
	r->fd = -1;
	r->port = t->port > 0 ? t->port : 22;
	r->timeout_ms = t->timeout_ms > 0 ? t->timeout_ms : DEFAULT_TIMEOUT_MS;
	r->address = xstrdup(t->address ? t->address : "");
	r->name = xstrdup(t->name ? t->name : r->address);
	r->user = xstrdup(user);

	rc = known_hosts_lookup(t->known_hosts, r->address, r->port, &pinned, err);
	if (rc < 0)
		goto fail;
	if (rc == 1) {
		pv_error_set(err, "no pinned host key for '%s' (%s:%d); refusing to connect",
		             r->name, r->address, r->port);
		goto fail;
	}

	r->fd = connect_retrying(r, why, sizeof(why));
	if (r->fd < 0) {
		pv_error_set(err, "cannot connect to '%s' (%s:%d): %s", r->name, r->address,
		             r->port, why);
		goto fail;
	}
	flags = fcntl(r->fd, F_GETFL);
	if (flags < 0 || fcntl(r->fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
		pv_error_set(err, "cannot connect to '%s': %s", r->name, strerror(errno));
		goto fail;
	}

	r->s = libssh2_session_init();
	if (!r->s) {
		pv_error_set(err, "cannot create an ssh session for '%s'", r->name);
		goto fail;
	}
	libssh2_session_set_blocking(r->s, 1);
	libssh2_session_set_timeout(r->s, r->timeout_ms);
	prefs = hostkey_prefs(pinned);
	/* Unknown names in the list are the library's to skip; a failure only
	 * means its default order applies. */
	(void)libssh2_session_method_pref(r->s, LIBSSH2_METHOD_HOSTKEY, prefs);

	rc = libssh2_session_handshake(r->s, r->fd);
	if (rc) {
		ssh_fail(err, r->s, rc, "ssh handshake with '%s' (%s:%d) failed", r->name,
		         r->address, r->port);
		goto fail;
	}
	if (check_host_key(r, pinned, err) < 0)
		goto fail;

	pubpath = xasprintf("%s.pub", t->private_key);
	if (access(pubpath, R_OK) != 0) {
		free(pubpath);
		pubpath = NULL;
	}
	rc = libssh2_userauth_publickey_fromfile_ex(r->s, user, (unsigned)strlen(user), pubpath,
	                                            t->private_key, NULL);
	if (rc) {
		ssh_fail(err, r->s, rc, "authentication as '%s' on '%s' failed", user, r->name);
		goto fail;
	}
	libssh2_keepalive_config(r->s, 1, KEEPALIVE_SECONDS);

	free(pinned);
	free(prefs);
	free(pubpath);
	*out = r;
	return 0;
fail:
	free(pinned);
	free(prefs);
	free(pubpath);
	remote_close(r);
	return -1;
}

/* Directions libssh2 is waiting on, as poll() events. */
static short blocked_events(LIBSSH2_SESSION *s)
{
	int dir = libssh2_session_block_directions(s);
	short ev = 0;

	if (dir & LIBSSH2_SESSION_BLOCK_INBOUND)
		ev |= POLLIN;
	if (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND)
		ev |= POLLOUT;
	return ev;
}

/*
 * Wait until the socket can move in the directions asked for (always
 * inbound too), sending keepalives meanwhile.  Anything arriving from the
 * peer - output or keepalive replies - counts as life; none for
 * IDLE_LIMIT_MS fails.
 */
static int wait_io(struct remote *r, short events, long long *alive, const char *command,
                   struct pv_error *err)
{
	struct pollfd p = {r->fd, (short)(events | POLLIN), 0};
	int next = 0, rc;
	long long idle = pv_now_ms() - *alive;

	if (idle >= IDLE_LIMIT_MS)
		return pv_error_set(err, "'%s' sent nothing for %d s while running '%.60s'",
		                    r->name, IDLE_LIMIT_MS / 1000, command);
	rc = libssh2_keepalive_send(r->s, &next);
	if (rc && rc != LIBSSH2_ERROR_EAGAIN)
		return ssh_fail(err, r->s, rc, "connection to '%s' failed", r->name);
	rc = poll(&p, 1, POLL_SLICE_MS);
	if (rc < 0 && errno != EINTR)
		return pv_error_set(err, "waiting for '%s' failed: %s", r->name, strerror(errno));
	if (rc > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)))
		*alive = pv_now_ms();
	return 0;
}

/* Keep what fits in b (NULL = discard); false once something had to be dropped. */
static bool keep(struct buf *b, const char *data, size_t n)
{
	size_t room;

	if (!b)
		return true;
	if (buf_add(b, data, n) == 0)
		return true;
	room = b->limit > b->len ? b->limit - b->len : 0;
	if (room)
		buf_add(b, data, room < n ? room : n);
	return false;
}

/* Read what is there from one stream; 1 at its end, 0 otherwise, -1 on error. */
static int drain(struct remote *r, LIBSSH2_CHANNEL *ch, int stream, struct buf *b, bool *overflow,
                 bool *progress, short *want, char *tmp, struct pv_error *err)
{
	for (;;) {
		ssize_t n = libssh2_channel_read_ex(ch, stream, tmp, CHUNK);

		if (n > 0) {
			*progress = true;
			if (!keep(b, tmp, (size_t)n))
				*overflow = true;
			continue;
		}
		if (n == 0) {
			if (libssh2_channel_eof(ch))
				return 1;
			*want |= POLLIN;
			return 0;
		}
		if (n == LIBSSH2_ERROR_EAGAIN) {
			*want |= blocked_events(r->s);
			return 0;
		}
		return ssh_fail(err, r->s, (int)n, "reading from '%s' failed", r->name);
	}
}

int remote_exec(struct remote *r, const char *command, const void *in, size_t in_len,
                struct buf *out, struct buf *errb, int *exit_status, struct pv_error *err)
{
	LIBSSH2_CHANNEL *ch = NULL;
	char *tmp = xmalloc(CHUNK), *signame = NULL;
	size_t off = 0, siglen = 0;
	bool eof_sent = false, out_eof = false, err_eof = false;
	bool over_out = false, over_err = false;
	long long alive = pv_now_ms();
	int rc = -1, e;

	*exit_status = -1;
	if (!in)
		in_len = 0;
	libssh2_session_set_blocking(r->s, 0);

	while (!(ch = libssh2_channel_open_session(r->s))) {
		e = libssh2_session_last_errno(r->s);
		if (e != LIBSSH2_ERROR_EAGAIN) {
			ssh_fail(err, r->s, e, "opening a channel to '%s' failed", r->name);
			goto out;
		}
		if (wait_io(r, blocked_events(r->s), &alive, command, err) < 0)
			goto out;
	}
	while ((e = libssh2_channel_exec(ch, command)) == LIBSSH2_ERROR_EAGAIN)
		if (wait_io(r, blocked_events(r->s), &alive, command, err) < 0)
			goto out;
	if (e) {
		ssh_fail(err, r->s, e, "running '%.60s' on '%s' failed", command, r->name);
		goto out;
	}

	while (!(out_eof && err_eof)) {
		bool progress = false;
		short want = 0;

		if (!eof_sent && off < in_len) {
			ssize_t n =
			    libssh2_channel_write(ch, (const char *)in + off,
			                          in_len - off < CHUNK ? in_len - off : CHUNK);
			if (n > 0) {
				off += (size_t)n;
				progress = true;
			} else if (n == LIBSSH2_ERROR_EAGAIN) {
				want |= blocked_events(r->s);
			} else if (libssh2_channel_eof(ch)) {
				eof_sent = true; /* the command is gone without reading it all */
			} else {
				ssh_fail(err, r->s, (int)n, "writing to '%s' failed", r->name);
				goto out;
			}
		}
		if (!eof_sent && off == in_len) {
			e = libssh2_channel_send_eof(ch);
			if (e == 0) {
				eof_sent = true;
				progress = true;
			} else if (e == LIBSSH2_ERROR_EAGAIN) {
				want |= blocked_events(r->s);
			} else if (libssh2_channel_eof(ch)) {
				eof_sent = true;
			} else {
				ssh_fail(err, r->s, e, "closing the input on '%s' failed", r->name);
				goto out;
			}
		}
		if (!out_eof) {
			e = drain(r, ch, 0, out, &over_out, &progress, &want, tmp, err);
			if (e < 0)
				goto out;
			out_eof = e == 1;
		}
		if (!err_eof) {
			e = drain(r, ch, SSH_EXTENDED_DATA_STDERR, errb, &over_err, &progress,
			          &want, tmp, err);
			if (e < 0)
				goto out;
			err_eof = e == 1;
		}
		if (progress)
			alive = pv_now_ms();
		else if (!(out_eof && err_eof) && wait_io(r, want, &alive, command, err) < 0)
			goto out;
	}

	while ((e = libssh2_channel_close(ch)) == LIBSSH2_ERROR_EAGAIN)
		if (wait_io(r, blocked_events(r->s), &alive, command, err) < 0)
			goto out;
	while (!e && (e = libssh2_channel_wait_closed(ch)) == LIBSSH2_ERROR_EAGAIN)
		if (wait_io(r, blocked_events(r->s), &alive, command, err) < 0)
			goto out;
	if (e) {
		ssh_fail(err, r->s, e, "closing the channel to '%s' failed", r->name);
		goto out;
	}
	if (libssh2_channel_get_exit_signal(ch, &signame, &siglen, NULL, NULL, NULL, NULL) == 0 &&
	    signame)
		*exit_status = -1;
	else
		*exit_status = libssh2_channel_get_exit_status(ch);

	if (over_out || over_err) {
		struct buf *b = over_out ? out : errb;
		pv_error_set(err, "%s of '%.60s' on '%s' exceeds %zu bytes",
		             over_out ? "output" : "error output", command, r->name, b->limit);
		goto out;
	}
	rc = 0;
out:
	if (signame)
		libssh2_free(r->s, signame);
	if (ch) {
		/* A channel that did not close cleanly is freed from blocking mode
		 * with the session timeout as the bound. */
		libssh2_session_set_blocking(r->s, 1);
		libssh2_channel_free(ch);
	}
	libssh2_session_set_blocking(r->s, 1);
	free(tmp);
	return rc;
}

void remote_close(struct remote *r)
{
	if (!r)
		return;
	if (r->s) {
		libssh2_session_set_blocking(r->s, 1);
		libssh2_session_set_timeout(r->s, 2000);
		libssh2_session_disconnect(r->s, "done");
		libssh2_session_free(r->s);
	}
	if (r->fd >= 0)
		close(r->fd);
	free(r->name);
	free(r->user);
	free(r->address);
	free(r);
}

int remote_wait_port(const char *address, int port, int timeout_ms, struct pv_error *err)
{
	long long deadline = pv_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	char why[256] = "not tried";

	for (;;) {
		long long start = pv_now_ms(), left = deadline - start;
		int fd;

		bool refused;

		fd = tcp_connect(address, port, left < 1000 ? (left > 0 ? (int)left : 1) : 1000,
		                 why, sizeof(why), &refused);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		long long now = pv_now_ms();
		if (now >= deadline)
			break;
		long long pause = start + WAIT_PORT_INTERVAL_MS - now;
		if (pause > deadline - now)
			pause = deadline - now;
		if (pause > 0) {
			struct timespec ts = {pause / 1000, (pause % 1000) * 1000000L};
			nanosleep(&ts, NULL);
		}
	}
	return pv_error_set(err, "port %d on '%s' did not open within %d ms (last error: %s)", port,
	                    address, timeout_ms, why);
}

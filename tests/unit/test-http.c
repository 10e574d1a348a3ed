/*
 * test-http.c - the HTTP client against a real HTTP server on loopback.
 *
 * The server is a thread that answers each connection from a script of
 * canned responses and records the request it got, so the tests see what
 * went over the wire: retries, rate-limit waits, headers, bodies, paging.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "check.h"
#include "provision/http.h"

#define MAXREQ 64

struct server {
	int fd;
	int port;
	pthread_t thread;
	const char *const *script; /* responses; "CLOSE" drops the connection */
	size_t nscript;
	char *requests[MAXREQ]; /* what arrived, head and body */
	time_t at[MAXREQ];
	double atf[MAXREQ]; /* the same, to the microsecond */
	size_t nreq;
	int live; /* connection threads still running */
	pthread_mutex_t mu;
};

static char *read_request(int c)
{
	size_t cap = 65536, n = 0;
	char *b = malloc(cap + 1);
	long want = -1;
	for (;;) {
		ssize_t k = recv(c, b + n, cap - n, 0);
		if (k <= 0)
			break;
		n += (size_t)k;
		b[n] = '\0';
		char *end = strstr(b, "\r\n\r\n");
		if (end && want < 0) {
			const char *cl = strcasestr(b, "\r\nContent-Length:");
			long len = cl && cl < end ? strtol(cl + 17, NULL, 10) : 0;
			want = (long)(end - b) + 4 + len;
		}
		if (want >= 0 && (long)n >= want)
			break;
		if (n == cap)
			break;
	}
	b[n] = '\0';
	return b;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct conn {
	struct server *s;
	int fd;
};

static void *serve_conn(void *arg)
{
	struct conn *cn = arg;
	struct server *s = cn->s;
	int c = cn->fd;
	free(cn);
	/* Keep-alive: one connection may carry several requests. */
	for (;;) {
		char *req = read_request(c);
		if (!*req) {
			free(req);
			break;
		}
		pthread_mutex_lock(&s->mu);
		size_t i = s->nreq;
		if (i < MAXREQ) {
			s->requests[i] = req;
			s->at[i] = time(NULL);
			s->atf[i] = now_s();
			s->nreq++;
		} else {
			free(req);
		}
		pthread_mutex_unlock(&s->mu);
		const char *resp = i < s->nscript ? s->script[i] : "HTTP/1.1 500 Oops\r\n\r\n";
		if (strcmp(resp, "CLOSE") == 0)
			break;
		char *r = NULL;
		/* Scripted responses carry their head; a {now+N} in it becomes a time. */
		const char *mark = strstr(resp, "{now+");
		if (mark) {
			int plus = atoi(mark + 5);
			const char *brace = strchr(mark, '}');
			asprintf(&r, "%.*s%ld%s", (int)(mark - resp), resp, (long)time(NULL) + plus,
			         brace + 1);
		} else {
			r = strdup(resp);
		}
		/* The server adds Content-Length to the scripted head and body. */
		char *split = strstr(r, "\r\n\r\n");
		char *full = NULL;
		if (split) {
			*split = '\0';
			asprintf(&full, "%s\r\nContent-Length: %zu\r\n\r\n%s", r, strlen(split + 4),
			         split + 4);
		} else {
			full = strdup(r);
		}
		send(c, full, strlen(full), MSG_NOSIGNAL);
		free(full);
		free(r);
	}
	close(c);
	pthread_mutex_lock(&s->mu);
	s->live--;
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static void *serve(void *arg)
{
	struct server *s = arg;
	for (;;) {
		int c = accept(s->fd, NULL, NULL);
		if (c < 0)
			return NULL;
		struct conn *cn = malloc(sizeof *cn);
		cn->s = s;
		cn->fd = c;
		pthread_mutex_lock(&s->mu);
		s->live++;
		pthread_mutex_unlock(&s->mu);
		pthread_t t;
		pthread_create(&t, NULL, serve_conn, cn);
		pthread_detach(t);
	}
}

static void server_start(struct server *s, const char *const *script, size_t n)
{
	memset(s, 0, sizeof *s);
	pthread_mutex_init(&s->mu, NULL);
	s->script = script;
	s->nscript = n;
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	bind(s->fd, (struct sockaddr *)&a, sizeof a);
	listen(s->fd, 16);
	socklen_t len = sizeof a;
	getsockname(s->fd, (struct sockaddr *)&a, &len);
	s->port = ntohs(a.sin_port);
	pthread_create(&s->thread, NULL, serve, s);
}

static void server_stop(struct server *s)
{
	shutdown(s->fd, SHUT_RDWR);
	close(s->fd);
	pthread_join(s->thread, NULL);
	/* Clients are released first, so every connection is closed by now or soon. */
	for (;;) {
		pthread_mutex_lock(&s->mu);
		int live = s->live;
		pthread_mutex_unlock(&s->mu);
		if (live == 0)
			break;
		usleep(1000);
	}
	for (size_t i = 0; i < s->nreq; i++)
		free(s->requests[i]);
}

static void client(struct http_client *c, struct server *s, const char *token)
{
	char base[64];
	struct pv_error e;
	snprintf(base, sizeof base, "http://127.0.0.1:%d/v1/", s->port);
	int rc = http_client_init(c, base, token, &e);
	CHECK(rc == 0);
	c->backoff_base_s = 0.01;
	c->backoff_max_s = 0.05;
	c->timeout_s = 5;
}

#define JSON_OK(body) "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" body

static void test_request_and_headers(void)
{
	static const char *const script[] = {
	    "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nETag: \"abc\"\r\n"
	    "RateLimit-Limit: 3600\r\nRateLimit-Remaining: 3599\r\nRateLimit-Reset: 1\r\n"
	    "\r\n{\"server\":{\"id\":42}}\r\n",
	};
	struct server s;
	server_start(&s, script, 1);
	struct http_client c;
	client(&c, &s, "tok-secret-123");
	json_t *body = json_pack("{s:s}", "name", "web1");
	struct http_opts o = {.body = body, .if_match = "\"etag1\""};
	struct http_response r;
	http_response_init(&r);
	struct pv_error e;
	int rc = http_request(&c, "POST", "/servers", &o, &r, &e);
	CHECK(rc == 0);
	CHECK(r.status == 201);
	CHECK(json_integer_value(json_object_get(json_object_get(r.json, "server"), "id")) == 42);
	CHECK_STR(http_header(&r, "etag"), "\"abc\"");
	CHECK(c.rl_limit == 3600 && c.rl_remaining == 3599);
	CHECK(c.sent == 1 && c.sent_writes == 1);
	CHECK(s.nreq == 1);
	if (s.nreq == 1) {
		const char *q = s.requests[0];
		CHECK(strncmp(q, "POST /v1/servers HTTP/1.1\r\n", 27) == 0);
		CHECK_HAS(q, "\r\nAuthorization: Bearer tok-secret-123\r\n");
		CHECK_HAS(q, "\r\nContent-Type: application/json\r\n");
		CHECK_HAS(q, "\r\nAccept: application/json\r\n");
		CHECK_HAS(q, "\r\nIf-Match: \"etag1\"\r\n");
		CHECK_HAS(q, "\r\n\r\n{\"name\":\"web1\"}");
	}
	http_response_release(&r);
	json_decref(body);
	http_client_release(&c);
	server_stop(&s);
}

static void test_retry_5xx_get_not_post(void)
{
	static const char *const script[] = {
	    "CLOSE",
	    "HTTP/1.1 503 Unavailable\r\n\r\n",
	    JSON_OK("{}"),
	    "HTTP/1.1 500 Internal\r\nContent-Type: application/json\r\n\r\n"
	    "{\"error\":{\"code\":\"server_error\",\"message\":\"broken\"}}\r\n",
	};
	struct server s;
	server_start(&s, script, 4);
	struct http_client c;
	client(&c, &s, "tok");
	struct http_response r;
	http_response_init(&r);
	struct pv_error e;
	CHECK(http_request(&c, "GET", "/servers?label_selector=a%3Db", NULL, &r, &e) == 0);
	CHECK(r.status == 200);
	CHECK(s.nreq == 3);
	CHECK(c.retries == 2);

	/* A POST that met a 500 is not repeated: it may have been carried out.  It
	 * also goes on a fresh connection, because curl silently resends a
	 * request whose reused connection turns out to be dead. */
	int rc = http_request(&c, "POST", "/servers", NULL, &r, &e);
	CHECK(rc == 0);
	CHECK(r.status == 500);
	CHECK(s.nreq == 4);
	http_fail(&r, &e, "create server %s", "web1");
	CHECK_STR(e.msg, "create server web1: HTTP 500 server_error: broken");
	CHECK(strstr(e.msg, "tok") == NULL);
	http_response_release(&r);
	http_client_release(&c);
	server_stop(&s);
}

static void test_lost_post_response(void)
{
	static const char *const script[] = {"CLOSE", JSON_OK("{}")};
	struct server s;
	server_start(&s, script, 2);
	struct http_client c;
	client(&c, &s, "tok-abc");
	struct http_response r;
	http_response_init(&r);
	struct pv_error e;
	CHECK(http_request(&c, "POST", "/ssh_keys", NULL, &r, &e) == -1);
	CHECK(s.nreq == 1);
	CHECK_HAS(e.msg, "POST /ssh_keys: ");
	CHECK_HAS(e.msg, "may have been carried out");
	CHECK(strstr(e.msg, "tok-abc") == NULL);
	/* The same request marked idempotent is repeated. */
	struct http_opts o = {.flags = HTTP_IDEMPOTENT};
	CHECK(http_request(&c, "POST", "/ssh_keys", &o, &r, &e) == 0);
	CHECK(r.status == 200);
	http_response_release(&r);
	http_client_release(&c);
	server_stop(&s);
}

static void test_rate_limit_waits_for_reset(void)
{
	static const char *const script[] = {
	    "HTTP/1.1 429 Too Many\r\nRateLimit-Limit: 2\r\nRateLimit-Remaining: 0\r\n"
	    "RateLimit-Reset: {now+2}\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nRateLimit-Limit: 2\r\nRateLimit-Remaining: 0\r\n"
	    "RateLimit-Reset: {now+2}\r\nContent-Type: application/json\r\n"
	    "\r\n{}",
	    JSON_OK("{}"),
	};
	struct server s;
	server_start(&s, script, 3);
	struct http_client c;
	client(&c, &s, "tok");
	struct http_response r;
	http_response_init(&r);
	struct pv_error e;
	CHECK(http_request(&c, "GET", "/actions", NULL, &r, &e) == 0);
	CHECK(r.status == 200);
	CHECK(s.nreq == 2);
	/* The 429 named a reset two seconds ahead; the retry came no sooner. */
	if (s.nreq == 2)
		CHECK(s.at[1] - s.at[0] >= 1);
	/* That answer said no budget is left: the next request waits for the reset first. */
	CHECK(http_request(&c, "GET", "/actions", NULL, &r, &e) == 0);
	CHECK(s.nreq == 3);
	if (s.nreq == 3)
		CHECK(s.at[2] - s.at[1] >= 1);
	CHECK(c.rate_waits == 2);
	/* both requests were held back, each for about a second */
	CHECK(c.rate_held == 2);
	CHECK(c.rate_held_max_s >= 0.5 && c.rate_held_s >= 1.0);
	http_response_release(&r);
	http_client_release(&c);
	server_stop(&s);
}

struct other_req {
	struct http_client *c;
	double sent_at;
	int rc;
};

static void *other_request(void *arg)
{
	struct other_req *o = arg;
	struct http_response r;
	struct pv_error e;

	http_response_init(&r);
	/* start once the first request has met its 429 (however busy the machine) */
	for (int i = 0; i < 10000; i++) {
		pthread_mutex_lock(&o->c->lock);
		unsigned long met = o->c->rate_limited;
		pthread_mutex_unlock(&o->c->lock);
		if (met)
			break;
		usleep(1000);
	}
	usleep(100000);
	o->sent_at = now_s();
	o->rc = http_request(o->c, "GET", "/servers", NULL, &r, &e);
	http_response_release(&r);
	return NULL;
}

/*
 * A 429 met by one thread holds back the others too: a request started
 * while the first waits for the reset goes out after it, not at once (it
 * did, and met the server early, while the first thread slept).
 */
static void test_rate_limit_holds_every_thread(void)
{
	static const char *const script[] = {
	    "HTTP/1.1 429 Too Many\r\nRateLimit-Limit: 5\r\nRateLimit-Remaining: 0\r\n"
	    "RateLimit-Reset: {now+2}\r\n\r\n",
	    JSON_OK("{}"),
	    JSON_OK("{}"),
	};
	struct server s;
	server_start(&s, script, 3);
	struct http_client c;
	client(&c, &s, "tok");
	struct other_req o = {.c = &c};
	pthread_t t;
	struct http_response r;
	http_response_init(&r);
	struct pv_error e;
	/* the other request starts once the first has met its 429 */
	pthread_create(&t, NULL, other_request, &o);
	CHECK(http_request(&c, "GET", "/actions", NULL, &r, &e) == 0);
	pthread_join(t, NULL);
	CHECK(o.rc == 0);
	CHECK(s.nreq == 3);
	/* every request after the 429 came when the reset it named was at most a second away */
	for (size_t i = 1; i < s.nreq && i < 3; i++)
		CHECK(s.atf[i] - s.atf[0] >= 1.0);
	/*
	 * The tally counts requests, not pauses: the other thread's request may
	 * pause several times (for the answer in flight, then for the reset),
	 * yet two requests were held back, the first for most of a second.
	 */
	CHECK(c.rate_held == 2);
	CHECK(c.rate_held_max_s >= 0.5);
	CHECK(c.rate_held_s >= c.rate_held_max_s && c.rate_held_s <= 10);
	http_response_release(&r);
	http_client_release(&c);
	server_stop(&s);
}

/*
 * Hetzner's budget grows back evenly and its reset is when it is full: an
 * empty budget of 3600 an hour waits about a second for the next request,
 * not the hour (which max_wait_s refuses here); a budget whose reset frees
 * requests waits for the reset.
 */
static void test_rate_limit_gradual(void)
{
	static const char *const script[] = {
	    "HTTP/1.1 200 OK\r\nRateLimit-Limit: 3600\r\nRateLimit-Remaining: 0\r\n"
	    "RateLimit-Reset: {now+3600}\r\nContent-Type: application/json\r\n\r\n{}",
	    JSON_OK("{}"),
	};
	struct http_response r;
	struct pv_error e;

	for (int gradual = 1; gradual >= 0; gradual--) {
		struct server s;
		server_start(&s, script, 2);
		struct http_client c;
		client(&c, &s, "tok");
		c.rl_gradual = gradual;
		c.max_wait_s = 30;
		http_response_init(&r);
		CHECK(http_request(&c, "GET", "/servers", NULL, &r, &e) == 0);
		int rc = http_request(&c, "GET", "/servers", NULL, &r, &e);
		if (gradual) {
			CHECK(rc == 0);
			CHECK(s.nreq == 2);
			if (s.nreq == 2)
				CHECK(s.atf[1] - s.atf[0] >= 1.0); /* one request's share: 1 s */
		} else {
			CHECK(rc < 0); /* the reset is an hour away */
			CHECK(s.nreq == 1);
			CHECK_HAS(e.msg, "rate limit exhausted");
		}
		http_response_release(&r);
		http_client_release(&c);
		server_stop(&s);
	}
}

static void test_paging(void)
{
	static const char *const script[] = {
	    JSON_OK("{\"servers\":[{\"id\":1},{\"id\":2}],\"meta\":{\"pagination\":{"
	            "\"next_page\":2}}}"),
	    JSON_OK("{\"servers\":[{\"id\":3}],\"meta\":{\"pagination\":{\"next_page\":"
	            "null}}}"),
	    JSON_OK("{\"droplets\":[{\"id\":7}],\"links\":{\"pages\":{\"next\":"
	            "\"https://x/v2/droplets?page=2\"}}}"),
	    JSON_OK("{\"droplets\":[{\"id\":8}],\"links\":{}}   "),
	};
	struct server s;
	server_start(&s, script, 4);
	struct http_client c;
	client(&c, &s, "tok");
	struct pv_error e;
	json_t *items = NULL;
	CHECK(http_get_all(&c, "/servers?label_selector=p%3Dx", "servers", HTTP_PAGES_HETZNER,
	                   &items, &e) == 0);
	CHECK(json_array_size(items) == 3);
	json_decref(items);
	if (s.nreq >= 2) {
		CHECK_HAS(s.requests[0],
		          "GET /v1/servers?label_selector=p%3Dx&page=1&per_page=50 ");
		CHECK_HAS(s.requests[1],
		          "GET /v1/servers?label_selector=p%3Dx&page=2&per_page=50 ");
	}
	items = NULL;
	CHECK(http_get_all(&c, "/v2/droplets", "droplets", HTTP_PAGES_DIGITALOCEAN, &items, &e) ==
	      0);
	CHECK(json_array_size(items) == 2);
	json_decref(items);
	if (s.nreq == 4)
		CHECK_HAS(s.requests[3], "GET /v1/v2/droplets?page=2&per_page=200 ");
	http_client_release(&c);
	server_stop(&s);
}

static void test_conflicts(void)
{
	static const char *const script[] = {
	    "HTTP/1.1 423 Locked\r\nContent-Type: application/json\r\n\r\n"
	    "{\"error\":{\"code\":\"locked\",\"message\":\"busy\"}}",
	    "HTTP/1.1 409 Conflict\r\nContent-Type: application/json\r\n\r\n"
	    "{\"error\":{\"code\":\"conflict\",\"message\":\"changed\"}}",
	    JSON_OK("{}"),
	    "HTTP/1.1 409 Conflict\r\nContent-Type: application/json\r\n\r\n"
	    "{\"error\":{\"code\":\"uniqueness_error\",\"message\":\"name is already used\"}}",
	};
	struct server s;
	server_start(&s, script, 4);
	struct http_client c;
	client(&c, &s, "tok");
	struct http_response r;
	http_response_init(&r);
	struct pv_error e;
	/* busy resources are waited for, even for a POST (nothing was done) */
	CHECK(http_request(&c, "POST", "/servers/1/actions/poweron", NULL, &r, &e) == 0);
	CHECK(r.status == 200);
	CHECK(s.nreq == 3);
	/* a name already taken is not: waiting cannot change it */
	CHECK(http_request(&c, "POST", "/ssh_keys", NULL, &r, &e) == 0);
	CHECK(r.status == 409);
	CHECK(s.nreq == 4);
	http_fail(&r, &e, "create SSH key");
	CHECK_STR(e.msg, "create SSH key: HTTP 409 uniqueness_error: name is already used");
	http_response_release(&r);
	http_client_release(&c);
	server_stop(&s);
}

static void test_bad_input(void)
{
	struct http_client c;
	struct pv_error e;
	CHECK(http_client_init(&c, "ftp://x", "t", &e) == -1);
	CHECK_HAS(e.msg, "must start with https://");
	CHECK(http_client_init(&c, "https://x", "", &e) == -1);
	CHECK_HAS(e.msg, "API token is empty");
	CHECK(http_client_init(&c, "https://x", "a\nb", &e) == -1);
	CHECK(strstr(e.msg, "a\nb") == NULL);
	char *esc = http_escape("env=staging,a b/ü");
	CHECK_STR(esc, "env%3Dstaging%2Ca%20b%2F%C3%BC");
	free(esc);
}

/* The token goes over https, or over plain http to loopback only. */
static void test_endpoint_check(void)
{
	static const char *const ok[] = {
	    "https://api.hetzner.cloud/v1", "HTTPS://api.example.com",
	    "http://127.0.0.1:8080/v1",     "http://127.9.8.7/v1",
	    "http://localhost:80",          "http://LOCALHOST/v1",
	    "http://[::1]:9000/v1",         "http://[::1]",
	};
	static const char *const bad[] = {
	    "http://anything/v1",
	    "http://10.0.0.1:8080/v1",
	    "http://127.0.0.1.example.com/v1",
	    "http://localhost.example.com/v1",
	    "http://127.0.0.1@example.com/v1",
	    "http://user:pw@127.0.0.1/v1",
	    "http://[::2]/v1",
	    "http://[::ffff:127.0.0.1]/v1",
	    "http://0x7f000001/v1",
	    "http://128.0.0.1/v1",
	    "ftp://127.0.0.1/",
	    "//api.example.com",
	    "https://",
	    "",
	};
	struct pv_error e;
	struct http_client c;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		e.msg[0] = '\0';
		CHECK(http_endpoint_check(ok[i], &e) == 0);
		if (e.msg[0])
			printf("  %s: %s\n", ok[i], e.msg);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (http_endpoint_check(bad[i], &e) == 0) {
			CHECK(!"accepted");
			printf("  accepted: %s\n", bad[i]);
		} else {
			CHECK(1);
		}
	}
	/* the client refuses such a base before any request */
	CHECK(http_client_init(&c, "http://example.com/v1", "t", &e) == -1);
	CHECK_HAS(e.msg, "plain http");
	CHECK(strstr(e.msg, "Bearer") == NULL);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	RUN(test_request_and_headers);
	RUN(test_retry_5xx_get_not_post);
	RUN(test_lost_post_response);
	RUN(test_rate_limit_waits_for_reset);
	RUN(test_rate_limit_holds_every_thread);
	RUN(test_rate_limit_gradual);
	RUN(test_paging);
	RUN(test_conflicts);
	RUN(test_bad_input);
	RUN(test_endpoint_check);
	curl_global_cleanup();
	return check_done("test-http");
}

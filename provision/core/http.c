/*
 * http.c - JSON over HTTPS for provider APIs, with the retry policy in one place.
 */
#include "provision/http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <sys/random.h>

#include <curl/curl.h>

#define HTTP_BODY_LIMIT ((size_t)32 << 20)
#define HTTP_ERROR_BODY_SHOWN 200

static void http_sleep(double seconds)
{
	if (seconds <= 0)
		return;
	struct timespec ts = {.tv_sec = (time_t)seconds,
	                      .tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9)};
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static double http_random01(void)
{
	unsigned int v = 0;
	if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v)
		v = (unsigned int)time(NULL) * 2654435761u;
	return (double)v / 4294967296.0;
}

static void http_note(struct http_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void http_note(struct http_client *c, const char *fmt, ...)
{
	if (!c->note)
		return;
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	c->note(c->note_arg, msg);
	free(msg);
}

/* A loopback host: localhost, 127.0.0.0/8 in dotted form, or [::1]. */
static bool loopback_host(const char *h, size_t n)
{
	char ip[64];
	unsigned char a[16];

	if (n == 9 && !strncasecmp(h, "localhost", 9))
		return true;
	if (n >= sizeof(ip))
		return false;
	if (n > 2 && h[0] == '[' && h[n - 1] == ']') {
		memcpy(ip, h + 1, n - 2);
		ip[n - 2] = '\0';
		return inet_pton(AF_INET6, ip, a) == 1 &&
		       IN6_IS_ADDR_LOOPBACK((struct in6_addr *)a);
	}
	memcpy(ip, h, n);
	ip[n] = '\0';
	return inet_pton(AF_INET, ip, a) == 1 && a[0] == 127;
}

int http_endpoint_check(const char *url, struct pv_error *err)
{
	if (!url || !*url)
		return pv_error_set(err, "the API endpoint is empty");
	if (!strncasecmp(url, "https://", 8))
		return url[8] && url[8] != '/' ? 0
		                               : pv_error_set(err, "the API endpoint has no host");
	if (strncasecmp(url, "http://", 7))
		return pv_error_set(err, "the API endpoint must start with https://");
	const char *h = url + 7;
	size_t n = strcspn(h, "/?#");
	/* user information would hide the real host from a quick look: never accepted */
	if (memchr(h, '@', n))
		return pv_error_set(err, "the API endpoint must not carry a user name or password");
	if (h[0] == '[') {
		const char *close = memchr(h, ']', n);
		n = close ? (size_t)(close - h) + 1 : n;
	} else {
		const char *colon = memchr(h, ':', n);
		n = colon ? (size_t)(colon - h) : n;
	}
	if (!loopback_host(h, n))
		return pv_error_set(
		    err,
		    "the API endpoint '%s' is plain http: the API token would travel "
		    "in clear; use https:// (plain http only for 127.0.0.0/8, ::1 "
		    "or localhost)",
		    url);
	return 0;
}

int http_client_init(struct http_client *c, const char *base, const char *token,
                     struct pv_error *err)
{
	memset(c, 0, sizeof *c);
	if (http_endpoint_check(base, err) < 0)
		return -1;
	if (!token || !*token)
		return pv_error_set(err, "API token is empty");
	for (const char *p = token; *p; p++)
		if (*p == '\r' || *p == '\n' || *p == ' ')
			return pv_error_set(err, "API token contains white space or a line break");
	void *h = curl_easy_init();
	if (!h)
		return pv_error_set(err, "cannot start an HTTP client");
	pthread_mutex_init(&c->lock, NULL);
	PV_GROW(c->idle, 1, c->alloc_idle);
	c->idle[c->n_idle++] = h;
	c->base = xstrdup(base);
	size_t n = strlen(c->base);
	while (n > 0 && c->base[n - 1] == '/')
		c->base[--n] = '\0';
	c->auth_header = xasprintf("Authorization: Bearer %s", token);
	c->timeout_s = 60;
	c->connect_timeout_s = 10;
	c->max_attempts = 6;
	c->backoff_base_s = 1;
	c->backoff_max_s = 20;
	c->max_wait_s = 3600;
	c->rl_limit = -1;
	c->rl_remaining = -1;
	c->rl_reset = 0;
	return 0;
}

void http_client_release(struct http_client *c)
{
	if (!c->base)
		return;
	for (size_t i = 0; i < c->n_idle; i++)
		curl_easy_cleanup(c->idle[i]);
	free(c->idle);
	pthread_mutex_destroy(&c->lock);
	if (c->auth_header) {
		explicit_bzero(c->auth_header, strlen(c->auth_header));
		free(c->auth_header);
	}
	free(c->base);
	memset(c, 0, sizeof *c);
}

void http_response_init(struct http_response *r)
{
	r->status = 0;
	buf_init(&r->body, HTTP_BODY_LIMIT);
	r->json = NULL;
	r->headers = json_object();
}

void http_response_release(struct http_response *r)
{
	buf_release(&r->body);
	json_decref(r->json);
	json_decref(r->headers);
	r->json = NULL;
	r->headers = NULL;
	r->status = 0;
}

static void http_response_reset(struct http_response *r)
{
	buf_reset(&r->body);
	json_decref(r->json);
	r->json = NULL;
	json_object_clear(r->headers);
	r->status = 0;
}

const char *http_header(const struct http_response *r, const char *name)
{
	return r->headers ? json_string_value(json_object_get(r->headers, name)) : NULL;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct http_response *r = arg;
	size_t n = size * nmemb;
	return buf_add(&r->body, data, n) == 0 ? n : 0;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct http_response *r = arg;
	size_t n = size * nmemb;
	const char *colon = memchr(data, ':', n);
	if (!colon) {
		/* A status line starts a new header block (after a 100 Continue). */
		if (n > 5 && strncmp(data, "HTTP/", 5) == 0)
			json_object_clear(r->headers);
		return n;
	}
	size_t klen = (size_t)(colon - data);
	if (klen == 0 || klen > 128)
		return n;
	char key[129];
	for (size_t i = 0; i < klen; i++)
		key[i] = (char)tolower((unsigned char)data[i]);
	key[klen] = '\0';
	const char *v = colon + 1;
	const char *end = data + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	json_object_set_new(r->headers, key, json_stringn(v, (size_t)(end - v)));
	return n;
}

static long header_long(const struct http_response *r, const char *name, bool *ok)
{
	const char *v = http_header(r, name);
	*ok = false;
	if (!v || !*v)
		return 0;
	char *end;
	errno = 0;
	long x = strtol(v, &end, 10);
	if (errno || *end)
		return 0;
	*ok = true;
	return x;
}

static double now_real(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * When an empty budget has a request again: a gradual one after one
 * request's share of the time until it is full (with a margin: the reset is
 * rounded up to a second, and the answer took a moment to arrive), else at
 * the reset.
 */
static double budget_back_at(const struct http_client *c)
{
	double now = now_real(), until = (double)c->rl_reset;

	if (c->rl_gradual && c->rl_limit > 0 && until > now) {
		double share = (until - now) / (double)c->rl_limit * 1.25;
		return now + (share > 0.05 ? share : 0.05);
	}
	return until;
}

/*
 * An answer (r) or a failure (r NULL) of one request in flight.  The
 * remaining count the server reports was taken when it counted this request;
 * the requests it may have counted after it are the ones in flight when
 * this one was sent and those sent since (budget_take's mark plus the
 * requests sent so far).  The count less those is a floor of what is left;
 * so is the floor an earlier answer gave less what was sent since, so the
 * higher of the two is kept.  A count of 0 spends the budget until the reset.
 */
static void budget_answer(struct http_client *c, const struct http_response *r, long mark)
{
	bool ok;
	long v, others, floor_now;

	pthread_mutex_lock(&c->lock);
	c->in_flight--;
	others = mark + (long)c->sent;
	if (r) {
		v = header_long(r, "ratelimit-limit", &ok);
		if (ok)
			c->rl_limit = v;
		v = header_long(r, "ratelimit-reset", &ok);
		if (ok)
			c->rl_reset = (time_t)v;
		v = header_long(r, "ratelimit-remaining", &ok);
		if (ok) {
			floor_now = v > others ? v - others : 0;
			if (c->rl_remaining < floor_now)
				c->rl_remaining = floor_now;
			if (v == 0) {
				double back = budget_back_at(c);
				if (back > c->rl_spent_until)
					c->rl_spent_until = back;
			}
		}
	}
	pthread_mutex_unlock(&c->lock);
}

/*
 * Take one request from the budget: 0 when it may be sent now (counted;
 * *mark, for budget_answer, is the requests under way besides it less the
 * requests sent so far), else the seconds to wait first: for the reset a
 * response named when it said none remain (*for_reset), or a moment for
 * the answers in flight.  With no floor known (at the start, when the server
 * names no budget, and after a reset) requests go out freely the first time
 * and one at a time afterwards, until an answer tells the budget again: a
 * budget the server has named once is never guessed at.
 */
static double budget_take(struct http_client *c, const char *method, bool *for_reset, long *mark)
{
	double d = 0;

	*for_reset = false;
	pthread_mutex_lock(&c->lock);
	if (c->rl_spent_until > 0) {
		d = c->rl_spent_until - now_real();
		if (d > 0) {
			d += 0.05;
			*for_reset = true;
			c->rate_waits++;
		} else {
			/* the reset has passed: unknown until told */
			c->rl_spent_until = 0;
			c->rl_remaining = -1;
			d = 0;
		}
	}
	if (d == 0 && c->rl_remaining <= 0 && c->rl_limit >= 0 && c->in_flight > 0)
		d = 0.05; /* none known to be left: their answers tell the budget */
	if (d == 0) {
		if (c->rl_remaining > 0)
			c->rl_remaining--;
		c->in_flight++;
		c->sent++;
		*mark = c->in_flight - 1 - (long)c->sent;
		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
			c->sent_writes++;
	}
	pthread_mutex_unlock(&c->lock);
	return d;
}

static void count(struct http_client *c, unsigned long *counter)
{
	pthread_mutex_lock(&c->lock);
	(*counter)++;
	pthread_mutex_unlock(&c->lock);
}

/* When a 429 says to try again, from Retry-After or RateLimit-Reset (0: it does not). */
static time_t rate_until(const struct http_response *r)
{
	bool ok;
	long v = header_long(r, "retry-after", &ok);
	if (ok && v >= 0)
		return time(NULL) + (time_t)v;
	v = header_long(r, "ratelimit-reset", &ok);
	if (ok && v > 0)
		return (time_t)v;
	return 0;
}

static double backoff(const struct http_client *c, int attempt)
{
	double cap = c->backoff_base_s;
	for (int i = 0; i < attempt && cap < c->backoff_max_s; i++)
		cap *= 2;
	if (cap > c->backoff_max_s)
		cap = c->backoff_max_s;
	/* Equal jitter: clients spread out, and none comes back sooner than half the step. */
	return cap * (0.5 + 0.5 * http_random01());
}

/* Retry-After in seconds, when the response names one (else -1). */
static double retry_after(const struct http_response *r)
{
	bool ok;
	long v = header_long(r, "retry-after", &ok);

	return ok && v >= 0 ? (double)v : -1;
}

double http_retry_delay(const struct http_client *c, const struct http_response *r, int attempt)
{
	double d = r ? retry_after(r) : -1;

	if (d > c->max_wait_s)
		d = c->max_wait_s;
	return d >= 0 ? d : backoff(c, attempt);
}

void http_pause(double seconds)
{
	http_sleep(seconds);
}

static bool method_is_safe(const char *method)
{
	return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ||
	       strcmp(method, "PUT") == 0 || strcmp(method, "DELETE") == 0;
}

/* Transport errors where the request surely never reached the server. */
static bool not_sent(CURLcode rc)
{
	return rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
	       rc == CURLE_COULDNT_RESOLVE_PROXY;
}

static bool is_json_type(const char *ct)
{
	return ct && (strstr(ct, "application/json") || strstr(ct, "+json"));
}

/* A 409 that waiting cannot resolve: a name already taken (Hetzner's uniqueness_error). */
static bool permanent_conflict(const struct http_response *r)
{
	if (r->status != 409 || !r->body.len)
		return false;
	json_t *j = json_loadb(r->body.s, r->body.len, 0, NULL);
	const char *code = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
	bool permanent = code && strcmp(code, "uniqueness_error") == 0;
	json_decref(j);
	return permanent;
}

static int send_once(struct http_client *c, const char *method, const char *url,
                     const struct http_opts *o, const char *body, bool unsafe_ok,
                     struct http_response *r, CURLcode *rc_out, char *curl_err)
{
	CURL *h = NULL;

	pthread_mutex_lock(&c->lock);
	if (c->n_idle)
		h = c->idle[--c->n_idle];
	pthread_mutex_unlock(&c->lock);
	if (!h && !(h = curl_easy_init())) {
		*rc_out = CURLE_FAILED_INIT;
		snprintf(curl_err, CURL_ERROR_SIZE, "cannot start an HTTP client");
		return -1;
	}
	curl_easy_reset(h);
	struct curl_slist *hdr = NULL;
	hdr = curl_slist_append(hdr, c->auth_header);
	char *accept = xasprintf("Accept: %s", o->accept ? o->accept : "application/json");
	hdr = curl_slist_append(hdr, accept);
	char *ctype = NULL;
	if (body) {
		ctype = xasprintf("Content-Type: %s",
		                  o->content_type ? o->content_type : "application/json");
		hdr = curl_slist_append(hdr, ctype);
	}
	char *ifm = NULL;
	if (o->if_match) {
		ifm = xasprintf("If-Match: %s", o->if_match);
		hdr = curl_slist_append(hdr, ifm);
	}
	hdr = curl_slist_append(hdr, "Expect:");

	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	if (body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	}
	/* curl resends a request by itself when a reused connection proves dead;
	 * a request that must not run twice gets a connection of its own. */
	if (!unsafe_ok)
		curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "provision/1");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, c->timeout_s);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, c->connect_timeout_s);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	/* plain http goes to loopback only: never through a proxy named in the environment */
	if (strncasecmp(url, "https://", 8))
		curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err);
	curl_err[0] = '\0';

	CURLcode rc = curl_easy_perform(h);
	*rc_out = rc;
	if (rc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	/* the error buffer and the callbacks' data belong to this call only */
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	pthread_mutex_lock(&c->lock);
	PV_GROW(c->idle, c->n_idle + 1, c->alloc_idle);
	c->idle[c->n_idle++] = h;
	pthread_mutex_unlock(&c->lock);

	curl_slist_free_all(hdr);
	free(accept);
	free(ctype);
	free(ifm);
	return rc == CURLE_OK ? 0 : -1;
}

/* The URL for messages: the request target without any query string. */
static void url_for_message(const char *method, const char *path, char *out, size_t n)
{
	size_t plen = strcspn(path, "?");
	snprintf(out, n, "%s %.*s", method, (int)(plen > 300 ? 300 : plen), path);
}

int http_request(struct http_client *c, const char *method, const char *path,
                 const struct http_opts *opts, struct http_response *r, struct pv_error *err)
{
	static const struct http_opts none = {0};
	const struct http_opts *o = opts ? opts : &none;
	char what[400];
	url_for_message(method, path, what, sizeof what);
	if (path[0] != '/')
		return pv_error_set(err, "%s: path must start with '/'", what);

	char *url = xasprintf("%s%s", c->base, path);
	char *body = NULL;
	if (o->body) {
		body = json_dumps(o->body, JSON_COMPACT);
		if (!body) {
			free(url);
			return pv_error_set(err, "%s: request body cannot be encoded", what);
		}
	} else if (o->raw_body) {
		body = xstrdup(o->raw_body);
	}

	bool safe = method_is_safe(method) || (o->flags & HTTP_IDEMPOTENT);
	int attempts = (o->flags & HTTP_NO_RETRY) ? 1 : c->max_attempts;
	int rv = -1;
	char curl_err[CURL_ERROR_SIZE];
	double held = 0; /* this request's time held back by the rate budget */

	for (int attempt = 0;; attempt++) {
		/* Spend no more than the budget: wait for the reset when none is left. */
		bool for_reset;
		long mark = 0;
		double wait = budget_take(c, method, &for_reset, &mark);
		if (wait > c->max_wait_s) {
			pv_error_set(err,
			             "%s: rate limit exhausted and the reset is %.0f s away "
			             "(limit %.0f s)",
			             what, wait, c->max_wait_s);
			break;
		}
		if (wait > 0) {
			pthread_mutex_lock(&c->lock);
			double until = c->rl_spent_until;
			bool first = c->rate_waits == 1;
			pthread_mutex_unlock(&c->lock);
			if (for_reset && (wait >= 1 || first))
				http_note(c,
				          c->rl_gradual
				              ? "API rate budget used up; waiting %.1f s, "
				                "then sending as it refills"
				              : "API rate budget used up; waiting %.1f s "
				                "for the reset",
				          wait);
			http_sleep(wait);
			held += wait;
			pthread_mutex_lock(&c->lock);
			if (for_reset && c->rl_spent_until == until) {
				/* waited for: unknown until told */
				c->rl_spent_until = 0;
				c->rl_remaining = -1;
			}
			pthread_mutex_unlock(&c->lock);
			attempt--; /* a wait for the budget is not an attempt */
			continue;
		}

		http_response_reset(r);
		CURLcode rc = CURLE_OK;
		int sent = send_once(c, method, url, o, body, safe, r, &rc, curl_err);
		bool last = attempt + 1 >= attempts;

		budget_answer(c, sent == 0 ? r : NULL, mark);
		if (sent != 0) {
			const char *why = curl_err[0] ? curl_err : curl_easy_strerror(rc);
			if (last || !(safe || not_sent(rc))) {
				pv_error_set(
				    err, "%s: %s%s", what, why,
				    safe || not_sent(rc)
				        ? ""
				        : " (not repeated: the request may have been carried "
				          "out)");
				break;
			}
			double d = backoff(c, attempt);
			http_note(c, "%s: %s; retrying in %.1f s", what, why, d);
			count(c, &c->retries);
			http_sleep(d);
			continue;
		}

		long st = r->status;
		if (st == 429 && !last) {
			time_t until = rate_until(r);
			double d = until > 0 ? difftime(until, time(NULL)) : backoff(c, attempt);
			if (d > c->max_wait_s) {
				pv_error_set(
				    err, "%s: rate limited, reset is %.0f s away (limit %.0f s)",
				    what, d, c->max_wait_s);
				break;
			}
			http_note(c, "%s: refused for the rate (429)", what);
			pthread_mutex_lock(&c->lock);
			c->retries++;
			/* every request waits for the reset, not this one alone */
			if ((double)until > c->rl_spent_until)
				c->rl_spent_until = (double)until;
			c->rl_remaining = 0;
			unsigned long n429 = ++c->rate_limited;
			pthread_mutex_unlock(&c->lock);
			if (until <= 0) {
				pthread_mutex_lock(&c->lock);
				c->rate_waits++;
				pthread_mutex_unlock(&c->lock);
				http_sleep(d);
				held += d;
			}
			attempt--; /* a rate-limit wait is not a failed attempt */
			if (n429 > 1000) {
				pv_error_set(err, "%s: rate limited too many times", what);
				break;
			}
			continue;
		}
		if ((st == 409 || st == 423) && !last && !permanent_conflict(r)) {
			double d = backoff(c, attempt);
			http_note(c, "%s: HTTP %ld (busy); retrying in %.1f s", what, st, d);
			count(c, &c->retries);
			http_sleep(d);
			continue;
		}
		if (st >= 500 && safe && !last) {
			double d = http_retry_delay(c, r, attempt);
			http_note(c, "%s: HTTP %ld; retrying in %.1f s", what, st, d);
			count(c, &c->retries);
			http_sleep(d);
			continue;
		}

		if (r->body.len > 0 && is_json_type(http_header(r, "content-type"))) {
			json_error_t je;
			r->json = json_loadb(r->body.s, r->body.len, 0, &je);
			if (!r->json && st < 400) {
				pv_error_set(err, "%s: HTTP %ld with a body that is not JSON: %s",
				             what, st, je.text);
				break;
			}
		}
		rv = 0;
		break;
	}
	if (held > 0) {
		pthread_mutex_lock(&c->lock);
		c->rate_held++;
		c->rate_held_s += held;
		if (held > c->rate_held_max_s)
			c->rate_held_max_s = held;
		pthread_mutex_unlock(&c->lock);
	}

	if (body) {
		explicit_bzero(body, strlen(body));
		free(body);
	}
	free(url);
	return rv;
}

int http_fail(const struct http_response *r, struct pv_error *err, const char *what, ...)
{
	va_list ap;
	va_start(ap, what);
	char *w = xvasprintf(what, ap);
	va_end(ap);

	const char *code = NULL, *msg = NULL;
	const json_t *j = r->json;
	if (json_is_object(j)) {
		const json_t *e = json_object_get(j, "error");
		if (json_is_object(e)) {
			code = json_string_value(json_object_get(e, "code"));
			msg = json_string_value(json_object_get(e, "message"));
		} else {
			code = json_string_value(json_object_get(j, "id"));
			msg = json_string_value(json_object_get(j, "message"));
		}
	}
	if (code || msg) {
		pv_error_set(err, "%s: HTTP %ld%s%s%s%s", w, r->status, code ? " " : "",
		             code ? code : "", msg ? ": " : "", msg ? msg : "");
	} else {
		size_t n =
		    r->body.len < HTTP_ERROR_BODY_SHOWN ? r->body.len : HTTP_ERROR_BODY_SHOWN;
		char shown[HTTP_ERROR_BODY_SHOWN + 1];
		size_t k = 0;
		for (size_t i = 0; i < n; i++) {
			unsigned char ch = (unsigned char)r->body.s[i];
			shown[k++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : ' ';
		}
		shown[k] = '\0';
		pv_error_set(err, "%s: HTTP %ld%s%s", w, r->status, k ? ": " : "", shown);
	}
	free(w);
	return -1;
}

char *http_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out = xmalloc(n * 3 + 1);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
			out[k++] = (char)ch;
		} else {
			out[k++] = '%';
			out[k++] = hex[ch >> 4];
			out[k++] = hex[ch & 15];
		}
	}
	out[k] = '\0';
	return out;
}

/* Is there a page after this one? */
static bool has_next(const json_t *body, enum http_paging paging)
{
	if (paging == HTTP_PAGES_HETZNER) {
		const json_t *p = json_object_get(json_object_get(body, "meta"), "pagination");
		return json_integer_value(json_object_get(p, "next_page")) > 0;
	}
	const json_t *pages = json_object_get(json_object_get(body, "links"), "pages");
	return json_is_string(json_object_get(pages, "next"));
}

int http_get_all(struct http_client *c, const char *path, const char *key, enum http_paging paging,
                 json_t **items, struct pv_error *err)
{
	json_t *all = json_array();
	int per_page = paging == HTTP_PAGES_HETZNER ? 50 : 200;
	const char *sep = strchr(path, '?') ? "&" : "?";
	for (int page = 1; page <= 10000; page++) {
		char *p = xasprintf("%s%spage=%d&per_page=%d", path, sep, page, per_page);
		struct http_response r;
		http_response_init(&r);
		int rc = http_request(c, "GET", p, NULL, &r, err);
		free(p);
		if (rc != 0) {
			http_response_release(&r);
			json_decref(all);
			return -1;
		}
		if (r.status != 200) {
			http_fail(&r, err, "GET %.*s", (int)strcspn(path, "?"), path);
			http_response_release(&r);
			json_decref(all);
			return -1;
		}
		json_t *arr = json_object_get(r.json, key);
		if (!json_is_array(arr)) {
			pv_error_set(err, "GET %.*s: response has no \"%s\" list",
			             (int)strcspn(path, "?"), path, key);
			http_response_release(&r);
			json_decref(all);
			return -1;
		}
		json_array_extend(all, arr);
		bool more = has_next(r.json, paging) && json_array_size(arr) > 0;
		http_response_release(&r);
		if (!more) {
			*items = all;
			return 0;
		}
	}
	json_decref(all);
	return pv_error_set(err, "GET %.*s: more than 10000 pages", (int)strcspn(path, "?"), path);
}

/*
 * http.h - a small JSON-over-HTTPS client for provider APIs (libcurl, jansson).
 *
 * One client serves every thread of a run: each request borrows one of the
 * client's curl handles (with its connection cache) and gives it back, and
 * the counters and the rate budget are shared under the client's lock, so
 * concurrent requests together spend no more than the budget the API allows.
 * The bearer token lives only in the client and in the Authorization header
 * handed to curl; it is never part of an error message, a note or a URL, and
 * it is wiped when the client is released.
 *
 * Retries, in one place for every provider:
 *   - 429: wait until the reset the response names (Retry-After in seconds,
 *     or RateLimit-Reset as a Unix time), then send again.  Each request
 *     sent counts against the remaining budget the last response named, and
 *     the answer of one still in flight may not count it yet: when none is
 *     left, the client waits for the answers in flight, and once a response
 *     said none remain, for the reset it named, before sending at all (a
 *     later answer can only make that wait longer).  Answers may arrive in
 *     another order than the server counted their requests in: a request
 *     sent while N others were under way treats N remaining as none.  So
 *     concurrent requests never spend more than the budget the headers
 *     allow.
 *   - 409 and 423 (conflict, locked): retried with backoff; the resource is
 *     busy with another action and will be free soon.  A name already taken
 *     (Hetzner's uniqueness_error) is returned at once: waiting cannot help.
 *   - 5xx and transport errors: retried after the Retry-After the response
 *     names, else with exponential backoff from 1 s and equal jitter, but only for requests that
 * are safe to repeat (GET, PUT, DELETE, or HTTP_IDEMPOTENT).  A POST that creates something is not
 *     repeated blindly: its response may have been lost after the provider
 *     acted, so the caller must look (list by label) before creating again.
 *
 * http_request() returns 0 once a response has arrived (any status; check
 * resp->status), and -1 when no usable response came (transport failure
 * after the retries, or a budget that ran out), with the reason in *err.
 */
#ifndef PROVISION_HTTP_H
#define PROVISION_HTTP_H

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include <jansson.h>

#include "provision/buf.h"
#include "provision/common.h"

/* Called for waits and retries ("rate limited; waiting 12 s"); may be NULL. */
typedef void (*http_note_fn)(void *arg, const char *msg);

struct http_client {
	char *base; /* scheme://host[:port][/prefix], no trailing slash */
	char *auth_header; /* "Authorization: Bearer ..." (secret) */
	pthread_mutex_t lock; /* guards the handles, the budget and the counters */
	void **idle; /* curl handles not in use */
	size_t n_idle, alloc_idle;

	/* Policy; http_client_init sets defaults, callers may change them. */
	long timeout_s; /* one attempt, whole transfer (default 60) */
	long connect_timeout_s; /* default 10 */
	int max_attempts; /* per request, including the first (default 6) */
	double backoff_base_s; /* first backoff (default 1 s) */
	double backoff_max_s; /* cap on one backoff (default 20 s) */
	double max_wait_s; /* longest single rate-limit wait (default 3600 s) */

	http_note_fn note;
	void *note_arg;

	/*
	 * The rate budget: at least this many requests are left (-1: unknown),
	 * from the server's last reports less the requests sent since (see
	 * budget_answer); in_flight counts those without an answer.
	 */
	long rl_limit;
	long rl_remaining;
	time_t rl_reset;
	double rl_spent_until; /* none remain: nothing is sent before this (epoch seconds) */
	/*
	 * How the budget comes back.  Gradual (Hetzner): it refills evenly and
	 * RateLimit-Reset is when it is full again, so an empty budget waits for
	 * one request's share of that time.  Otherwise (DigitalOcean) the reset
	 * is when requests are freed, and an empty budget waits for it.
	 */
	bool rl_gradual;
	long in_flight;

	/* Counters (requests actually sent on the wire). */
	unsigned long sent;
	unsigned long sent_writes; /* methods other than GET and HEAD */
	unsigned long retries;
	unsigned long rate_waits; /* every pause for the budget, of every request */
	unsigned long rate_limited; /* answers 429 */
	/* requests the rate budget held back (once or more), their pauses summed, the longest */
	unsigned long rate_held;
	double rate_held_s;
	double rate_held_max_s;
};

enum http_flags {
	HTTP_IDEMPOTENT = 1 << 0, /* safe to repeat after a 5xx or transport error */
	HTTP_NO_RETRY = 1 << 1, /* one attempt, whatever happens */
};

struct http_opts {
	unsigned flags;
	const json_t *body; /* sent as application/json */
	const char *raw_body; /* or this text, with content_type */
	const char *content_type;
	const char *accept; /* default application/json */
	const char *if_match; /* ETag for optimistic concurrency */
};

struct http_response {
	long status; /* 0 until a response arrived */
	struct buf body;
	json_t *json; /* parsed body when it is JSON, else NULL */
	json_t *headers; /* object: lower-case name -> last value */
};

/*
 * Whether url may carry a bearer token: https://, or plain http:// only to a
 * loopback host (127.0.0.0/8, [::1], localhost), and no user information.
 * http_client_init refuses any other base, before any request.
 */
int http_endpoint_check(const char *url, struct pv_error *err);

int http_client_init(struct http_client *c, const char *base, const char *token,
                     struct pv_error *err);
void http_client_release(struct http_client *c);

void http_response_init(struct http_response *r);
void http_response_release(struct http_response *r);

/*
 * How long to wait before attempt+1 (0 = the first retry): the response's
 * Retry-After (at most max_wait_s), else the client's exponential backoff
 * with jitter.  r may be NULL (no answer came).
 */
double http_retry_delay(const struct http_client *c, const struct http_response *r, int attempt);

/* Sleep that long (seconds), whatever signals arrive. */
void http_pause(double seconds);

/* A response header by lower-case name, or NULL. */
const char *http_header(const struct http_response *r, const char *name);

/*
 * Send METHOD base+path (path starts with '/', may carry a query already
 * escaped by the caller; see http_escape).  opts may be NULL.
 */
int http_request(struct http_client *c, const char *method, const char *path,
                 const struct http_opts *opts, struct http_response *resp, struct pv_error *err);

/*
 * Describe a failed response for a message: "HTTP 422 invalid_input: name is
 * already used".  Understands the error bodies of Hetzner
 * ({"error":{"code","message"}}), DigitalOcean ({"id","message"}) and
 * Tailscale ({"message"}).  Sets *err to "WHAT: <that>" and returns -1.
 */
int http_fail(const struct http_response *r, struct pv_error *err, const char *what, ...)
    __attribute__((format(printf, 3, 4)));

/* Percent-encode s for a query value or a path segment (caller frees). */
char *http_escape(const char *s);

enum http_paging {
	HTTP_PAGES_HETZNER, /* ?page=N&per_page=50; meta.pagination.next_page */
	HTTP_PAGES_DIGITALOCEAN, /* ?page=N&per_page=200; links.pages.next */
};

/*
 * GET every page of a list and return the concatenation of the arrays found
 * under key (a new reference in *items).  path may carry a query (for a label
 * selector or a tag); paging parameters are appended.
 */
int http_get_all(struct http_client *c, const char *path, const char *key, enum http_paging paging,
                 json_t **items, struct pv_error *err);

#endif

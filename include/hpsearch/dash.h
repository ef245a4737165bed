/* The dashboard's request targets (docs/dashboard.md): which page or API a
 * request asks for and its validated query arguments, decided from the raw
 * request target (path and query string, before any decoding) and the
 * method. HTTP itself (request lines, headers, bodies, limits) is
 * libmicrohttpd's; this is only the application's reading of the target, in
 * one place, fuzzed by tests/fuzz/fuzz_dash_request.c.
 *
 * Also here: the embedded page (dash/assets.c) and the token check. */
#ifndef HPSEARCH_DASH_H
#define HPSEARCH_DASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hpsearch/err.h"

/* Longest request target read (path + query); the server refuses longer
 * ones with 414 before this is called. */
#define HP_DASH_TARGET_MAX 8192
/* Longest study name (the store's limit). */
#define HP_DASH_NAME_MAX 512
/* The token: 32 random bytes written as 64 hex digits. */
#define HP_DASH_TOKEN_LEN 64

typedef enum hp_dash_route {
  HP_DASH_PAGE = 0,   /* GET /            the page (HTML with its script and style) */
  HP_DASH_STUDIES,    /* GET /api/studies  study summaries, daemon or not */
  HP_DASH_STUDY,      /* GET /api/study?study=S   one summary with its spec */
  HP_DASH_COLUMNS,    /* GET /api/columns?study=S[&from=N]   trials as columns (view/) */
  HP_DASH_EVENTS,     /* GET /api/events[?since=SEQ]   long poll for live events */
  HP_DASH_ACTION,     /* POST /api/action?study=S&do=stop|resume|enqueue   through the daemon */
  HP_DASH_FAVICON,    /* GET /favicon.ico  (204: browsers ask for it) */
  HP_DASH_IMPORTANCE, /* GET /api/importance?study=S[&evaluator=ped-anova|fanova]   (view/) */
  HP_DASH_ADVISE,     /* GET /api/advise?study=S   tuning advice (view/) */
  HP_DASH_NROUTES
} hp_dash_route_t;

typedef enum hp_dash_action {
  HP_DASH_ACT_NONE = 0,
  HP_DASH_ACT_STOP,
  HP_DASH_ACT_RESUME,
  HP_DASH_ACT_ENQUEUE,
} hp_dash_action_t;

/* A request as the dashboard reads it. */
typedef struct hp_dash_req {
  hp_dash_route_t route;
  char study[HP_DASH_NAME_MAX + 1];    /* study=, decoded ("" when absent) */
  bool has_study;
  int64_t from;                        /* from= (trial number), 0 when absent */
  int64_t since;                       /* since= (event sequence), -1 when absent */
  hp_dash_action_t action;             /* do= */
  char token[HP_DASH_TOKEN_LEN + 1];   /* token= ("" when absent) */
  bool fanova;                         /* evaluator=fanova (default ped-anova) */
} hp_dash_req_t;

/* Reads method + raw request target (len bytes, not NUL-terminated). On
 * failure returns a negative HP_E* code, sets *status to the HTTP status to
 * answer (400 malformed or traversal, 404 no such page, 405 wrong method,
 * 414 too long) and err to a message naming the part at fault
 * ("query: study: not valid UTF-8"). */
int hp_dash_request_parse(const char *method, const char *target, size_t len,
                          hp_dash_req_t *out, int *status, hp_err_t *err);

/* Constant-time comparison of a presented token with the server's. */
bool hp_dash_token_equal(const char *given, const char *expected);
/* The Host header check against DNS rebinding (a page of another site whose
 * name is made to resolve to 127.0.0.1 would otherwise reach the server as
 * "same origin"): host (the header's value, NULL when absent) must name the
 * port the dashboard listens on and, as its host, the listening address as
 * printed (bound: "127.0.0.1", "[::1]", ...), "localhost", or, when it
 * listens on every address (wildcard), any IP address literal; a name
 * someone else's DNS controls never passes. An absent header passes (an
 * HTTP/1.0 client; browsers always send one). */
bool hp_dash_host_ok(const char *host, const char *bound, unsigned port, bool wildcard);
/* A new token from the kernel's random source (getrandom). */
int hp_dash_token_new(char out[HP_DASH_TOKEN_LEN + 1], hp_err_t *err);

/* ---- the page (dash/assets.c, from dash/web/) ------------------------- */
/* The page's HTML, style and script as built into the binary (NUL-terminated). */
extern const char hp_dash_html[], hp_dash_css[], hp_dash_js[];

/* The whole page as one HTML text: style and script inlined, and, when data
 * is not NULL, that text as the page's data (a self-contained report: a
 * JSON text placed in a <script type="application/json"> element, "</" made
 * safe). Caller frees; NULL if out of memory. */
char *hp_dash_page(const char *data, size_t data_len, size_t *len);

#endif

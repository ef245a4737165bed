/* `hpsearch dashboard [--db FILE] [--listen ADDR:PORT] [--socket PATH]`: a
 * web page of the studies in a database (docs/dashboard.md).
 *
 * HTTP is libmicrohttpd's, on its one internal polling thread, which only
 * reads requests, routes them and writes replies: whatever reads the
 * database runs on a lane (cli/dash.h), a thread with its own read-only
 * connection, while the request waits suspended, so a slow reply
 * (importance of 100,000 trials) never holds up the others and the long
 * polls. The lanes keep the columns of the last studies asked for and
 * their summaries while the file is unchanged. Data always comes from the
 * database file through store/ and view/, so any Optuna-schema file works
 * with no daemon. The live
 * thread (cli/dash_live.c) follows the daemon that owns the file through
 * its event stream, or the file's data_version without one, and wakes the
 * pages' long polls. Actions (stop, resume, enqueue) go to that daemon over
 * its socket, which only lets in its own uid. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "dash.h"
#include "dash_mhd.h"
#include "hpsearch/dash.h"
#include "hpsearch/json.h"
#include "hpsearch/rpc.h"

/* Limits (docs/dashboard.md, "Security"). */
#define CONN_LIMIT 64          /* connections at once */
#define CONN_TIMEOUT 10        /* seconds a connection may stay idle */
#define CONN_MEMORY (32 << 10) /* request line + headers of one connection */
#define BODY_MAX (64 << 10)    /* a POST body */

/* A reply built off libmicrohttpd's thread, queued when the request resumes. */
typedef struct reply {
  unsigned status;
  const char *type;     /* static text */
  char *buf;            /* owned (NULL: empty) */
  size_t len;
  hp_dash_blob_t *blob; /* instead of buf: shared bytes (a reference held) */
} reply_t;

static hp_dash_blob_t *blob_ref(hp_dash_blob_t *b) {
  if (b) __atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
  return b;
}

static void blob_unref(void *cls) {
  hp_dash_blob_t *b = cls;
  if (b && __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0) {
    free(b->p);
    free(b);
  }
}

static ssize_t blob_read(void *cls, uint64_t pos, char *buf, size_t max) {
  hp_dash_blob_t *b = cls;
  if (pos >= b->len) return MHD_CONTENT_READER_END_OF_STREAM;
  size_t n = b->len - (size_t)pos < max ? b->len - (size_t)pos : max;
  memcpy(buf, b->p + pos, n);
  return (ssize_t)n;
}

/* One request's state (MHD's con_cls), made by the URI log callback. */
typedef struct hp_dash_job {
  char *target;          /* raw request target (owned) */
  bool started;          /* the first call of the handler happened */
  hp_sbuf_t body;        /* POST body */
  bool body_too_big;
  bool waiting;          /* suspended in a long poll (listed in dash->waiters) */
  double deadline;       /* when a long poll answers empty */
  /* on a lane: suspended until the lane has built the reply */
  struct MHD_Connection *con;
  hp_dash_req_t q;
  struct hp_dash_job *next;
  bool replied;          /* reply is ready: queue it */
  reply_t reply;
} conn_t;

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *con) {
  (void)cls;
  (void)con;
  conn_t *c = calloc(1, sizeof *c);
  if (c != NULL) c->target = strdup(uri ? uri : "");
  return c;
}

static void on_completed(void *cls, struct MHD_Connection *con, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)con;
  (void)toe;
  conn_t *c = *con_cls;
  if (c == NULL) return;
  free(c->target);
  free(c->body.p);
  free(c->reply.buf);
  blob_unref(c->reply.blob);
  free(c);
  *con_cls = NULL;
}

/* ---- responses ----------------------------------------------------------- */

static enum MHD_Result send_response(struct MHD_Connection *con, unsigned status,
                                     struct MHD_Response *r, const char *type, bool page) {
  if (r == NULL) return MHD_NO;
  MHD_add_response_header(r, "Content-Type", type);
  MHD_add_response_header(r, "Cache-Control", "no-store");
  MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
  /* The page's address holds the token: never sent on as a referrer. */
  MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
  MHD_add_response_header(r, "X-Frame-Options", "DENY");
  if (page)
    /* Nothing is loaded from anywhere but this page and this server. */
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'none'; script-src 'unsafe-inline'; "
                            "style-src 'unsafe-inline'; img-src data: blob:; connect-src 'self'; "
                            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
  enum MHD_Result ret = MHD_queue_response(con, status, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result send_buf(struct MHD_Connection *con, unsigned status, const char *type,
                                char *buf, size_t len, bool page) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(len, buf, buf ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
  if (r == NULL) free(buf);
  return send_response(con, status, r, type, page);
}

/* Replies (lanes and the HTTP thread alike fill one; the HTTP thread sends it). */
static void reply_buf(reply_t *r, unsigned status, const char *type, char *buf, size_t len) {
  free(r->buf);
  blob_unref(r->blob);
  r->blob = NULL;
  r->status = status;
  r->type = type;
  r->buf = buf;
  r->len = len;
}

/* {"error": message, "status": N} */
static void reply_error(reply_t *r, unsigned status, const char *msg) {
  hp_sbuf_t b = {0};
  hp_sbuf_puts(&b, "{\"error\":");
  hp_sbuf_str(&b, msg);
  hp_sbuf_puts(&b, ",\"status\":");
  hp_sbuf_int(&b, status);
  hp_sbuf_puts(&b, "}");
  if (b.oom) {
    free(b.p);
    reply_buf(r, 500, "application/json", NULL, 0);
    return;
  }
  reply_buf(r, status, "application/json", b.p, b.len);
}

static void reply_json(reply_t *r, cJSON *o) {
  char *t = o ? hp_json_print(o) : NULL;
  cJSON_Delete(o);
  if (t == NULL) reply_error(r, 500, "out of memory");
  else reply_buf(r, 200, "application/json", t, strlen(t));
}

static enum MHD_Result send_reply(struct MHD_Connection *con, reply_t *r) {
  if (r->blob != NULL) { /* the response holds the reference from here on */
    hp_dash_blob_t *b = r->blob;
    r->blob = NULL;
    struct MHD_Response *resp =
        MHD_create_response_from_callback(b->len, 256 << 10, blob_read, b, blob_unref);
    if (resp == NULL) blob_unref(b);
    return send_response(con, r->status, resp, r->type, false);
  }
  char *buf = r->buf;
  r->buf = NULL;
  return send_buf(con, r->status, r->type, buf, r->len, false);
}

static enum MHD_Result send_error(struct MHD_Connection *con, unsigned status, const char *msg) {
  reply_t r = {0};
  reply_error(&r, status, msg);
  return send_reply(con, &r);
}

/* The HTTP status of an error from the store, view or daemon. */
static unsigned status_of(int rc) {
  switch (rc) {
  case HP_ENOSTUDY:
  case HP_ENOTFOUND: return 404;
  case HP_EINVAL:
  case HP_ESPEC:
  case HP_EFORMAT: return 400;
  case HP_ESTATE:
  case HP_ESTOPPED:
  case HP_EEXHAUSTED:
  case HP_ESHUTDOWN: return 409;
  case HP_EPERM: return 403;
  default: return 500;
  }
}

/* ---- work on the lanes ------------------------------------------------------ */

/* A summary's JSON text from the summary cache (name "" = the studies list),
 * or NULL. Kept while the file's data_version is unchanged, for a few
 * seconds at most (a running study's elapsed time moves on). */
static const char *summary_cached(hp_dash_t *d, const char *name, int64_t dv) {
  double now = hp_view_now();
  for (int i = 0; i <= HP_DASH_CACHE; i++)
    if (d->sum[i].text && strcmp(d->sum[i].name, name) == 0 && d->sum[i].data_version == dv &&
        now - d->sum[i].made < HP_DASH_SUMMARY_AGE)
      return d->sum[i].text;
  return NULL;
}

static void summary_keep(hp_dash_t *d, const char *name, int64_t dv, const char *text) {
  int slot = 0;
  for (int i = 0; i <= HP_DASH_CACHE; i++) {
    if (d->sum[i].text == NULL || strcmp(d->sum[i].name, name) == 0) {
      slot = i;
      break;
    }
    if (d->sum[i].made < d->sum[slot].made) slot = i;
  }
  char *t = strdup(text);
  if (t == NULL) return;
  free(d->sum[slot].text);
  d->sum[slot].text = t;
  snprintf(d->sum[slot].name, sizeof d->sum[slot].name, "%s", name);
  d->sum[slot].data_version = dv;
  d->sum[slot].made = hp_view_now();
}

/* /api/studies and /api/study: the summaries (computed once per change of
 * the file), plus the live part ("daemon", "seq") of the studies list. */
static void h_summary(hp_dash_t *d, hp_dash_lane_t *ln, const hp_dash_req_t *q, reply_t *r) {
  hp_err_t err = {0};
  int64_t dv = -1;
  (void)hp_store_data_version(ln->src.store, &dv, NULL);
  const char *name = q->route == HP_DASH_STUDY ? q->study : "";
  const char *text = summary_cached(d, name, dv);
  cJSON *o = NULL;
  if (text == NULL) {
    int rc = q->route == HP_DASH_STUDY ? hp_cli_src_study(&ln->src, q->study, &o, &err)
                                       : hp_cli_src_studies(&ln->src, &o, &err);
    if (rc < 0) {
      reply_error(r, status_of(rc), err.msg);
      return;
    }
    char *t = hp_json_print(o);
    if (t != NULL) summary_keep(d, name, dv, t);
    free(t);
  } else if (hp_json_parse(text, strlen(text), "summary", &o, NULL) < 0) {
    o = NULL;
  }
  if (o == NULL) {
    reply_error(r, 500, "out of memory");
    return;
  }
  if (q->route == HP_DASH_STUDY) {
    reply_json(r, o);
    return;
  }
  cJSON *w = cJSON_CreateObject();
  cJSON_AddItemToObject(w, "studies", o);
  cJSON_AddStringToObject(w, "db", d->db);
  hp_dash_live_describe(d, w);
  reply_json(r, w);
}

/* The study's columns, brought up to date when the file changed since the
 * last request (its data_version moves with every commit of another
 * connection: the daemon's, Optuna's): only the trials from the first
 * unfinished one on are read again. At most HP_DASH_CACHE studies are kept. */
static int cached_columns(hp_dash_t *d, hp_dash_lane_t *ln, int64_t id, hp_view_cols_t **out,
                          hp_err_t *err) {
  int slot = -1;
  for (int i = 0; i < HP_DASH_CACHE && slot < 0; i++)
    if (d->cache[i].cols != NULL && d->cache[i].study_id == id) slot = i;
  if (slot < 0) { /* a free slot, else the least recently used */
    slot = 0;
    for (int i = 0; i < HP_DASH_CACHE; i++) {
      if (d->cache[i].cols == NULL) {
        slot = i;
        break;
      }
      if (d->cache[i].used < d->cache[slot].used) slot = i;
    }
    hp_view_cols_free(d->cache[slot].cols);
    d->cache[slot].cols = NULL;
    blob_unref(d->cache[slot].full);
    d->cache[slot].full = NULL;
  }
  int64_t dv = 0;
  int rc = hp_store_data_version(ln->src.store, &dv, err);
  if (rc < 0) return rc;
  bool fresh = d->cache[slot].cols == NULL;
  if (fresh && (d->cache[slot].cols = hp_view_cols_new()) == NULL)
    return hp_err_set(err, HP_ENOMEM, "out of memory");
  if (fresh || dv != d->cache[slot].data_version) {
    rc = hp_view_cols_update(ln->src.view, ln->src.store, id, d->cache[slot].cols, err);
    if (rc < 0) {
      hp_view_cols_free(d->cache[slot].cols);
      d->cache[slot].cols = NULL;
      blob_unref(d->cache[slot].full);
      d->cache[slot].full = NULL;
      return rc;
    }
  }
  d->cache[slot].study_id = id;
  d->cache[slot].data_version = dv;
  d->cache[slot].used = hp_view_now();
  *out = d->cache[slot].cols;
  return 0;
}

static void h_columns(hp_dash_t *d, hp_dash_lane_t *ln, const hp_dash_req_t *q, reply_t *r) {
  hp_err_t err = {0};
  int64_t id;
  int rc = hp_store_study_find(ln->src.store, q->study, &id, &err);
  if (rc == HP_ENOTFOUND) {
    reply_error(r, 404, "no such study in the database");
    return;
  }
  hp_view_cols_t *cols = NULL;
  if (rc == 0) rc = cached_columns(d, ln, id, &cols, &err);
  if (rc < 0) {
    reply_error(r, status_of(rc), err.msg);
    return;
  }
  int slot = 0;
  while (d->cache[slot].cols != cols) slot++;
  bool full = q->from <= 0;
  if (full && d->cache[slot].full && d->cache[slot].full_version == d->cache[slot].data_version) {
    reply_buf(r, 200, "application/octet-stream", NULL, 0);
    r->blob = blob_ref(d->cache[slot].full);
    return;
  }
  hp_sbuf_t b = {0};
  rc = hp_view_cols_write(cols, q->from, &b, &err);
  if (rc < 0) {
    free(b.p);
    reply_error(r, status_of(rc), err.msg);
    return;
  }
  hp_dash_blob_t *blob = full ? calloc(1, sizeof *blob) : NULL;
  if (blob == NULL) { /* a part: sent once */
    reply_buf(r, 200, "application/octet-stream", b.p, b.len);
    return;
  }
  /* the whole study: kept for the next page load while the file is unchanged */
  *blob = (hp_dash_blob_t){1, b.p, b.len};
  blob_unref(d->cache[slot].full);
  d->cache[slot].full = blob;
  d->cache[slot].full_version = d->cache[slot].data_version;
  reply_buf(r, 200, "application/octet-stream", NULL, 0);
  r->blob = blob_ref(blob);
}

/* Importance and advice: insight's builders in view/ over the file. */
static void h_insight(hp_dash_t *d, hp_dash_lane_t *ln, const hp_dash_req_t *q, reply_t *r) {
  (void)d;
  hp_err_t err = {0};
  int64_t id;
  int rc = hp_store_study_find(ln->src.store, q->study, &id, &err);
  if (rc == HP_ENOTFOUND) {
    reply_error(r, 404, "no such study in the database");
    return;
  }
  cJSON *o = NULL;
  if (rc == 0 && q->route == HP_DASH_IMPORTANCE) {
    hp_imp_opts_t opts;
    hp_imp_opts_default(&opts);
    opts.evaluator = q->fanova ? HP_IMP_FANOVA : HP_IMP_PED_ANOVA;
    rc = hp_view_importance(ln->src.store, id, &opts, &o, &err);
  } else if (rc == 0) {
    rc = hp_view_advise(ln->src.store, id, &o, &err);
  }
  if (rc < 0) reply_error(r, status_of(rc), err.msg);
  else reply_json(r, o);
  /* Both read every trial of the study into many small objects (hundreds
   * of MiB at 100,000 trials), all freed by now: give the free pages of
   * the lanes' malloc arenas back, or they stay resident (the dashboard's
   * resident set settled at 454-477 MiB after three of each at 100,000
   * trials, 283 MiB with this). */
  malloc_trim(0);
}

static void h_action(hp_dash_t *d, conn_t *c, reply_t *r) {
  const hp_dash_req_t *q = &c->q;
  if (c->body_too_big) {
    reply_error(r, 413, "request body over 64 KiB");
    return;
  }
  const char *method = q->action == HP_DASH_ACT_STOP     ? HP_RPC_STUDY_STOP
                       : q->action == HP_DASH_ACT_RESUME ? HP_RPC_STUDY_RESUME
                                                         : HP_RPC_TRIAL_ENQUEUE;
  cJSON *params = cJSON_CreateObject();
  cJSON_AddStringToObject(params, "study", q->study);
  if (q->action == HP_DASH_ACT_ENQUEUE) {
    cJSON *body = NULL;
    hp_err_t perr = {0};
    if (c->body.len == 0 ||
        hp_json_parse(c->body.p, c->body.len, "body", &body, &perr) < 0 || !cJSON_IsObject(body)) {
      cJSON_Delete(body);
      cJSON_Delete(params);
      reply_error(r, 400, perr.msg[0] ? perr.msg : "body: expected a JSON object {\"params\": {...}}");
      return;
    }
    cJSON *p = cJSON_DetachItemFromObjectCaseSensitive(body, "params");
    bool only = body->child == NULL;
    cJSON_Delete(body);
    if (!cJSON_IsObject(p) || !only) {
      cJSON_Delete(p);
      cJSON_Delete(params);
      reply_error(r, 400, "body: expected exactly {\"params\": {NAME: VALUE, ...}}");
      return;
    }
    cJSON_AddItemToObject(params, "params", p);
  }
  char sock[sizeof ((hp_client_t *)0)->path];
  hp_err_t err = {0};
  if (hp_dash_live_socket(d, sock, sizeof sock) < 0) {
    cJSON_Delete(params);
    reply_error(r, 409,
                "no hpsearch daemon runs on this database: stop, resume and enqueue go "
                "through the daemon (start one with: hpsearch daemon --db FILE)");
    return;
  }
  hp_client_t cl;
  int rc = hp_client_connect(&cl, sock, true, 10000, &err);
  cJSON *result = NULL;
  if (rc == 0) rc = hp_client_call(&cl, method, params, &result, &err);
  else cJSON_Delete(params);
  hp_client_close(&cl);
  if (rc < 0) reply_error(r, rc == HP_CLIENT_ENODAEMON ? 409 : status_of(rc), err.msg);
  else reply_json(r, result);
}

/* Builds one request's reply on lane `id` (its thread). */
static void run_job(hp_dash_t *d, hp_dash_lane_id_t id, conn_t *c) {
  hp_dash_lane_t *ln = &d->lane[id];
  reply_t *r = &c->reply;
  switch (c->q.route) {
  case HP_DASH_STUDIES:
  case HP_DASH_STUDY: h_summary(d, ln, &c->q, r); break;
  case HP_DASH_COLUMNS: h_columns(d, ln, &c->q, r); break;
  case HP_DASH_IMPORTANCE:
  case HP_DASH_ADVISE: h_insight(d, ln, &c->q, r); break;
  case HP_DASH_ACTION: h_action(d, c, r); break;
  default: reply_error(r, 500, "no lane for this request"); break;
  }
}

typedef struct lane_arg {
  hp_dash_t *d;
  hp_dash_lane_id_t id;
} lane_arg_t;
static lane_arg_t lane_args[HP_DASH_NLANES];

static void *lane_main(void *arg) {
  lane_arg_t *a = arg;
  hp_dash_t *d = a->d;
  hp_dash_lane_t *ln = &d->lane[a->id];
  pthread_mutex_lock(&ln->mu);
  for (;;) {
    while (ln->head == NULL && !ln->stop) pthread_cond_wait(&ln->cv, &ln->mu);
    conn_t *c = ln->head;
    if (c == NULL) break; /* stopping, nothing left */
    ln->head = c->next;
    if (ln->head == NULL) ln->tail = NULL;
    bool stop = ln->stop;
    pthread_mutex_unlock(&ln->mu);
    if (c->con == NULL) { /* prewarm: the columns of a study, no request */
      hp_view_cols_t *cols;
      hp_err_t err = {0};
      int64_t id;
      if (!stop && hp_store_study_find(ln->src.store, c->q.study, &id, &err) == 0)
        (void)cached_columns(d, ln, id, &cols, &err);
      free(c);
    } else {
      if (stop) reply_error(&c->reply, 503, "the dashboard is stopping");
      else run_job(d, a->id, c);
      c->replied = true;
      MHD_resume_connection(c->con);
    }
    pthread_mutex_lock(&ln->mu);
  }
  pthread_mutex_unlock(&ln->mu);
  return NULL;
}

/* Hands a request to a lane (suspended until its reply is built). */
static enum MHD_Result dispatch(hp_dash_t *d, hp_dash_lane_id_t id, struct MHD_Connection *con,
                                conn_t *c, const hp_dash_req_t *q) {
  hp_dash_lane_t *ln = &d->lane[id];
  c->q = *q;
  c->con = con;
  c->next = NULL;
  pthread_mutex_lock(&ln->mu);
  if (ln->stop) {
    pthread_mutex_unlock(&ln->mu);
    return send_error(con, 503, "the dashboard is stopping");
  }
  /* suspended before the lane can take it: its resume always follows */
  if (con != NULL) MHD_suspend_connection(con);
  if (ln->tail) ln->tail->next = c;
  else ln->head = c;
  ln->tail = c;
  pthread_cond_signal(&ln->cv);
  pthread_mutex_unlock(&ln->mu);
  return MHD_YES;
}

static int lanes_start(hp_dash_t *d, hp_err_t *err) {
  for (int i = 0; i < HP_DASH_NLANES; i++) {
    hp_dash_lane_t *ln = &d->lane[i];
    pthread_mutex_init(&ln->mu, NULL);
    pthread_cond_init(&ln->cv, NULL);
    if (i != HP_DASH_LANE_ACTION) {
      int rc = hp_cli_src_open(&ln->src, NULL, d->db, err);
      if (rc < 0) return rc;
      ln->has_src = true;
    }
    lane_args[i] = (lane_arg_t){d, (hp_dash_lane_id_t)i};
    int e = pthread_create(&ln->th, NULL, lane_main, &lane_args[i]);
    if (e != 0) return hp_err_set(err, -e, "cannot start a thread: %s", strerror(e));
    ln->started = true;
  }
  return 0;
}

/* Each lane finishes the reply it builds; requests still queued get 503. */
static void lanes_stop(hp_dash_t *d) {
  for (int i = 0; i < HP_DASH_NLANES; i++) {
    hp_dash_lane_t *ln = &d->lane[i];
    if (!ln->started) continue;
    pthread_mutex_lock(&ln->mu);
    ln->stop = true;
    pthread_cond_signal(&ln->cv);
    pthread_mutex_unlock(&ln->mu);
    pthread_join(ln->th, NULL);
    ln->started = false;
  }
}

static void lanes_free(hp_dash_t *d) {
  for (int i = 0; i < HP_DASH_NLANES; i++)
    if (d->lane[i].has_src) hp_cli_src_close(&d->lane[i].src);
  for (int i = 0; i < HP_DASH_CACHE; i++) {
    hp_view_cols_free(d->cache[i].cols);
    blob_unref(d->cache[i].full);
  }
  for (int i = 0; i <= HP_DASH_CACHE; i++) free(d->sum[i].text);
}

/* Reads the columns of the newest studies (as many as are kept) before any
 * page asks: the first request of a big study is served from memory. */
static void prewarm(hp_dash_t *d) {
  hp_store_study_info_t *list = NULL;
  size_t n = 0;
  hp_dash_lane_t *ln = &d->lane[HP_DASH_LANE_SUMMARY];
  if (hp_store_study_list(ln->src.store, &list, &n, NULL) < 0) return;
  for (size_t k = 0; k < n && k < HP_DASH_CACHE; k++) {
    conn_t *c = calloc(1, sizeof *c);
    if (c == NULL) break;
    c->q.route = HP_DASH_COLUMNS;
    snprintf(c->q.study, sizeof c->q.study, "%s", list[n - 1 - k].name);
    dispatch(d, HP_DASH_LANE_COLUMNS, NULL, c, &c->q);
  }
  hp_store_study_list_free(list, n);
}

/* ---- handlers on libmicrohttpd's thread -------------------------------------- */

static enum MHD_Result h_page(hp_dash_t *d, struct MHD_Connection *con) {
  (void)d;
  size_t len;
  char *page = hp_dash_page(NULL, 0, &len);
  if (page == NULL) return send_error(con, 500, "out of memory");
  return send_buf(con, 200, "text/html; charset=utf-8", page, len, true);
}

static enum MHD_Result h_events(hp_dash_t *d, struct MHD_Connection *con, conn_t *c,
                                const hp_dash_req_t *q) {
  hp_sbuf_t b = {0};
  pthread_mutex_lock(&d->mu);
  bool ready = q->since < 0 || q->since < d->seq || c->waiting || d->stopping;
  if (!ready && d->n_waiters >= HP_DASH_MAX_WAITERS) {
    pthread_mutex_unlock(&d->mu);
    return send_error(con, 503, "too many pages are waiting for events; try again in a second");
  }
  if (!ready) {
    c->waiting = true;
    c->deadline = hp_view_now() + HP_DASH_POLL_SECONDS;
    d->waiters[d->n_waiters].con = con;
    d->waiters[d->n_waiters].deadline = c->deadline;
    d->n_waiters++;
    MHD_suspend_connection(con);
    pthread_mutex_unlock(&d->mu);
    return MHD_YES;
  }
  hp_dash_live_events(d, q->since, &b); /* under the lock */
  pthread_mutex_unlock(&d->mu);
  if (b.oom) {
    free(b.p);
    return send_error(con, 500, "out of memory");
  }
  return send_buf(con, 200, "application/json", b.p, b.len, false);
}

/* The token presented: the X-HP-Token header, or token= in the query (a
 * page load; never for POST, so no other site's form can act). */
static bool authorized(hp_dash_t *d, struct MHD_Connection *con, const char *method,
                       const hp_dash_req_t *q) {
  const char *h = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "X-HP-Token");
  if (h != NULL) return hp_dash_token_equal(h, d->token);
  if (strcmp(method, "GET") != 0) return false;
  return hp_dash_token_equal(q->token, d->token);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *con, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
  (void)url;
  (void)version;
  hp_dash_t *d = cls;
  conn_t *c = *con_cls;
  if (c == NULL || c->target == NULL) return MHD_NO; /* out of memory: drop it */
  if (c->replied) return send_reply(con, &c->reply); /* back from a lane */
  hp_dash_req_t q;
  hp_err_t err = {0};
  int status;
  int rc = hp_dash_request_parse(method, c->target, strlen(c->target), &q, &status, &err);
  if (!c->started) {
    c->started = true;
    if (rc < 0) return send_error(con, (unsigned)status, err.msg);
    const char *host = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Host");
    if (!hp_dash_host_ok(host, d->host, d->port, d->wildcard))
      return send_error(con, 403, "forbidden: the Host header names another site (a DNS "
                                  "rebinding attempt?); open the address `hpsearch dashboard` "
                                  "printed");
    if (!authorized(d, con, method, &q))
      return send_error(con, 403, "forbidden: the dashboard's token is missing or wrong "
                                  "(open the address `hpsearch dashboard` printed)");
    if (strcmp(method, "POST") == 0) return MHD_YES; /* the body comes next */
  }
  if (*upload_size > 0) {
    if (c->body.len + *upload_size > BODY_MAX) c->body_too_big = true;
    else hp_sbuf_put(&c->body, upload, *upload_size);
    *upload_size = 0;
    return MHD_YES;
  }
  switch (q.route) {
  case HP_DASH_PAGE: return h_page(d, con);
  case HP_DASH_STUDIES:
  case HP_DASH_STUDY: return dispatch(d, HP_DASH_LANE_SUMMARY, con, c, &q);
  case HP_DASH_COLUMNS: return dispatch(d, HP_DASH_LANE_COLUMNS, con, c, &q);
  case HP_DASH_EVENTS: return h_events(d, con, c, &q);
  case HP_DASH_ACTION: return dispatch(d, HP_DASH_LANE_ACTION, con, c, &q);
  case HP_DASH_FAVICON: return send_buf(con, 204, "image/x-icon", NULL, 0, false);
  case HP_DASH_IMPORTANCE:
  case HP_DASH_ADVISE: return dispatch(d, HP_DASH_LANE_INSIGHT, con, c, &q);
  default: return send_error(con, 404, "no such page");
  }
}

/* ---- the command ------------------------------------------------------- */

/* ADDR:PORT with a numeric IPv4 address, or [ADDR6]:PORT; PORT 0 picks one. */
static int parse_listen(const char *s, struct sockaddr_storage *sa, socklen_t *len, bool *loopback) {
  memset(sa, 0, sizeof *sa);
  const char *colon = strrchr(s, ':');
  if (colon == NULL || colon[1] == '\0') return -1;
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (*end || port < 0 || port > 65535) return -1;
  char host[64];
  size_t hl = (size_t)(colon - s);
  if (hl == 0 || hl >= sizeof host) return -1;
  memcpy(host, s, hl);
  host[hl] = '\0';
  if (host[0] == '[' && host[hl - 1] == ']') {
    host[hl - 1] = '\0';
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)sa;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1) return -1;
    *loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
    *len = sizeof *a;
    return 0;
  }
  struct sockaddr_in *a = (struct sockaddr_in *)sa;
  a->sin_family = AF_INET;
  a->sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &a->sin_addr) != 1) return -1;
  *loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
  *len = sizeof *a;
  return 0;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
  (void)cls;
  fputs("hpsearch dashboard: ", stderr);
  vfprintf(stderr, fmt, ap);
}

int hp_cmd_dashboard(int argc, char **argv) {
  if (hp_cli_wants_help(argc, argv)) return hp_cli_help(argv[0]);
  const char *db = "hpsearch.db", *listen_at = "127.0.0.1:0", *sock = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char **dst = strcmp(a, "--db") == 0       ? &db
                       : strcmp(a, "--listen") == 0 ? &listen_at
                       : strcmp(a, "--socket") == 0 ? &sock
                                                    : NULL;
    if (dst == NULL) return hp_cli_usage(argv[0], "unknown option (see hpsearch help dashboard)");
    if (i + 1 >= argc) return hp_cli_usage(argv[0], "an option lacks its value");
    *dst = argv[++i];
  }
  struct sockaddr_storage sa;
  socklen_t salen;
  bool loopback;
  if (parse_listen(listen_at, &sa, &salen, &loopback) < 0)
    return hp_cli_usage(argv[0], "--listen: expected ADDRESS:PORT with a numeric address, "
                                 "e.g. 127.0.0.1:8080 or [::1]:8080 (port 0: any free one)");
  if (!loopback)
    fprintf(stderr, "hpsearch dashboard: warning: listening on %s, not a loopback address: "
                    "anyone who can reach it and learns the address with its token can read "
                    "the studies (plain HTTP, no TLS)\n", listen_at);

  static hp_dash_t dash;
  hp_dash_t *d = &dash;
  hp_err_t err = {0};
  snprintf(d->db, sizeof d->db, "%s", db);
  d->sock_opt = sock;
  int rc = hp_mhd_load(&err);
  if (rc == 0) rc = hp_dash_token_new(d->token, &err);
  if (rc < 0) return hp_cli_fail(argv[0], rc, &err);

  /* Buffers of a megabyte and more (a study's columns are tens of them at
   * 100,000 trials) come from mmap and go back to the system when freed:
   * without a fixed threshold glibc raises it to the size of each such
   * buffer freed and serves the next ones from the lanes' per-thread
   * arenas, which keep them (with malloc_trim after insight, below: 283
   * instead of 327 MiB after repeated requests at 100,000 trials). */
  mallopt(M_MMAP_THRESHOLD, 1 << 20);

  /* SIGINT/SIGTERM end it (sigwait below): blocked in every thread. */
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL);
  signal(SIGPIPE, SIG_IGN);

  if ((rc = lanes_start(d, &err)) < 0 || (rc = hp_dash_live_start(d, &err)) < 0) {
    lanes_stop(d);
    lanes_free(d);
    return hp_cli_fail(argv[0], rc, &err);
  }
  prewarm(d);
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME |
                   MHD_USE_AUTO | (sa.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
  d->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, d,
                            MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONN_LIMIT,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
                            MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                            MHD_OPTION_END);
  if (d->mhd == NULL) {
    fprintf(stderr, "hpsearch dashboard: cannot listen on %s (in use, or not an address of this "
                    "machine)\n", listen_at);
    hp_dash_live_stop(d);
    lanes_stop(d);
    lanes_free(d);
    return HP_EXIT_FAIL;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(d->mhd, MHD_DAEMON_INFO_BIND_PORT);
  unsigned port = info ? info->port : 0;
  char *host = d->host;
  if (sa.ss_family == AF_INET6) {
    char a6[INET6_ADDRSTRLEN];
    const struct in6_addr *a = &((struct sockaddr_in6 *)&sa)->sin6_addr;
    inet_ntop(AF_INET6, a, a6, sizeof a6);
    snprintf(host, sizeof d->host, "[%s]", a6);
    d->wildcard = IN6_IS_ADDR_UNSPECIFIED(a);
  } else {
    const struct in_addr *a = &((struct sockaddr_in *)&sa)->sin_addr;
    inet_ntop(AF_INET, a, host, sizeof d->host);
    d->wildcard = a->s_addr == htonl(INADDR_ANY);
  }
  d->port = port; /* before any request can come: it needs the token printed below */
  printf("http://%s:%u/?token=%s\n", host, port, d->token);
  fflush(stdout);
  fprintf(stderr, "hpsearch dashboard: serving %s (read-only; live and actions through its "
                  "daemon when one runs); Ctrl-C stops\n", db);

  int sig = 0;
  sigwait(&sigs, &sig);
  hp_dash_live_stop(d); /* answers every waiting long poll */
  lanes_stop(d);        /* and every request on a lane */
  MHD_stop_daemon(d->mhd);
  lanes_free(d);
  return HP_EXIT_OK;
}

/* The dashboard's live thread (cli/dash.h): subscribes to the events of the
 * daemon that owns the database (found through its owner record, or
 * --socket), keeps the last events in a ring, and wakes the pages' long
 * polls within the same loop turn. Without a daemon it watches the file's
 * data_version once a second, so a page also follows another writer
 * (Optuna), and it looks for a daemon again every second. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dash.h"
#include "dash_mhd.h"
#include "hpsearch/daemon.h"
#include "hpsearch/json.h"
#include "hpsearch/rpc.h"

/* Wakes the long polls: all (an event came), or those past their deadline. */
static void wake(hp_dash_t *d, bool all) {
  double now = hp_view_now();
  int k = 0;
  for (int i = 0; i < d->n_waiters; i++) {
    if (all || d->stopping || d->waiters[i].deadline <= now) MHD_resume_connection(d->waiters[i].con);
    else d->waiters[k++] = d->waiters[i];
  }
  d->n_waiters = k;
}

/* Adds one event (its text is taken over). */
static void push(hp_dash_t *d, char *text) {
  if (text == NULL) return;
  pthread_mutex_lock(&d->mu);
  d->seq++;
  free(d->ring[d->seq % HP_DASH_RING]);
  d->ring[d->seq % HP_DASH_RING] = text;
  wake(d, true);
  pthread_mutex_unlock(&d->mu);
}

static void push_type(hp_dash_t *d, const char *type) {
  char buf[96];
  snprintf(buf, sizeof buf, "{\"type\":\"%s\"}", type);
  push(d, strdup(buf));
}

void hp_dash_live_events(hp_dash_t *d, int64_t since, hp_sbuf_t *b) {
  hp_sbuf_puts(b, "{\"seq\":");
  hp_sbuf_int(b, d->seq);
  hp_sbuf_puts(b, d->daemon_up ? ",\"daemon\":true" : ",\"daemon\":false");
  bool lost = since >= 0 && d->seq - since > HP_DASH_RING;
  hp_sbuf_puts(b, lost ? ",\"lost\":true,\"events\":[" : ",\"lost\":false,\"events\":[");
  if (since >= 0 && !lost)
    for (int64_t k = since + 1; k <= d->seq; k++) {
      if (k > since + 1) hp_sbuf_puts(b, ",");
      hp_sbuf_puts(b, d->ring[k % HP_DASH_RING]);
    }
  hp_sbuf_puts(b, "]}");
}

void hp_dash_live_describe(hp_dash_t *d, cJSON *o) {
  pthread_mutex_lock(&d->mu);
  if (d->daemon_up) {
    cJSON *x = cJSON_AddObjectToObject(o, "daemon");
    cJSON_AddNumberToObject(x, "pid", (double)d->daemon_pid);
    cJSON_AddStringToObject(x, "socket", d->daemon_sock);
  } else {
    cJSON_AddNullToObject(o, "daemon");
  }
  cJSON_AddNumberToObject(o, "seq", (double)d->seq);
  pthread_mutex_unlock(&d->mu);
}

/* The daemon's socket: --socket, or the owner record of the database. */
static int find_socket(hp_dash_t *d, char *out, size_t len, long long *pid) {
  *pid = 0;
  if (d->sock_opt != NULL) {
    if (strlen(d->sock_opt) >= len) return -1;
    memcpy(out, d->sock_opt, strlen(d->sock_opt) + 1);
    return 0;
  }
  return hp_dblock_owner(d->db, out, len, pid, NULL) < 0 ? -1 : 0;
}

int hp_dash_live_socket(hp_dash_t *d, char *out, size_t len) {
  pthread_mutex_lock(&d->mu);
  bool up = d->daemon_up && strlen(d->daemon_sock) < len;
  if (up) memcpy(out, d->daemon_sock, strlen(d->daemon_sock) + 1);
  pthread_mutex_unlock(&d->mu);
  long long pid;
  return up ? 0 : find_socket(d, out, len, &pid);
}

/* Waits up to ms for stop; true when stopping. */
static bool nap(hp_dash_t *d, int ms) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
  pthread_mutex_lock(&d->mu);
  if (!d->stopping) pthread_cond_timedwait(&d->cv, &d->mu, &ts);
  wake(d, false);
  bool stop = d->stopping;
  pthread_mutex_unlock(&d->mu);
  return stop;
}

static bool stopping(hp_dash_t *d) {
  pthread_mutex_lock(&d->mu);
  wake(d, false);
  bool s = d->stopping;
  pthread_mutex_unlock(&d->mu);
  return s;
}

/* Follows one daemon until it goes away (or the dashboard stops). */
static void follow(hp_dash_t *d, const char *sock, long long pid) {
  hp_client_t c;
  hp_err_t err = {0};
  if (hp_client_connect(&c, sock, true, 5000, &err) < 0) return;
  cJSON *r = NULL;
  if (hp_client_call(&c, HP_RPC_EVENTS_SUBSCRIBE, NULL, &r, &err) < 0) {
    hp_client_close(&c);
    return;
  }
  cJSON_Delete(r);
  pthread_mutex_lock(&d->mu);
  d->daemon_up = true;
  snprintf(d->daemon_sock, sizeof d->daemon_sock, "%s", sock);
  d->daemon_pid = pid;
  pthread_mutex_unlock(&d->mu);
  push_type(d, "daemon.connected");
  while (!stopping(d)) {
    cJSON *msg = NULL;
    int rc = hp_client_recv(&c, 200, &msg, &err);
    if (rc == HP_ETIMEOUT) continue;
    if (rc < 0) break;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(msg, "method");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(msg, "params");
    if (cJSON_IsString(m) && strcmp(m->valuestring, "event") == 0 && cJSON_IsObject(p))
      push(d, hp_json_print(p));
    cJSON_Delete(msg);
  }
  hp_client_close(&c);
  pthread_mutex_lock(&d->mu);
  d->daemon_up = false;
  pthread_mutex_unlock(&d->mu);
  push_type(d, "daemon.gone");
}

static void *live_main(void *arg) {
  hp_dash_t *d = arg;
  hp_store_t *st = NULL;
  int64_t seen = -1;
  while (!stopping(d)) {
    char sock[108];
    long long pid;
    if (find_socket(d, sock, sizeof sock, &pid) == 0) {
      follow(d, sock, pid);
      seen = -1; /* the daemon wrote meanwhile: compare afresh */
    }
    if (st == NULL) hp_store_open(d->db, HP_STORE_READONLY, &st, NULL);
    int64_t v;
    if (st != NULL && hp_store_data_version(st, &v, NULL) == 0) {
      if (seen >= 0 && v != seen) push_type(d, "db.changed");
      seen = v;
    }
    if (nap(d, 1000)) break;
  }
  hp_store_close(st);
  return NULL;
}

int hp_dash_live_start(hp_dash_t *d, hp_err_t *err) {
  pthread_mutex_init(&d->mu, NULL);
  pthread_cond_init(&d->cv, NULL);
  int e = pthread_create(&d->live, NULL, live_main, d);
  if (e != 0) return hp_err_set(err, -e, "cannot start a thread: %s", strerror(e));
  d->live_started = true;
  return 0;
}

void hp_dash_live_stop(hp_dash_t *d) {
  pthread_mutex_lock(&d->mu);
  d->stopping = true;
  wake(d, true);
  pthread_cond_broadcast(&d->cv);
  pthread_mutex_unlock(&d->mu);
  if (d->live_started) pthread_join(d->live, NULL);
  d->live_started = false;
  for (int i = 0; i < HP_DASH_RING; i++) {
    free(d->ring[i]);
    d->ring[i] = NULL;
  }
}

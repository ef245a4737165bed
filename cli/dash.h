/* The pieces of `hpsearch dashboard` (cli/cmd_dashboard.c: HTTP handlers;
 * cli/dash_live.c: following the database's daemon) and what they share. */
#ifndef HPSEARCH_CLI_DASH_H
#define HPSEARCH_CLI_DASH_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "cli.h"
#include "hpsearch/dash.h"

#define HP_DASH_MAX_WAITERS 32   /* long polls held at once */
#define HP_DASH_POLL_SECONDS 25  /* a long poll answers empty after this */
#define HP_DASH_RING 1024        /* events kept for pages that poll late */
#define HP_DASH_CACHE 4          /* studies whose columns are kept in memory */
#define HP_DASH_SUMMARY_AGE 5.0  /* seconds a summary is reused while the file is unchanged */

struct MHD_Daemon;
struct MHD_Connection;

/* A request's work that reads the database runs on a lane, a thread of its
 * own with its own read-only connection, never on libmicrohttpd's thread
 * (which only parses, routes and writes): the request is suspended, the
 * lane builds the reply, then resumes it. One lane per kind of work, so a
 * slow one (importance: seconds at 100,000 trials) never delays the others
 * (columns, summaries, actions). */
typedef enum hp_dash_lane_id {
  HP_DASH_LANE_COLUMNS = 0, /* /api/columns; the columns cache */
  HP_DASH_LANE_SUMMARY,     /* /api/studies, /api/study; the summary cache */
  HP_DASH_LANE_INSIGHT,     /* /api/importance, /api/advise */
  HP_DASH_LANE_ACTION,      /* /api/action (the daemon's socket; no database) */
  HP_DASH_NLANES
} hp_dash_lane_id_t;

struct hp_dash_job;

/* A reply's bytes shared between the cache and the responses sending them
 * (a study's full columns: 18 MB at 100,000 trials, built once per change
 * of the file instead of once per request; fresh memory costs a page fault
 * per 4 KiB on this kind of machine). */
typedef struct hp_dash_blob {
  int refs;             /* atomic */
  char *p;
  size_t len;
} hp_dash_blob_t;

typedef struct hp_dash_lane {
  pthread_t th;
  bool started;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct hp_dash_job *head, *tail; /* waiting requests, under mu */
  bool stop;                       /* under mu */
  hp_cli_src_t src;                /* read-only store + view: this lane's thread only */
  bool has_src;
} hp_dash_lane_t;

typedef struct hp_dash {
  char db[PATH_MAX];            /* the database as given */
  const char *sock_opt;         /* --socket, NULL: the daemon named by the owner record */
  char token[HP_DASH_TOKEN_LEN + 1];
  char host[64];                /* the listening address as printed: "127.0.0.1", "[::1]" */
  unsigned port;
  bool wildcard;                /* listening on every address (0.0.0.0, [::]) */
  struct MHD_Daemon *mhd;
  hp_dash_lane_t lane[HP_DASH_NLANES];
  struct {                      /* columns kept per study (the columns lane's thread only) */
    int64_t study_id;
    hp_view_cols_t *cols;       /* NULL: a free slot */
    int64_t data_version;       /* the lane's data_version when last brought up to date */
    double used;                /* last request, for eviction */
    hp_dash_blob_t *full;       /* the columns from trial 0 as sent, or NULL */
    int64_t full_version;       /* data_version they were written at */
  } cache[HP_DASH_CACHE];
  struct {                      /* summaries (the summary lane's thread only) */
    char *text;                 /* JSON text (owned), NULL: none */
    char name[HP_DASH_NAME_MAX + 1]; /* "" : the studies list, else one study */
    int64_t data_version;
    double made;                /* when built: kept HP_DASH_SUMMARY_AGE at most */
  } sum[HP_DASH_CACHE + 1];
  /* the live part, under mu */
  pthread_t live;
  bool live_started;
  pthread_mutex_t mu;
  pthread_cond_t cv;            /* wakes the live thread to stop */
  bool stopping;
  int64_t seq;                  /* events so far; event k (1-based) is ring[k % HP_DASH_RING] */
  char *ring[HP_DASH_RING];     /* JSON texts (owned) */
  bool daemon_up;               /* subscribed to the database's daemon */
  char daemon_sock[108];
  long long daemon_pid;
  struct {
    struct MHD_Connection *con;
    double deadline;
  } waiters[HP_DASH_MAX_WAITERS];
  int n_waiters;
} hp_dash_t;

/* Starts / stops the live thread (stop answers every waiting long poll). */
int hp_dash_live_start(hp_dash_t *d, hp_err_t *err);
void hp_dash_live_stop(hp_dash_t *d);
/* {"seq": S, "daemon": bool, "lost": bool, "events": [...]} of the events
 * after `since` (none when since < 0). Call with d->mu held. */
void hp_dash_live_events(hp_dash_t *d, int64_t since, hp_sbuf_t *b);
/* Adds "daemon": {"pid", "socket"} or null to a studies reply. */
void hp_dash_live_describe(hp_dash_t *d, cJSON *o);
/* The socket of the daemon that owns the database now; -1 when none. */
int hp_dash_live_socket(hp_dash_t *d, char *out, size_t len);

#endif

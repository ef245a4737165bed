/* Private to the scheduler's files (sched_study.c, sched_recover.c,
 * sched_trial.c, sched_run.c, sched_json.c, sched_check.c): helpers they
 * share. The rest of the daemon uses the hp_sched_* functions of
 * daemon_int.h. */
#ifndef HPSEARCH_SCHED_INT_H
#define HPSEARCH_SCHED_INT_H

#include "daemon_int.h"

/* sched_study.c */
void hp_sched_study_free(hp_study_t *st);
void hp_sched_studies_free(hp_study_t *list, bool keep_runs);
void hp_sched_study_link(hp_daemon_t *d, hp_study_t *st);        /* into d->studies by id */
void hp_sched_study_unlink(hp_daemon_t *d, hp_study_t *st);
int hp_sched_study_engines(hp_study_t *st, hp_err_t *err);       /* sampler, pruner, dists */
int hp_sched_runs_reserve(hp_study_t *st, int64_t number);      /* st->runs[number] exists */
void hp_sched_note_id(hp_study_t *st, int64_t number, int64_t trial_id);
bool hp_sched_more_to_do(hp_study_t *st);
/* Seconds of the study's time_budget spent: time a daemon ran it. */
double hp_sched_budget_spent(const hp_study_t *st);
/* Folds the running span into budget_used and stores it (in the batch). */
void hp_sched_budget_save(hp_study_t *st);
void hp_sched_check_finished(hp_study_t *st);
/* Sends the event {"type": type, "study": name, "study_id": id}. */
void hp_sched_study_event(const hp_study_t *st, const char *type);

/* sched_trial.c */
void hp_sched_run_free(hp_run_t *run);
void hp_sched_run_list_free(hp_run_t *list);                     /* by next_end */
void hp_sched_event_started(hp_run_t *run);
int hp_sched_trial_begin(hp_study_t *st, hp_run_t **out, hp_err_t *err);
int hp_sched_run_end(hp_run_t *run, hp_err_t *err);
/* Fails (and retries, with max_retry) the asked trials of st whose client
 * has not beaten for grace_period (the 1 s tick). */
void hp_sched_check_heartbeats(hp_study_t *st);
/* A store shared by several daemons (the 1 s tick): this daemon's running
 * trials beat every heartbeat_interval (HP_SHARED_BEAT_S without one; an
 * asked trial of a study with one beats through its client), and the
 * study's RUNNING trials of other daemons whose last beat is older than
 * grace_period (HP_SHARED_GRACE_S without a heartbeat_interval) by the
 * database's clock are failed: their daemon died. Never this daemon's own. */
void hp_sched_shared_watch(hp_study_t *st);
/* A shared store: when the database holds own run r's trial final (another
 * program ended it: a peer after a heartbeat later than the grace period),
 * its worker (or Slurm job) is stopped rather than left to run to an end
 * the store would refuse. Reads the trial; true when it stopped it. */
bool hp_sched_stop_if_taken(hp_study_t *st, hp_run_t *r);
/* Beat interval and grace period in a shared database for a study without
 * heartbeat_interval. */
#define HP_SHARED_BEAT_S 10.0
#define HP_SHARED_GRACE_S 60.0

/* sched_run.c */
/* Stops a running study by itself (running trials finish); reason is stored
 * and shown until study.resume. A failed write changes nothing (tried again
 * at the next failed trial). */
int hp_sched_pause(hp_study_t *st, const char *reason, hp_err_t *err);

#endif

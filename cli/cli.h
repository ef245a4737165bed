/* Shared pieces of the client subcommands (submit, status, trials, best,
 * stop/resume/delete/shutdown, ask/report/tell): option parsing, connecting
 * with a useful error, mapping errors to the documented exit codes, reading
 * studies either from the daemon or straight from a database file (--db),
 * and the human renderings that several subcommands share. */
#ifndef HPSEARCH_CLI_CLI_H
#define HPSEARCH_CLI_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include <cJSON.h>

#include "hpsearch/client.h"
#include "hpsearch/err.h"
#include "hpsearch/store.h"
#include "hpsearch/view.h"

/* Deadline of one request to the daemon. */
#define HP_CLI_TIMEOUT_MS 30000

/* Prints "hpsearch CMD: message" on stderr and returns the exit code for rc. */
int hp_cli_fail(const char *cmd, int rc, const hp_err_t *err);
/* Exit code of a negative HP_E* / client code (docs/cli.md). */
int hp_cli_exit_code(int rc);

/* Switches cJSON to a bump allocator until exit (see source.c). Only for
 * one-shot commands that never pass cJSON memory to plain free(). */
void hp_cli_json_arena(void);

/* From now on Ctrl-C (SIGINT) prints message on stderr (on a line of its
 * own) and exits with 130: for commands that follow a study, to say that the
 * study keeps running in the daemon and how to follow it again. The text is
 * copied (at most 1 KiB). */
void hp_cli_on_interrupt(const char *message);

/* Connects to --socket PATH (or the default when sock is NULL). */
int hp_cli_connect(hp_client_t *c, const char *sock, hp_err_t *err);

/* Where status/trials/best read from: the daemon or a database file. */
typedef struct hp_cli_src {
  bool use_db;          /* true: store (read-only file), false: client */
  hp_client_t client;   /* connection when !use_db */
  hp_store_t *store;    /* open read-only database when use_db */
  hp_view_t *view;      /* builds the JSON shapes from the database (use_db) */
} hp_cli_src_t;

int hp_cli_src_open(hp_cli_src_t *src, const char *sock, const char *db, hp_err_t *err);
void hp_cli_src_close(hp_cli_src_t *src);
/* Array of study summaries (protocol.md shape). Caller frees. */
int hp_cli_src_studies(hp_cli_src_t *src, cJSON **out, hp_err_t *err);
/* One study summary by name. Caller frees. */
int hp_cli_src_study(hp_cli_src_t *src, const char *study, cJSON **out, hp_err_t *err);
/* Trials of a study (protocol.md trial shape, ordered by number) as an array.
 * offset/limit as trial.list (limit 0 = all). Caller frees. */
int hp_cli_src_trials(hp_cli_src_t *src, const char *study, bool intermediate, long offset,
                      long limit, cJSON **out, hp_err_t *err);
/* trial.list's result text {"trials": [...], "total": N} read from the
 * database (use_db only): the bytes the daemon replies. Caller frees. */
int hp_cli_src_trials_text(hp_cli_src_t *src, const char *study, bool intermediate, long offset,
                           long limit, char **text, hp_err_t *err);
/* One trial with its intermediate values. Caller frees. */
int hp_cli_src_trial(hp_cli_src_t *src, const char *study, long number, cJSON **out,
                     hp_err_t *err);

/* The importance object of a study (hp_view_importance's shape);
 * evaluator "ped-anova", "fanova" or NULL for the default. Caller frees. */
int hp_cli_src_importance(hp_cli_src_t *src, const char *study, const char *evaluator,
                          cJSON **out, hp_err_t *err);

/* The advice object of a study (hp_view_advise's shape). Caller frees. */
int hp_cli_src_advise(hp_cli_src_t *src, const char *study, cJSON **out, hp_err_t *err);

/* The body of the commands that print one object of a study (importance,
 * advise): STUDY, --json, --db FILE, --socket PATH (and --evaluator NAME
 * when evaluator), the object fetched from the source (fetch gets the
 * evaluator, NULL when not given) and printed as JSON or by print. Returns
 * the exit code. */
typedef int (*hp_cli_fetch_fn)(hp_cli_src_t *src, const char *study, const char *evaluator,
                               cJSON **out, hp_err_t *err);
int hp_cli_study_object(int argc, char **argv, bool evaluator, hp_cli_fetch_fn fetch,
                        void (*print)(FILE *out, const cJSON *obj));

/* Prints the best trial of a study (detail, or one JSON line). */
int hp_cli_print_best(hp_cli_src_t *src, const char *study, bool json, hp_err_t *err);
/* Renderings shared by several subcommands (stdout). */
void hp_cli_print_trial_table(FILE *out, const cJSON *trials);
void hp_cli_print_trial_detail(FILE *out, const cJSON *study, const cJSON *trial);
/* The Pareto front of a study with several objectives (summary's
 * "pareto_front" and "hypervolume") as a table. */
void hp_cli_print_pareto(FILE *out, const cJSON *study);
/* The parameter names of all trials, in order of first appearance (at most
 * max; the names point into trials). */
int hp_cli_param_names(const cJSON *trials, const char **names, int max);
/* Counts of a summary: finished = COMPLETE+PRUNED+FAIL. */
long hp_cli_count(const cJSON *summary, const char *state);
/* Finished trials a study aims for: n_trials, or the size of its grid
 * (the smaller when both are set); NAN when neither. */
double hp_cli_target(const cJSON *summary);
/* Estimated seconds until the target is finished, NAN when unknown. */
double hp_cli_eta(const cJSON *summary);
/* A numeric member or NAN when absent/null; accepts "inf"/"-inf"/"nan". */
double hp_cli_num(const cJSON *obj, const char *key);

#endif

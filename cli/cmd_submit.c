/* `hpsearch submit STUDY.json [--wait]`: sends a study spec to the daemon
 * (study.create). With --wait it follows the study through the event
 * subscription until it finishes, with a live progress line on a terminal
 * (plain lines otherwise), then prints the best trial. Ctrl-C only detaches
 * (and says so): the study keeps running in the daemon. A study without an
 * objective is moved only by ask/tell clients: --wait says so first. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "hpsearch/json.h"
#include "hpsearch/rpc.h"
#include "table.h"

/* A plain (non-terminal) progress line at least this often, in seconds. */
#define QUIET_LINE_S 60

static const char *str_or(const cJSON *obj, const char *key, const char *dflt) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  return cJSON_IsString(v) ? v->valuestring : dflt;
}

/* Width of the terminal on stdout (80 when unknown). */
static int term_cols(void) {
  struct winsize ws;
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

/* "12/20 done, 2 running, 3 pruned, 0 failed, best 0.874 (#7), 1m40s, ETA 1m10s" */
static void progress_text(const cJSON *s, char *buf, size_t cap) {
  char b1[64], b2[64], b3[64];
  long done = hp_cli_count(s, "COMPLETE") + hp_cli_count(s, "PRUNED") + hp_cli_count(s, "FAIL");
  double nt = hp_cli_target(s), el = hp_cli_num(s, "elapsed"), eta = hp_cli_eta(s);
  int n = 0;
  if (isnan(nt)) n = snprintf(buf, cap, "%ld done", done);
  else n = snprintf(buf, cap, "%ld/%.0f done", done, nt);
  const cJSON *best = cJSON_GetObjectItemCaseSensitive(s, "best");
  if (cJSON_IsObject(best))
    snprintf(b1, sizeof b1, "best %s (#%.0f)",
             hp_fmt_value(cJSON_GetObjectItemCaseSensitive(best, "value"), b3, sizeof b3),
             hp_cli_num(best, "trial"));
  else if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(s, "pareto_front")) > 0)
    snprintf(b1, sizeof b1, "Pareto front of %d",
             cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(s, "pareto_front")));
  else snprintf(b1, sizeof b1, "best -");
  if ((size_t)n < cap)
    n += snprintf(buf + n, cap - (size_t)n, ", %ld running, %ld pruned, %ld failed, %s, %s",
                  hp_cli_count(s, "RUNNING"), hp_cli_count(s, "PRUNED"),
                  hp_cli_count(s, "FAIL"), b1, hp_fmt_duration(el, b2, sizeof b2));
  if ((size_t)n < cap && !isnan(eta) && eta > 0)
    snprintf(buf + n, cap - (size_t)n, ", ETA %s", hp_fmt_duration(eta, b2, sizeof b2));
}

/* Follows the study until it is finished (0), stopped/deleted/daemon gone
 * (HP_ESTATE, message in err) or an error. */
static int follow(hp_client_t *c, const char *study, hp_err_t *err) {
  bool tty = isatty(STDOUT_FILENO);
  cJSON *p = cJSON_CreateObject(), *r = NULL, *s = NULL;
  cJSON_AddStringToObject(p, "study", study);
  int rc = hp_client_call(c, HP_RPC_EVENTS_SUBSCRIBE, p, &r, err);
  cJSON_Delete(r);
  if (rc < 0) return rc;
  time_t last_line = time(NULL);
  char line[512];
  for (bool refresh = true;;) {
    if (refresh) {
      /* Subscribing first, then reading the summary, means no finish event
       * can fall between the two. */
      cJSON_Delete(s);
      p = cJSON_CreateObject();
      cJSON_AddStringToObject(p, "study", study);
      rc = hp_client_call(c, HP_RPC_STUDY_GET, p, &s, err);
      if (rc < 0) break;
      progress_text(s, line, sizeof line);
      if (tty) {
        /* One screen line: a wrapped line would not be redrawn by '\r'. */
        char full[600];
        int n = snprintf(full, sizeof full, "%s: %s", study, line);
        int cols = term_cols();
        if (n > cols - 1 && cols > 4) full[cols - 1] = '\0';
        printf("\r\x1b[K%s", full);
        fflush(stdout);
      }
      const char *state = str_or(s, "state", "");
      if (strcmp(state, "finished") == 0) break;
      if (strcmp(state, "stopped") == 0 && hp_cli_count(s, "RUNNING") == 0) {
        const char *why = str_or(s, "stop_reason", NULL);
        if (why != NULL)
          rc = hp_err_set(err, HP_ESTATE, "study %s stopped itself: %s (%s resume %s)",
                          study, why, hp_cli_prog(), study);
        else
          rc = hp_err_set(err, HP_ESTATE, "study %s was stopped (%s resume %s)", study,
                          hp_cli_prog(), study);
        break;
      }
      refresh = false;
    }
    cJSON *msg = NULL;
    rc = hp_client_recv(c, 1000, &msg, err);
    if (rc == HP_ETIMEOUT) {
      refresh = tty || time(NULL) - last_line >= QUIET_LINE_S;
      if (!tty && refresh) {
        printf("%s: %s\n", study, line);
        fflush(stdout);
        last_line = time(NULL);
      }
      continue;
    }
    if (rc == HP_EIO) {
      rc = hp_err_set(err, HP_ESTATE, "the daemon went away before study %s finished", study);
      break;
    }
    if (rc < 0) break;
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(msg, "params");
    const char *type = str_or(ev, "type", "");
    if (strcmp(type, HP_RPC_EV_TRIAL_FINISHED) == 0 || strcmp(type, HP_RPC_EV_STUDY_FINISHED) == 0 ||
        strcmp(type, HP_RPC_EV_STUDY_STOPPED) == 0 || strcmp(type, HP_RPC_EV_TRIAL_STARTED) == 0) {
      refresh = true;
      if (strcmp(type, HP_RPC_EV_TRIAL_FINISHED) == 0 && !tty) {
        /* One plain line per finished trial, with the totals after it. */
        char v[64];
        cJSON_Delete(s);
        p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "study", study);
        s = NULL;
        rc = hp_client_call(c, HP_RPC_STUDY_GET, p, &s, err);
        if (rc < 0) {
          cJSON_Delete(msg);
          break;
        }
        progress_text(s, line, sizeof line);
        const cJSON *reason = cJSON_GetObjectItemCaseSensitive(ev, "reason");
        const cJSON *val = cJSON_GetObjectItemCaseSensitive(ev, "value");
        printf("%s: trial %.0f %s %s%s%s | %s\n", study, hp_cli_num(ev, "trial"),
               str_or(ev, "state", "?"),
               val == NULL || cJSON_IsNull(val) ? "-" : hp_fmt_value(val, v, sizeof v),
               cJSON_IsString(reason) ? " " : "", cJSON_IsString(reason) ? reason->valuestring : "",
               line);
        fflush(stdout);
        last_line = time(NULL);
      }
    } else if (strcmp(type, HP_RPC_EV_STUDY_DELETED) == 0) {
      rc = hp_err_set(err, HP_ESTATE, "study %s was deleted", study);
      cJSON_Delete(msg);
      break;
    } else if (strcmp(type, HP_RPC_EV_SHUTDOWN) == 0) {
      rc = hp_err_set(err, HP_ESTATE, "the daemon is shutting down; study %s is unfinished", study);
      cJSON_Delete(msg);
      break;
    }
    cJSON_Delete(msg);
  }
  if (tty) fputc('\n', stdout);
  if (rc == 0 && !tty) {
    progress_text(s, line, sizeof line);
    printf("%s: finished: %s\n", study, line);
  }
  cJSON_Delete(s);
  fflush(stdout);
  return rc;
}

int hp_cmd_submit(int argc, char **argv) {
  if (hp_cli_wants_help(argc, argv)) return hp_cli_help(argv[0]);
  const char *file = NULL, *sock = NULL;
  bool wait = false, load = false;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--wait") == 0) wait = true;
    else if (strcmp(argv[i], "--load-if-exists") == 0) load = true;
    else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) sock = argv[++i];
    else if (argv[i][0] == '-' && argv[i][1] != '\0')
      return hp_cli_usage(argv[0], "unknown or incomplete option");
    else if (file == NULL) file = argv[i];
    else return hp_cli_usage(argv[0], "more than one file given");
  }
  if (file == NULL) return hp_cli_usage(argv[0], "which study file?");
  hp_err_t err = {0};
  cJSON *spec = NULL, *r = NULL;
  int rc = hp_json_parse_file(file, &spec, &err);
  if (rc < 0) return hp_cli_fail(argv[0], rc, &err);
  if (!cJSON_IsObject(spec)) {
    cJSON_Delete(spec);
    fprintf(stderr, "hpsearch submit: %s: a study spec is a JSON object\n", file);
    return HP_EXIT_FAIL;
  }
  hp_client_t c;
  rc = hp_cli_connect(&c, sock, &err);
  if (rc < 0) {
    cJSON_Delete(spec);
    return hp_cli_fail(argv[0], rc, &err);
  }
  /* Relative paths in a command objective mean what they mean where the
   * user typed `submit`, not in the daemon's folder. */
  cJSON *obj = cJSON_GetObjectItemCaseSensitive(spec, "objective");
  char cwd[4096];
  if (cJSON_GetObjectItemCaseSensitive(obj, "command") != NULL &&
      cJSON_GetObjectItemCaseSensitive(obj, "cwd") == NULL && getcwd(cwd, sizeof cwd) != NULL)
    cJSON_AddStringToObject(obj, "cwd", cwd);
  cJSON *p = cJSON_CreateObject();
  cJSON_AddItemToObject(p, "spec", spec);
  if (load) cJSON_AddTrueToObject(p, "load_if_exists");
  rc = hp_client_call(&c, HP_RPC_STUDY_CREATE, p, &r, &err);
  if (rc < 0) {
    hp_client_close(&c);
    int code = hp_cli_fail(argv[0], rc, &err);
    if (rc == HP_EEXIST)
      fprintf(stderr, "hpsearch submit: use --load-if-exists to follow that study, or "
                      "'%s delete NAME' first\n", hp_cli_prog());
    return code;
  }
  char name[600];
  snprintf(name, sizeof name, "%s", str_or(r, "name", "?"));
  bool created = !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(r, "created"));
  double nt = hp_cli_num(r, "n_trials"), par = hp_cli_num(r, "parallelism");
  printf("%s study %s (id %.0f)", created ? "submitted" : "following existing", name,
         hp_cli_num(r, "study_id"));
  if (!isnan(nt)) printf(": %.0f trial%s", nt, hp_plural((long long)nt));
  else printf(": no trial limit");
  if (!isnan(par)) printf(", %.0f in parallel", par);
  printf(", sampler %s, pruner %s\n", str_or(r, "sampler", "-"), str_or(r, "pruner", "-"));
  if (!wait) {
    cJSON_Delete(r);
    printf("follow it with: %s status %s --watch\n", hp_cli_prog(), name);
    hp_client_close(&c);
    return HP_EXIT_OK;
  }
  if (strcmp(str_or(r, "objective", "none"), "none") == 0) {
    /* The daemon runs nothing for it: only clients' trial.ask/tell move it. */
    char ends[200];
    double budget = hp_cli_num(r, "time_budget");
    if (!isnan(nt)) snprintf(ends, sizeof ends, "it has %.0f finished trial%s", nt,
                                 hp_plural((long long)nt));
    else if (!isnan(budget)) snprintf(ends, sizeof ends, "its time budget (%.0f s) is spent", budget);
    else if (strcmp(str_or(r, "sampler", ""), "grid") == 0)
      snprintf(ends, sizeof ends, "every grid point is done");
    else snprintf(ends, sizeof ends, "nothing: it has no n_trials, time_budget or grid");
    printf("study %s has no objective: the daemon runs no trials for it; clients drive it with "
           "trial.ask/trial.tell (%s ask %s, %s tell %s TRIAL VALUE).\n"
           "waiting until it is finished (%s), stopped (%s stop %s) or deleted; "
           "Ctrl-C stops waiting\n",
           name, hp_cli_prog(), name, hp_cli_prog(), name, ends, hp_cli_prog(), name);
  }
  cJSON_Delete(r);
  fflush(stdout);
  char msg[1000];
  snprintf(msg, sizeof msg,
           "hpsearch submit: stopped waiting; study %s keeps running in the daemon. Follow it "
           "with: %s status %s --watch (stop it with: %s stop %s)",
           name, hp_cli_prog(), name, hp_cli_prog(), name);
  hp_cli_on_interrupt(msg);
  rc = follow(&c, name, &err);
  if (rc == 0) {
    hp_cli_src_t src = {.use_db = false, .client = c};
    rc = hp_cli_print_best(&src, name, false, &err);
    c = src.client;
    if (rc == HP_ENOTFOUND) { /* finished, but every trial failed, was pruned or infeasible */
      const char *which = strstr(err.msg, "feasible") ? "feasible " : "";
      rc = hp_err_set(&err, HP_ESTATE, "study %s finished without a %scomplete trial "
                      "(%s trials %s shows why)", name, which, hp_cli_prog(), name);
    }
  }
  hp_client_close(&c);
  fflush(stdout);
  return rc < 0 ? hp_cli_fail(argv[0], rc, &err) : HP_EXIT_OK;
}

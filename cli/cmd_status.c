/* `hpsearch status [STUDY] [--json] [--watch] [--db FILE]`: a table of all
 * studies, or one study's detail (counts, best trial, recent trials). Also
 * holds the trial renderings that `trials`, `best` and `submit` share. */
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "hpsearch/json.h"
#include "hpsearch/rpc.h"
#include "hpsearch/space.h"
#include "table.h"

/* Trials shown under "recent trials" in a study's detail. */
#define RECENT_TRIALS 10

/* ---- shared renderings -------------------------------------------------- */

int hp_cli_param_names(const cJSON *trials, const char **names, int max) {
  int n = 0;
  const cJSON *t, *p;
  cJSON_ArrayForEach(t, trials) {
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(t, "params")) {
      int k = 0;
      while (k < n && strcmp(names[k], p->string) != 0) k++;
      if (k == n && n < max) names[n++] = p->string;
    }
  }
  return n;
}

/* The members of a trial object the table shows, found in one walk over
 * its children (name lookups per field dominated 1,000-trial tables). */
typedef struct trial_fields {
  const cJSON *trial, *state, *value, *params, *reason, *duration, *user_attrs;
} trial_fields_t;

static void get_fields(const cJSON *tr, trial_fields_t *f) {
  memset(f, 0, sizeof *f);
  for (const cJSON *c = tr->child; c != NULL; c = c->next) {
    const char *k = c->string;
    if (k == NULL) continue;
    switch (k[0]) {
      case 't': if (strcmp(k, "trial") == 0) f->trial = c; break;
      case 's': if (strcmp(k, "state") == 0) f->state = c; break;
      case 'v': if (strcmp(k, "value") == 0) f->value = c; break;
      case 'p': if (strcmp(k, "params") == 0) f->params = c; break;
      case 'r': if (strcmp(k, "reason") == 0) f->reason = c; break;
      case 'd': if (strcmp(k, "duration") == 0) f->duration = c; break;
      case 'u': if (strcmp(k, "user_attrs") == 0) f->user_attrs = c; break;
      default: break;
    }
  }
}

/* Column of parameter `name`, trying `hint` first: trials almost always
 * list their parameters in the same order. -1 if not a column. */
static int param_column(const char **names, int np, const char *name, int hint) {
  if (hint >= 0 && hint < np && strcmp(names[hint], name) == 0) return hint;
  for (int i = 0; i < np; i++)
    if (strcmp(names[i], name) == 0) return i;
  return -1;
}

/* The engine's curvature diagnostics (user attributes "curvature_*") get
 * two columns in the trial table when some trial has them. */
static const char *const CURV_COLS[][2] = {{"curvature_lambda_max", ">lambda_max"},
                                           {"curvature_lr_sharpness", ">lr*sharpness"}};
enum { N_CURV = 2 };

void hp_cli_print_trial_table(FILE *out, const cJSON *trials) {
  enum { FIXED = 4, MAXP = HP_TABLE_MAX_COLS - FIXED - 1 - N_CURV };
  const char *names[MAXP];
  int np = hp_cli_param_names(trials, names, MAXP);
  /* Numeric parameter columns are right-aligned ('>' prefix); a reason
   * column only when some trial has a reason. */
  bool numeric[MAXP];
  for (int i = 0; i < np; i++) numeric[i] = true;
  bool any_reason = false, any_curv = false;
  const cJSON *tr;
  cJSON_ArrayForEach(tr, trials) {
    trial_fields_t f;
    get_fields(tr, &f);
    any_reason |= cJSON_IsString(f.reason);
    any_curv |= f.user_attrs != NULL &&
                cJSON_GetObjectItemCaseSensitive(f.user_attrs, CURV_COLS[0][0]) != NULL;
    int k = 0;
    for (const cJSON *p = f.params ? f.params->child : NULL; p != NULL; p = p->next, k++) {
      int col = param_column(names, np, p->string, k);
      if (col >= 0 && !cJSON_IsNumber(p)) numeric[col] = false;
    }
  }
  char hdr[MAXP][HP_SPACE_NAME_MAX + 2];
  const char *headers[HP_TABLE_MAX_COLS] = {">trial", "state", ">value", ">duration"};
  for (int i = 0; i < np; i++) {
    snprintf(hdr[i], sizeof hdr[i], "%s%s", numeric[i] ? ">" : "", names[i]);
    headers[FIXED + i] = hdr[i];
  }
  int nc = any_curv ? N_CURV : 0;
  for (int i = 0; i < nc; i++) headers[FIXED + np + i] = CURV_COLS[i][1];
  headers[FIXED + np + nc] = "reason";
  hp_table_t t;
  hp_table_init(&t, FIXED + np + nc + (any_reason ? 1 : 0), headers);
  char buf[256];
  const cJSON *cells[MAXP];
  cJSON_ArrayForEach(tr, trials) {
    trial_fields_t f;
    get_fields(tr, &f);
    hp_table_cell(&t, hp_fmt_number(cJSON_IsNumber(f.trial) ? f.trial->valuedouble : NAN, buf,
                                    sizeof buf));
    hp_table_cell(&t, cJSON_IsString(f.state) ? f.state->valuestring : "?");
    const cJSON *vals = cJSON_GetObjectItemCaseSensitive(tr, "values");
    if (cJSON_GetArraySize(vals) > 1) { /* several objectives: "0.81, 120000" */
      char joined[256] = "";
      const cJSON *v;
      cJSON_ArrayForEach(v, vals) {
        if (joined[0]) strncat(joined, ", ", sizeof joined - strlen(joined) - 1);
        strncat(joined, hp_fmt_value(v, buf, sizeof buf), sizeof joined - strlen(joined) - 1);
      }
      hp_table_cell(&t, joined);
    } else {
      hp_table_cell(&t, f.value == NULL || cJSON_IsNull(f.value)
                            ? "-" : hp_fmt_value(f.value, buf, sizeof buf));
    }
    hp_table_cell(&t, cJSON_IsNumber(f.duration)
                          ? hp_fmt_duration(f.duration->valuedouble, buf, sizeof buf) : "-");
    for (int i = 0; i < np; i++) cells[i] = NULL;
    int k = 0;
    for (const cJSON *p = f.params ? f.params->child : NULL; p != NULL; p = p->next, k++) {
      int col = param_column(names, np, p->string, k);
      if (col >= 0) cells[col] = p;
    }
    for (int i = 0; i < np; i++)
      hp_table_cell(&t, cells[i] == NULL ? "" : hp_fmt_value(cells[i], buf, sizeof buf));
    for (int i = 0; i < nc; i++) {
      const cJSON *cv = f.user_attrs ? cJSON_GetObjectItemCaseSensitive(f.user_attrs,
                                                                        CURV_COLS[i][0])
                                     : NULL;
      hp_table_cell(&t, cJSON_IsNumber(cv) ? hp_fmt_value(cv, buf, sizeof buf) : "");
    }
    if (any_reason) hp_table_cell(&t, cJSON_IsString(f.reason) ? f.reason->valuestring : "");
  }
  hp_table_print(&t, out);
  hp_table_free(&t);
}

/* The curvature diagnostics of a trial (docs/engine.md explains each). */
static void print_curvature(FILE *out, const cJSON *ua) {
  char buf[512];
  fprintf(out, "  curvature (Hessian of the training loss at the end of training)\n");
  const cJSON *p;
  cJSON_ArrayForEach(p, ua) {
    if (strncmp(p->string, "curvature_", 10) != 0) continue;
    fprintf(out, "    %-28s %s\n", p->string + 10, hp_fmt_value(p, buf, sizeof buf));
  }
  double lrs = hp_cli_num(ua, "curvature_lr_sharpness"), bound = hp_cli_num(ua, "curvature_bound");
  if (!isnan(lrs) && !isnan(bound))
    fprintf(out, "    %-28s lr*sharpness %s the stability bound %s%s\n", "stability",
            lrs < bound ? "is below" : "EXCEEDS", hp_fmt_number(bound, buf, sizeof buf),
            lrs < bound ? "" : ": lower the learning rate or clip");
}

/* "lr=0.0012  optimizer=adam  ..." on one line. */
static void print_params_inline(FILE *out, const cJSON *params) {
  char buf[256];
  const cJSON *p;
  const char *sep = "";
  cJSON_ArrayForEach(p, params) {
    fprintf(out, "%s%s=%s", sep, p->string, hp_fmt_value(p, buf, sizeof buf));
    sep = "  ";
  }
}

static const char *str_or(const cJSON *obj, const char *key, const char *dflt) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  return cJSON_IsString(v) ? v->valuestring : dflt;
}

void hp_cli_print_pareto(FILE *out, const cJSON *study) {
  char buf[256];
  const cJSON *front = cJSON_GetObjectItemCaseSensitive(study, "pareto_front");
  const cJSON *hv = cJSON_GetObjectItemCaseSensitive(study, "hypervolume");
  const cJSON *dirs = cJSON_GetObjectItemCaseSensitive(study, "directions");
  const cJSON *metrics = cJSON_GetObjectItemCaseSensitive(study, "metrics");
  int n = cJSON_GetArraySize(front), m = cJSON_GetArraySize(dirs);
  fprintf(out, "Pareto front of %s: %d trial%s", str_or(study, "name", "?"), n, hp_plural(n));
  if (cJSON_IsObject(hv)) {
    fprintf(out, ", hypervolume %s", hp_fmt_value(cJSON_GetObjectItemCaseSensitive(hv, "value"),
                                                  buf, sizeof buf));
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(hv, "reference_point"), *x;
    fprintf(out, " (reference point");
    cJSON_ArrayForEach(x, r) fprintf(out, " %s", hp_fmt_value(x, buf, sizeof buf));
    fprintf(out, "%s)", cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(hv, "given")) ? "" : ", from the front");
  }
  fputc('\n', out);
  if (n == 0) return;
  hp_table_t t;
  const char *headers[2 + 8 + 1];
  char names[8][80];
  int h = 0;
  headers[h++] = ">trial";
  for (int k = 0; k < m && k < 8; k++) {
    const cJSON *mk = cJSON_GetArrayItem(metrics, k), *dk = cJSON_GetArrayItem(dirs, k);
    snprintf(names[k], sizeof names[k], ">%s (%s)",
             cJSON_IsString(mk) ? mk->valuestring : "value",
             cJSON_IsString(dk) && strcmp(dk->valuestring, "maximize") == 0 ? "max" : "min");
    headers[h++] = names[k];
  }
  headers[h++] = "params";
  hp_table_init(&t, h, headers);
  const cJSON *e;
  cJSON_ArrayForEach(e, front) {
    hp_table_cell(&t, hp_fmt_number(hp_cli_num(e, "trial"), buf, sizeof buf));
    const cJSON *vals = cJSON_GetObjectItemCaseSensitive(e, "values");
    for (int k = 0; k < m && k < 8; k++)
      hp_table_cell(&t, hp_fmt_value(cJSON_GetArrayItem(vals, k), buf, sizeof buf));
    char *ps = NULL;
    size_t pl = 0;
    FILE *pf = open_memstream(&ps, &pl);
    if (pf) {
      print_params_inline(pf, cJSON_GetObjectItemCaseSensitive(e, "params"));
      fclose(pf);
    }
    hp_table_cell(&t, ps ? ps : "");
    free(ps);
  }
  hp_table_print(&t, out);
  hp_table_free(&t);
}

void hp_cli_print_trial_detail(FILE *out, const cJSON *study, const cJSON *trial) {
  char buf[256];
  const cJSON *metric = cJSON_GetObjectItemCaseSensitive(study, "metric");
  const cJSON *dir = cJSON_GetObjectItemCaseSensitive(study, "direction");
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(study, "name");
  const cJSON *value = cJSON_GetObjectItemCaseSensitive(trial, "value");
  fprintf(out, "best trial of %s: #%.0f, %s = %s", cJSON_IsString(name) ? name->valuestring : "?",
          hp_cli_num(trial, "trial"), cJSON_IsString(metric) ? metric->valuestring : "value",
          hp_fmt_value(value, buf, sizeof buf));
  if (cJSON_IsString(dir)) fprintf(out, " (%s)", dir->valuestring);
  fputc('\n', out);
  const cJSON *p;
  fprintf(out, "  parameters\n");
  cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(trial, "params"))
    fprintf(out, "    %-20s %s\n", p->string, hp_fmt_value(p, buf, sizeof buf));
  const cJSON *ua = cJSON_GetObjectItemCaseSensitive(trial, "user_attrs");
  bool curv = false;
  if (cJSON_GetArraySize(ua) > 0) {
    fprintf(out, "  results\n");
    cJSON_ArrayForEach(p, ua) {
      if (strncmp(p->string, "curvature_", 10) == 0) {
        curv = true;
        continue;
      }
      fprintf(out, "    %-20s %s\n", p->string, hp_fmt_value(p, buf, sizeof buf));
    }
  }
  if (curv) print_curvature(out, ua);
  const cJSON *iv = cJSON_GetObjectItemCaseSensitive(trial, "intermediate");
  if (cJSON_GetArraySize(iv) > 0) {
    fprintf(out, "  %-22s", "learning curve");
    const cJSON *pair;
    cJSON_ArrayForEach(pair, iv) {
      fprintf(out, " %s", hp_fmt_value(cJSON_GetArrayItem(pair, 1), buf, sizeof buf));
    }
    fputc('\n', out);
  }
  /* The engine's per-epoch metrics (trial objects carry them as "curves"). */
  const cJSON *curves = cJSON_GetObjectItemCaseSensitive(trial, "curves");
  static const char *const rows[][2] = {{"train_loss", "train loss"},
                                        {"val_loss", "validation loss"},
                                        {"train_accuracy", "train accuracy"},
                                        {"val_accuracy", "validation accuracy"}};
  for (size_t k = 0; curves && k < sizeof rows / sizeof rows[0]; k++) {
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(curves, rows[k][0]), *e;
    bool any = false;
    cJSON_ArrayForEach(e, arr) any = any || cJSON_IsNumber(e);
    if (!any) continue;
    fprintf(out, "  %-22s", rows[k][1]);
    cJSON_ArrayForEach(e, arr) fprintf(out, " %s", hp_fmt_value(e, buf, sizeof buf));
    fputc('\n', out);
  }
  double d = hp_cli_num(trial, "duration");
  if (!isnan(d)) fprintf(out, "  %-22s %s\n", "duration", hp_fmt_duration(d, buf, sizeof buf));
  const cJSON *start = cJSON_GetObjectItemCaseSensitive(trial, "datetime_start");
  if (cJSON_IsString(start)) fprintf(out, "  %-22s %s\n", "started", start->valuestring);
}

/* ---- status ------------------------------------------------------------- */


static long finished_count(const cJSON *s) {
  return hp_cli_count(s, "COMPLETE") + hp_cli_count(s, "PRUNED") + hp_cli_count(s, "FAIL");
}

/* ETA text of a running study, "-" otherwise. */
static const char *eta_text(const cJSON *s, char *buf, size_t cap) {
  double eta = hp_cli_eta(s);
  if (isnan(eta) || strcmp(str_or(s, "state", ""), "running") != 0) return "-";
  return hp_fmt_duration(eta, buf, cap);
}

static void print_study_table(FILE *out, const cJSON *studies) {
  static const char *const headers[] = {"study", "state", "direction", ">done", ">running",
                                        ">complete", ">pruned", ">fail", ">best", ">best#",
                                        ">elapsed", ">eta"};
  hp_table_t t;
  hp_table_init(&t, 12, headers);
  char buf[64];
  const cJSON *s;
  cJSON_ArrayForEach(s, studies) {
    hp_table_cell(&t, str_or(s, "name", "?"));
    hp_table_cell(&t, str_or(s, "state", "-"));
    const cJSON *dirs = cJSON_GetObjectItemCaseSensitive(s, "directions");
    if (cJSON_GetArraySize(dirs) > 1) { /* "max,min" */
      char d[64] = "";
      for (int k = 0; k < cJSON_GetArraySize(dirs) && k < 8; k++) {
        const cJSON *dk = cJSON_GetArrayItem(dirs, k);
        bool mx = cJSON_IsString(dk) && strcmp(dk->valuestring, "maximize") == 0;
        strcat(d, k ? "," : "");
        strcat(d, mx ? "max" : "min");
      }
      hp_table_cell(&t, d);
    } else {
      hp_table_cell(&t, str_or(s, "direction", "-"));
    }
    double nt = hp_cli_target(s);
    if (isnan(nt)) hp_table_cellf(&t, "%ld", finished_count(s));
    else hp_table_cellf(&t, "%ld/%.0f", finished_count(s), nt);
    hp_table_cellf(&t, "%ld", hp_cli_count(s, "RUNNING"));
    hp_table_cellf(&t, "%ld", hp_cli_count(s, "COMPLETE"));
    hp_table_cellf(&t, "%ld", hp_cli_count(s, "PRUNED"));
    hp_table_cellf(&t, "%ld", hp_cli_count(s, "FAIL"));
    const cJSON *best = cJSON_GetObjectItemCaseSensitive(s, "best");
    const cJSON *front = cJSON_GetObjectItemCaseSensitive(s, "pareto_front");
    if (cJSON_IsObject(best)) {
      hp_table_cell(&t, hp_fmt_value(cJSON_GetObjectItemCaseSensitive(best, "value"), buf,
                                     sizeof buf));
      hp_table_cell(&t, hp_fmt_number(hp_cli_num(best, "trial"), buf, sizeof buf));
    } else if (cJSON_GetArraySize(front) > 0) { /* several objectives */
      hp_table_cellf(&t, "front of %d", cJSON_GetArraySize(front));
      hp_table_cell(&t, "-");
    } else {
      hp_table_cell(&t, "-");
      hp_table_cell(&t, "-");
    }
    double el = hp_cli_num(s, "elapsed");
    hp_table_cell(&t, isnan(el) ? "-" : hp_fmt_duration(el, buf, sizeof buf));
    hp_table_cell(&t, eta_text(s, buf, sizeof buf));
  }
  if (cJSON_GetArraySize(studies) == 0) fprintf(out, "no studies\n");
  else hp_table_print(&t, out);
  hp_table_free(&t);
}

double hp_cli_target(const cJSON *s) {
  double nt = hp_cli_num(s, "n_trials");
  double grid = hp_cli_num(cJSON_GetObjectItemCaseSensitive(s, "grid"), "total");
  if (isnan(nt) || (!isnan(grid) && grid < nt)) return grid;
  return nt;
}

double hp_cli_eta(const cJSON *s) {
  double nt = hp_cli_target(s), el = hp_cli_num(s, "elapsed");
  long done = finished_count(s);
  if (isnan(nt) || isnan(el) || done <= 0 || el <= 0) return NAN;
  double left = nt - (double)done;
  return left <= 0 ? 0 : left * el / (double)done;
}

/* The running trials of a summary: last reported step and value, time
 * since start, and who runs it (a worker, or a client that asked). */
static void print_running(FILE *out, const cJSON *running) {
  if (cJSON_GetArraySize(running) == 0) return;
  static const char *const headers[] = {">trial", ">step", ">value", ">elapsed", "run by"};
  hp_table_t t;
  hp_table_init(&t, 5, headers);
  char buf[64];
  const cJSON *r;
  cJSON_ArrayForEach(r, running) {
    hp_table_cell(&t, hp_fmt_number(hp_cli_num(r, "trial"), buf, sizeof buf));
    double step = hp_cli_num(r, "step");
    hp_table_cell(&t, isnan(step) ? "-" : hp_fmt_number(step, buf, sizeof buf));
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, "value");
    hp_table_cell(&t, v == NULL || cJSON_IsNull(v) ? "-" : hp_fmt_value(v, buf, sizeof buf));
    double el = hp_cli_num(r, "elapsed");
    hp_table_cell(&t, isnan(el) ? "-" : hp_fmt_duration(el, buf, sizeof buf));
    hp_table_cell(&t, cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(r, "worker")) ? "client"
                                                                                  : "worker");
  }
  fprintf(out, "\nrunning trials\n");
  hp_table_print(&t, out);
  hp_table_free(&t);
}

static void print_study_detail(FILE *out, const cJSON *s, const cJSON *recent) {
  char buf[64], buf2[64];
  fprintf(out, "study        %s (id %.0f)", str_or(s, "name", "?"), hp_cli_num(s, "study_id"));
  if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(s, "state")))
    fprintf(out, ", %s", str_or(s, "state", ""));
  fputc('\n', out);
  const char *why = str_or(s, "stop_reason", NULL);
  if (why != NULL)
    fprintf(out, "stopped      %s\n             (hpsearch resume %s continues it)\n", why,
            str_or(s, "name", "?"));
  const char *metric = str_or(s, "metric", NULL);
  const cJSON *dirs = cJSON_GetObjectItemCaseSensitive(s, "directions");
  if (cJSON_GetArraySize(dirs) > 1) { /* several objectives */
    const cJSON *metrics = cJSON_GetObjectItemCaseSensitive(s, "metrics");
    fprintf(out, "directions  ");
    for (int k = 0; k < cJSON_GetArraySize(dirs); k++) {
      const cJSON *d = cJSON_GetArrayItem(dirs, k), *mk = cJSON_GetArrayItem(metrics, k);
      fprintf(out, "%s %s%s%s", k ? "," : "", cJSON_IsString(d) ? d->valuestring : "?",
              cJSON_IsString(mk) ? " " : "", cJSON_IsString(mk) ? mk->valuestring : "");
    }
    fputc('\n', out);
  } else {
    fprintf(out, "direction    %s%s%s\n", str_or(s, "direction", "?"), metric ? " " : "",
            metric ? metric : "");
  }
  if (cJSON_GetObjectItemCaseSensitive(s, "objective") != NULL) {
    /* The automatic sampler (and any startup) says which algorithm
     * proposed the newest trial. */
    const char *sampler = str_or(s, "sampler", "-"), *last = str_or(s, "last_sampler", NULL);
    fprintf(out, "objective    %s; sampler %s", str_or(s, "objective", "-"), sampler);
    if (last != NULL && strcmp(last, sampler) != 0) fprintf(out, " (last trial by %s)", last);
    fprintf(out, "; pruner %s", str_or(s, "pruner", "-"));
    double par = hp_cli_num(s, "parallelism");
    if (!isnan(par)) fprintf(out, "; parallelism %.0f", par);
    fputc('\n', out);
  }
  double nt = hp_cli_target(s);
  fprintf(out, "trials       %ld", finished_count(s));
  if (!isnan(nt)) fprintf(out, " of %.0f", nt);
  fprintf(out, " finished: %ld complete, %ld pruned, %ld failed; %ld running, %ld waiting\n",
          hp_cli_count(s, "COMPLETE"), hp_cli_count(s, "PRUNED"), hp_cli_count(s, "FAIL"),
          hp_cli_count(s, "RUNNING"), hp_cli_count(s, "WAITING"));
  const cJSON *grid = cJSON_GetObjectItemCaseSensitive(s, "grid");
  if (cJSON_IsObject(grid)) {
    double total = hp_cli_num(grid, "total"), gdone = hp_cli_num(grid, "done");
    double grun = hp_cli_num(grid, "running");
    fprintf(out, "grid         %.0f point%s: %.0f done, %.0f running, %.0f left (%.0f%%)\n", total,
            hp_plural((long long)total), gdone, grun, total - gdone - grun,
            total > 0 ? 100.0 * gdone / total : 100.0);
  }
  double el = hp_cli_num(s, "elapsed"), eta = hp_cli_eta(s);
  if (!isnan(el)) {
    fprintf(out, "elapsed      %s", hp_fmt_duration(el, buf, sizeof buf));
    if (!isnan(eta) && eta > 0 && strcmp(str_or(s, "state", ""), "running") == 0)
      fprintf(out, ", ETA %s", hp_fmt_duration(eta, buf2, sizeof buf2));
    fputc('\n', out);
  }
  const cJSON *best = cJSON_GetObjectItemCaseSensitive(s, "best");
  if (cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(s, "pareto_front"))) {
    hp_cli_print_pareto(out, s);
  } else if (cJSON_IsObject(best)) {
    fprintf(out, "best         trial %.0f: %s\n", hp_cli_num(best, "trial"),
            hp_fmt_value(cJSON_GetObjectItemCaseSensitive(best, "value"), buf, sizeof buf));
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(best, "params");
    if (cJSON_GetArraySize(params) > 0) {
      fprintf(out, "             ");
      print_params_inline(out, params);
      fputc('\n', out);
    }
  } else {
    fprintf(out, "best         -\n");
  }
  print_running(out, cJSON_GetObjectItemCaseSensitive(s, "running_trials"));
  if (cJSON_GetArraySize(recent) > 0) {
    fprintf(out, "\nrecent trials\n");
    hp_cli_print_trial_table(out, recent);
  }
}

/* One rendering of the status view (all studies, or one). *finished (may be
 * NULL) tells whether the one study shown is finished. */
static int render(hp_cli_src_t *src, const char *study, bool json, FILE *out, bool *finished,
                  hp_err_t *err) {
  cJSON *data = NULL, *recent = NULL;
  int rc;
  if (study == NULL) {
    rc = hp_cli_src_studies(src, &data, err);
    if (rc < 0) return rc;
    if (json) {
      cJSON *wrap = cJSON_CreateObject();
      cJSON_AddItemToObject(wrap, "studies", data);
      data = wrap;
    } else {
      print_study_table(out, data);
    }
  } else {
    rc = hp_cli_src_study(src, study, &data, err);
    if (rc < 0) return rc;
    if (finished != NULL) *finished = strcmp(str_or(data, "state", ""), "finished") == 0;
    long total = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(data, "counts"))
      if (cJSON_IsNumber(c)) total += (long)c->valuedouble;
    long off = total > RECENT_TRIALS ? total - RECENT_TRIALS : 0;
    rc = hp_cli_src_trials(src, study, false, off, RECENT_TRIALS, &recent, err);
    if (rc < 0) goto done;
    if (json) {
      cJSON_AddItemToObject(data, "recent_trials", recent);
      recent = NULL;
    } else {
      print_study_detail(out, data, recent);
    }
  }
  if (json) {
    char *text = hp_json_print(data);
    if (text == NULL) {
      rc = hp_err_set(err, HP_ENOMEM, "out of memory");
      goto done;
    }
    fputs(text, out);
    fputc('\n', out);
    free(text);
  }
  rc = 0;
done:
  cJSON_Delete(data);
  cJSON_Delete(recent);
  return rc;
}

/* Waits up to ms for something to redraw for: an event on the subscribed
 * connection (drained), or just the time passing. Returns 1 when the watched
 * study finished or the daemon is going away, 0 to redraw, < 0 on error. */
static int wait_events(hp_cli_src_t *src, const char *study, int ms, hp_err_t *err) {
  if (src->use_db) {
    poll(NULL, 0, ms);
    return 0;
  }
  int end = 0;
  for (int first = 1;; first = 0) {
    cJSON *msg;
    int rc = hp_client_recv(&src->client, first ? ms : 0, &msg, err);
    if (rc == HP_ETIMEOUT) return end;
    if (rc < 0) return rc;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(msg, "params");
    const char *type = str_or(p, "type", "");
    if (strcmp(type, HP_RPC_EV_SHUTDOWN) == 0) end = 1;
    if (study != NULL && (strcmp(type, HP_RPC_EV_STUDY_FINISHED) == 0 ||
                          strcmp(type, HP_RPC_EV_STUDY_DELETED) == 0))
      end = 1;
    cJSON_Delete(msg);
  }
}

/* One frame of --watch. On a terminal the frame replaces the previous one
 * in place (cursor home, each line cleared to its end, the rest of the
 * screen cleared after it: no flicker); otherwise frames are appended,
 * separated by a blank line, for logs. */
static int draw(hp_cli_src_t *src, const char *study, bool json, bool tty, bool *finished,
                hp_err_t *err) {
  if (!tty || json) {
    int rc = render(src, study, json, stdout, finished, err);
    if (rc == 0 && !json) fputc('\n', stdout);
    fflush(stdout);
    return rc;
  }
  char *frame = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&frame, &len);
  if (mem == NULL) return hp_err_set(err, HP_ENOMEM, "out of memory");
  int rc = render(src, study, json, mem, finished, err);
  fclose(mem);
  if (rc == 0) {
    fputs("\x1b[H", stdout);
    for (const char *p = frame; p < frame + len;) {
      const char *nl = memchr(p, '\n', (size_t)(frame + len - p));
      size_t n = nl ? (size_t)(nl - p) : (size_t)(frame + len - p);
      fwrite(p, 1, n, stdout);
      fputs("\x1b[K\n", stdout);
      p += n + (nl ? 1 : 0);
    }
    fputs("\x1b[J", stdout);
    fflush(stdout);
  }
  free(frame);
  return rc;
}

static int watch(hp_cli_src_t *src, const char *study, bool json, const char *cmd) {
  hp_err_t err = {0};
  bool tty = isatty(STDOUT_FILENO);
  if (!src->use_db) {
    cJSON *p = cJSON_CreateObject(), *r;
    if (study != NULL) cJSON_AddStringToObject(p, "study", study);
    int rc = hp_client_call(&src->client, HP_RPC_EVENTS_SUBSCRIBE, p, &r, &err);
    if (rc < 0) return hp_cli_fail(cmd, rc, &err);
    cJSON_Delete(r);
  }
  if (tty && !json) fputs("\x1b[2J", stdout); /* start on a clear screen */
  for (;;) {
    bool finished = false;
    int rc = draw(src, study, json, tty, &finished, &err);
    if (rc < 0) return hp_cli_fail(cmd, rc, &err);
    if (finished) return HP_EXIT_OK;
    /* Redraw at most twice a second, and every 2 s for the clock. */
    rc = wait_events(src, study, 2000, &err);
    if (rc < 0) {
      if (rc == HP_EIO) return HP_EXIT_OK; /* daemon went away: nothing left to watch */
      return hp_cli_fail(cmd, rc, &err);
    }
    if (rc == 1) {
      rc = draw(src, study, json, tty, NULL, &err);
      return rc < 0 ? hp_cli_fail(cmd, rc, &err) : HP_EXIT_OK;
    }
    poll(NULL, 0, 500);
  }
}

int hp_cmd_status(int argc, char **argv) {
  if (hp_cli_wants_help(argc, argv)) return hp_cli_help(argv[0]);
  const char *study = NULL, *db = NULL, *sock = NULL;
  bool json = false, watch_mode = false;
  const hp_cli_arg_t args[] = {{"--json", &json, NULL}, {"--watch", &watch_mode, NULL},
                               {"--db", NULL, &db},      {"--socket", NULL, &sock},
                               {NULL, NULL, NULL}};
  int prc = hp_cli_parse(argc, argv, args, &study, 1, NULL);
  if (prc) return prc;
  static char obuf[1 << 16];
  setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
  hp_err_t err = {0};
  hp_cli_src_t src;
  int rc = hp_cli_src_open(&src, sock, db, &err);
  if (rc < 0) return hp_cli_fail(argv[0], rc, &err);
  int code;
  if (watch_mode) {
    char msg[1000];
    if (db != NULL)
      snprintf(msg, sizeof msg, "hpsearch status: stopped watching %s; nothing was changed",
               db);
    else if (study != NULL)
      snprintf(msg, sizeof msg,
               "hpsearch status: stopped watching; study %s keeps running in the daemon "
               "(%s status %s --watch to watch it again, %s stop %s to stop it)",
               study, hp_cli_prog(), study, hp_cli_prog(), study);
    else
      snprintf(msg, sizeof msg,
               "hpsearch status: stopped watching; the studies keep running in the daemon "
               "(%s status --watch to watch them again)", hp_cli_prog());
    hp_cli_on_interrupt(msg);
    code = watch(&src, study, json, argv[0]);
  } else {
    rc = render(&src, study, json, stdout, NULL, &err);
    code = rc < 0 ? hp_cli_fail(argv[0], rc, &err) : HP_EXIT_OK;
  }
  hp_cli_src_close(&src);
  fflush(stdout);
  return code;
}

/* Study specs (docs/study-spec.md): parsing and validation with errors that
 * name the field, and the "$param" substitution that turns an objective
 * template into one trial's engine config, argv or environment. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon_int.h"
#include "hpsearch/engine.h"
#include "hpsearch/json.h"
#include "hpsearch/num.h"
#include "hpsearch/utf8.h"

#define NAME_MAX_LEN 256
#define ARGV_MAX 4096

static const char *const SPEC_KEYS[] = {
    "name",        "direction", "metric",        "sampler", "pruner", "n_trials",
    "directions",  "metrics",   "constraints", "reference_point",
    "time_budget", "parallelism", "trial_timeout", "space",   "objective", "description",
    "max_consecutive_failures", "heartbeat_interval", "grace_period", "max_retry",
    "diagnostics", "executor", NULL};
/* What `hpsearch worker` reports on its final line (cli/cmd_worker.c). */
static const char *const ENGINE_METRICS[] = {"val_loss",     "val_accuracy",      "train_loss",
                                             "train_accuracy", "n_params",         "seconds",
                                             "seconds_per_epoch", NULL};

void hp_study_spec_free(hp_study_spec_t *spec) {
  if (spec == NULL) return;
  free(spec->name);
  for (int k = 0; k < HP_STORE_MAX_OBJECTIVES; k++) free(spec->metrics[k]); /* metric is [0] */
  for (int k = 0; k < spec->n_cons; k++) free(spec->cons_metric[k]);
  cJSON_Delete(spec->pruner);
  hp_space_free(spec->space);
  cJSON_Delete(spec->engine);
  cJSON_Delete(spec->command);
  cJSON_Delete(spec->env);
  free(spec->cwd);
  free(spec->exec.partition);
  free(spec->exec.time);
  free(spec->exec.mem);
  free(spec->exec.gres);
  free(spec->exec.output);
  for (char **e = spec->exec.extra; e && *e; e++) free(*e);
  free(spec->exec.extra);
  cJSON_Delete(spec->json);
  free(spec);
}

/* Checks every "$name" / "${name}" in the tree refers to a parameter.
 * `embedded` allows "${name}" inside longer strings (argv/env only). */
static int check_refs(const cJSON *node, const hp_space_t *space, bool embedded, const char *where,
                      hp_err_t *err) {
  if (cJSON_IsString(node)) {
    const char *s = node->valuestring;
    if (s[0] == '$' && s[1] != '$' && s[1] != '{') {
      if (hp_space_find(space, s + 1) < 0)
        return hp_err_set(err, HP_EINVAL, "%s: \"%s\" refers to no parameter of the space", where,
                          s);
      return 0;
    }
    for (const char *p = s; *p; p++) {
      if (p[0] == '$' && p[1] == '$') {
        p++;
        continue;
      }
      if (p[0] == '$' && p[1] == '{') {
        if (!embedded)
          return hp_err_set(err, HP_EINVAL,
                            "%s: \"${...}\" is only allowed in command arguments and env; use "
                            "the whole string \"$name\"",
                            where);
        const char *close = strchr(p + 2, '}');
        if (close == NULL)
          return hp_err_set(err, HP_EINVAL, "%s: unterminated \"${\" in \"%s\"", where, s);
        char name[NAME_MAX_LEN];
        size_t n = (size_t)(close - (p + 2));
        if (n == 0 || n >= sizeof name)
          return hp_err_set(err, HP_EINVAL, "%s: bad reference in \"%s\"", where, s);
        memcpy(name, p + 2, n);
        name[n] = '\0';
        if (hp_space_find(space, name) < 0)
          return hp_err_set(err, HP_EINVAL, "%s: \"${%s}\" refers to no parameter of the space",
                            where, name);
        p = close;
      }
    }
    return 0;
  }
  int i = 0;
  for (const cJSON *c = node->child; c; c = c->next, i++) {
    char sub[512];
    if (cJSON_IsObject(node)) snprintf(sub, sizeof sub, "%s.%s", where, c->string);
    else snprintf(sub, sizeof sub, "%s[%d]", where, i);
    int rc = check_refs(c, space, embedded, sub, err);
    if (rc < 0) return rc;
  }
  return 0;
}

/* Turns "space.x: ..." into "spec.space.x: ..." (errors of the parsers we
 * call name paths from their own root). */
static void path_prefix(hp_err_t *err, const char *root, const char *sub) {
  char msg[HP_ERR_MSG_MAX];
  if (strncmp(err->msg, sub, strlen(sub)) == 0) snprintf(msg, sizeof msg, "%s.%s", root, err->msg);
  else snprintf(msg, sizeof msg, "%s.%s: %s", root, sub, err->msg);
  snprintf(err->msg, sizeof err->msg, "%s", msg);
}

static int dup_str(const char *s, char **out, hp_err_t *err) {
  *out = strdup(s);
  return *out ? 0 : hp_err_set(err, HP_ENOMEM, "out of memory");
}

/* Substitutes params into the engine template and lets the engine check it. */
static int check_engine_at(const hp_study_spec_t *sp, const double *params, int varied,
                          bool files, hp_err_t *err) {
  cJSON *cfg = NULL;
  int rc = hp_study_substitute(sp->engine, sp->space, params, &cfg, err);
  if (rc < 0) return rc;
  hp_train_config_t tc;
  rc = hp_train_config_parse(cfg, &tc, err);
  cJSON_Delete(cfg);
  if (rc == 0) {
    if (files) rc = hp_data_config_check_files(&tc.data, "data", err);
    hp_train_config_free(&tc);
    if (rc == 0) return 0;
  }
  if (varied >= 0) {
    char val[128] = "?";
    hp_dist_format_external(&sp->space->params[varied].dist, params[varied], val, sizeof val);
    hp_err_prefix(err, "spec.objective.engine (with %s = %s)", sp->space->params[varied].name, val);
  } else {
    hp_err_prefix(err, "spec.objective.engine");
  }
  return rc == HP_ENOMEM ? rc : HP_EINVAL;
}

/* Validates the engine template once per value that matters: every choice
 * of each categorical and both ends of each range, the other parameters at
 * their first value, so a bad choice is refused at creation, not per trial.
 * With `files`, the data files each of those configs names must exist too. */
static int check_engine(const hp_study_spec_t *sp, bool files, hp_err_t *err) {
  const hp_space_t *space = sp->space;
  double *base = malloc(((size_t)space->n + 1) * sizeof *base);
  double *p = malloc(((size_t)space->n + 1) * sizeof *p);
  int rc = base && p ? 0 : hp_err_set(err, HP_ENOMEM, "out of memory");
  if (rc == 0) hp_space_example(space, -1, base);
  if (rc == 0) rc = check_engine_at(sp, base, -1, files, err);
  for (int i = 0; rc == 0 && i < space->n; i++) {
    const hp_dist_t *dist = &space->params[i].dist;
    int nv = dist->kind == HP_DIST_CAT ? dist->n_choices : 2;
    /* A conditional parameter is tried where it is active: its parents at
     * the first choices that allow it (hp_space_example). */
    double *from = base;
    if (space->params[i].n_cond > 0) {
      hp_space_example(space, i, p);
      from = p;
    }
    /* Parsing tries the first 64 choices; the data check at creation tries
     * them all (a data path can only come from a categorical's strings). */
    for (int k = 0; rc == 0 && k < nv && (files || k < 64); k++) {
      if (from != p) memcpy(p, from, (size_t)space->n * sizeof *p);
      p[i] = dist->kind == HP_DIST_CAT ? k : k == 0 ? dist->low : dist->high;
      /* a choice can switch conditions: the others at their first values */
      for (int q = i + 1; q < space->n; q++) {
        const hp_dist_t *dq = &space->params[q].dist;
        if (!hp_space_active(space, q, p)) p[q] = NAN;
        else if (isnan(p[q])) p[q] = dq->kind == HP_DIST_CAT ? 0 : dq->low;
      }
      rc = check_engine_at(sp, p, i, files, err);
    }
  }
  free(base);
  free(p);
  return rc;
}

/* ---- the program of a command objective --------------------------------------- */

/* Indices of the parameters a string refers to ("$name" whole, or "${name}"
 * inside), appended to idx[*n] without repeats (at most `max`). */
static void refs_of(const char *s, const hp_space_t *space, int *idx, int *n, int max) {
  char name[NAME_MAX_LEN + 1];
  for (const char *p = s; *p; p++) {
    const char *from = NULL;
    size_t len = 0;
    if (p == s && p[0] == '$' && p[1] != '$' && p[1] != '{') {
      from = p + 1;
      len = strlen(from);
    } else if (p[0] == '$' && p[1] == '$') {
      p++;
      continue;
    } else if (p[0] == '$' && p[1] == '{' && strchr(p + 2, '}')) {
      from = p + 2;
      len = (size_t)(strchr(p + 2, '}') - from);
    }
    if (from == NULL || len == 0 || len >= sizeof name) continue;
    memcpy(name, from, len);
    name[len] = '\0';
    int k = hp_space_find(space, name);
    bool seen = false;
    for (int j = 0; j < *n; j++) seen = seen || idx[j] == k;
    if (k >= 0 && !seen && *n < max) idx[(*n)++] = k;
    if (from == p + 1) break; /* the whole string was the reference */
    p = from + len;
  }
}

/* Text of a template string for these parameter values, as the worker
 * substitutes it (a whole "$x" becomes its value's text). */
static char *template_text(const cJSON *item, const hp_space_t *space, const double *params,
                           hp_err_t *err) {
  cJSON *r = NULL;
  if (hp_study_substitute(item, space, params, &r, err) < 0) return NULL;
  char *t = hp_study_value_text(r);
  cJSON_Delete(r);
  if (t == NULL) hp_err_set(err, HP_ENOMEM, "out of memory");
  return t;
}

/* How execvp will see prog from folder dirfd: 0 (an executable file),
 * -EACCES (a file without execute permission, or a folder) or -ENOENT. */
static int exec_probe(int dirfd, const char *path) {
  struct stat sb;
  if (fstatat(dirfd, path, &sb, 0) < 0) return errno == EACCES ? -EACCES : -ENOENT;
  if (S_ISDIR(sb.st_mode) || faccessat(dirfd, path, X_OK, 0) < 0) return -EACCES;
  return 0;
}

/* Resolves prog as the supervisor's execvp will (worker_exec.c): a name with
 * a '/' as a path from the trial's folder, else each entry of PATH (an empty
 * or relative entry is relative to that folder too); glibc's default path
 * when PATH is unset. `with` names the parameter values used, or "". */
static int check_program(const char *prog, const char *path_env, int dirfd, const char *folder,
                         const char *with, hp_err_t *err) {
  if (prog[0] == '\0')
    return hp_err_set(err, HP_EINVAL, "spec.objective.command[0]%s: empty program name", with);
  if (strchr(prog, '/') != NULL) {
    int rc = exec_probe(dirfd, prog);
    if (rc == 0) return 0;
    return hp_err_set(err, HP_EINVAL, "spec.objective.command[0]%s: '%s'%s%s: %s", with, prog,
                      prog[0] == '/' ? "" : " in ", prog[0] == '/' ? "" : folder,
                      rc == -EACCES ? "not an executable file (Permission denied)"
                                    : "No such file or directory");
  }
  const char *path = path_env ? path_env : "/bin:/usr/bin";
  bool denied = false;
  for (const char *p = path;;) {
    const char *colon = strchr(p, ':');
    size_t len = colon ? (size_t)(colon - p) : strlen(p);
    char full[4096];
    if (len + strlen(prog) + 2 <= sizeof full) {
      if (len == 0) snprintf(full, sizeof full, "%s", prog);
      else snprintf(full, sizeof full, "%.*s/%s", (int)len, p, prog);
      int rc = exec_probe(dirfd, full);
      if (rc == 0) return 0;
      denied = denied || rc == -EACCES;
    }
    if (colon == NULL) break;
    p = colon + 1;
  }
  return hp_err_set(err, HP_EINVAL, "spec.objective.command[0]%s: '%s' %s in PATH (%s%s), from %s",
                    with, prog, denied ? "is not executable" : "was not found",
                    path_env ? "" : "unset: ", path, folder);
}

/* The program of a command objective exists and may be executed, resolved
 * with the PATH the worker gets (the spec's env.PATH, else the daemon's) from
 * the folder it runs in (cwd, else the daemon's). A program or PATH built
 * from parameters is checked for every combination of their values; only
 * categorical parameters may appear there (a number is no program name). */
static int check_command(const hp_study_spec_t *sp, hp_err_t *err) {
  enum { MAX_REFS = 8, MAX_COMBOS = 4096 };
  const hp_space_t *space = sp->space;
  const cJSON *prog = cJSON_GetArrayItem(sp->command, 0);
  const cJSON *path_item = sp->env ? cJSON_GetObjectItemCaseSensitive(sp->env, "PATH") : NULL;
  int idx[MAX_REFS], n = 0;
  refs_of(prog->valuestring, space, idx, &n, MAX_REFS);
  int n_prog = n;
  if (path_item) refs_of(path_item->valuestring, space, idx, &n, MAX_REFS);
  long combos = 1;
  for (int j = 0; j < n; j++) {
    const hp_dist_t *dist = &space->params[idx[j]].dist;
    if (space->params[idx[j]].n_cond > 0)
      return hp_err_set(err, HP_EINVAL,
                        "%s: '%s' is conditional (\"when\"); the program (and PATH) may refer "
                        "only to parameters every trial has",
                        j < n_prog ? "spec.objective.command[0]" : "spec.objective.env.PATH",
                        space->params[idx[j]].name);
    if (dist->kind != HP_DIST_CAT)
      return hp_err_set(err, HP_EINVAL,
                        "%s: the program (and PATH) may refer only to categorical parameters, "
                        "whose every choice is checked when the study is created; '%s' is not "
                        "categorical",
                        j < n_prog ? "spec.objective.command[0]" : "spec.objective.env.PATH",
                        space->params[idx[j]].name);
    combos *= dist->n_choices;
    if (combos > MAX_COMBOS)
      return hp_err_set(err, HP_EINVAL,
                        "spec.objective.command[0]: more than %d combinations of the parameters "
                        "naming the program to check",
                        MAX_COMBOS);
  }
  char folder[4096];
  if (sp->cwd) snprintf(folder, sizeof folder, "%s", sp->cwd);
  else if (getcwd(folder, sizeof folder) == NULL) snprintf(folder, sizeof folder, ".");
  int dirfd = AT_FDCWD;
  if (sp->cwd) {
    dirfd = open(sp->cwd, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
      return hp_err_set(err, HP_EINVAL, "spec.objective.cwd: '%s': %s", sp->cwd, strerror(errno));
  }
  double *params = malloc(((size_t)space->n + 1) * sizeof *params);
  int rc = params ? 0 : hp_err_set(err, HP_ENOMEM, "out of memory");
  if (rc == 0) hp_space_example(space, -1, params);
  const char *daemon_path = getenv("PATH");
  for (long c = 0; rc == 0 && c < combos; c++) {
    char with[512] = "";
    size_t wl = 0;
    long rest = c;
    for (int j = 0; j < n; j++) {
      const hp_dist_t *dist = &space->params[idx[j]].dist;
      params[idx[j]] = (double)(rest % dist->n_choices);
      rest /= dist->n_choices;
      char val[128] = "?";
      hp_dist_format_external(dist, params[idx[j]], val, sizeof val);
      if (wl < sizeof with)
        wl += (size_t)snprintf(with + wl, sizeof with - wl, "%s%s = %s", j ? ", " : " (with ",
                               space->params[idx[j]].name, val);
    }
    if (n > 0 && wl < sizeof with - 1) snprintf(with + wl, sizeof with - wl, ")");
    char *ptext = template_text(prog, space, params, err);
    char *pathtext = path_item ? template_text(path_item, space, params, err) : NULL;
    if (ptext == NULL || (path_item && pathtext == NULL)) rc = err->code ? err->code : HP_ENOMEM;
    else rc = check_program(ptext, path_item ? pathtext : daemon_path, dirfd, folder, with, err);
    free(ptext);
    free(pathtext);
  }
  free(params);
  if (dirfd != AT_FDCWD) close(dirfd);
  return rc;
}

/* Not part of parsing: a stored study whose data or program went away must
 * still load (its trials then fail naming the file); a new one is refused. */
int hp_study_spec_check_create(const hp_study_spec_t *sp, hp_err_t *err) {
  if (sp->exec.slurm) {
    /* The executor runs Slurm's client commands from the daemon's PATH. */
    hp_err_t perr = {0};
    if (check_program("sbatch", getenv("PATH"), AT_FDCWD, ".", "", &perr) < 0)
      return hp_err_set(err, HP_EINVAL, "spec.executor: \"type\": \"slurm\" needs Slurm's "
                                        "client commands (sbatch, squeue, scancel) on the "
                                        "daemon's PATH: sbatch was not found");
  }
  if (sp->kind == HP_OBJ_ENGINE) return check_engine(sp, true, err);
  if (sp->kind == HP_OBJ_COMMAND) return check_command(sp, err);
  return 0;
}

/* The study-level "diagnostics" switch: the default of every trial's
 * engine "diagnostics" (keys the engine config sets itself win). */
static int merge_diagnostics(cJSON *engine, const cJSON *diag, hp_err_t *err) {
  if (diag == NULL) return 0;
  if (!cJSON_IsObject(diag))
    return hp_err_set(err, HP_EINVAL, "spec.diagnostics: expected an object, got %s",
                      hp_json_type_name(diag));
  cJSON *own = cJSON_GetObjectItemCaseSensitive(engine, "diagnostics");
  if (own == NULL) {
    cJSON *copy = cJSON_Duplicate(diag, true);
    if (copy == NULL || !cJSON_AddItemToObject(engine, "diagnostics", copy)) {
      cJSON_Delete(copy);
      return hp_err_set(err, HP_ENOMEM, "out of memory");
    }
    return 0;
  }
  if (!cJSON_IsObject(own)) return 0; /* the engine's parser names the error */
  for (const cJSON *k = diag->child; k; k = k->next) {
    if (cJSON_GetObjectItemCaseSensitive(own, k->string) != NULL) continue;
    cJSON *copy = cJSON_Duplicate(k, true);
    if (copy == NULL || !cJSON_AddItemToObject(own, k->string, copy)) {
      cJSON_Delete(copy);
      return hp_err_set(err, HP_ENOMEM, "out of memory");
    }
  }
  return 0;
}

static int parse_objective(const cJSON *obj, const cJSON *diag, hp_study_spec_t *sp,
                           hp_err_t *err) {
  static const char *const ENGINE_KEYS[] = {"engine", NULL};
  static const char *const COMMAND_KEYS[] = {"command", "env", "cwd", NULL};
  if (obj == NULL) {
    sp->kind = HP_OBJ_NONE;
    return 0;
  }
  if (!cJSON_IsObject(obj))
    return hp_err_set(err, HP_EINVAL, "spec.objective: expected an object, got %s",
                      hp_json_type_name(obj));
  const cJSON *engine = cJSON_GetObjectItemCaseSensitive(obj, "engine");
  const cJSON *command = cJSON_GetObjectItemCaseSensitive(obj, "command");
  if (engine && command)
    return hp_err_set(err, HP_EINVAL, "spec.objective: give either \"engine\" or \"command\", not both");
  if (engine == NULL && command == NULL)
    return hp_err_set(err, HP_EINVAL, "spec.objective: needs \"engine\" (a training config) or "
                                      "\"command\" (an argv)");
  int rc;
  if (engine) {
    rc = hp_json_check_keys(obj, ENGINE_KEYS, "spec.objective", err);
    if (rc < 0) return rc;
    if (!cJSON_IsObject(engine))
      return hp_err_set(err, HP_EINVAL, "spec.objective.engine: expected an object, got %s",
                        hp_json_type_name(engine));
    rc = check_refs(engine, sp->space, false, "spec.objective.engine", err);
    if (rc < 0) return rc;
    sp->engine = cJSON_Duplicate(engine, true);
    if (sp->engine == NULL) return hp_err_set(err, HP_ENOMEM, "out of memory");
    if ((rc = merge_diagnostics(sp->engine, diag, err)) < 0) return rc;
    sp->kind = HP_OBJ_ENGINE;
    return check_engine(sp, false, err);
  }
  rc = hp_json_check_keys(obj, COMMAND_KEYS, "spec.objective", err);
  if (rc < 0) return rc;
  if (diag != NULL)
    return hp_err_set(err, HP_EINVAL,
                      "spec.diagnostics: applies to engine objectives only (a command "
                      "computes its own)");
  if (!cJSON_IsArray(command) || cJSON_GetArraySize(command) == 0)
    return hp_err_set(err, HP_EINVAL, "spec.objective.command: expected a non-empty array of "
                                      "strings (argv)");
  if (cJSON_GetArraySize(command) > ARGV_MAX)
    return hp_err_set(err, HP_EINVAL, "spec.objective.command: more than %d arguments", ARGV_MAX);
  int i = 0;
  for (const cJSON *a = command->child; a; a = a->next, i++) {
    if (!cJSON_IsString(a))
      return hp_err_set(err, HP_EINVAL, "spec.objective.command[%d]: expected a string, got %s", i,
                        hp_json_type_name(a));
    if (i == 0 && a->valuestring[0] == '\0')
      return hp_err_set(err, HP_EINVAL, "spec.objective.command[0]: empty program name");
  }
  rc = check_refs(command, sp->space, true, "spec.objective.command", err);
  if (rc < 0) return rc;
  const cJSON *env = cJSON_GetObjectItemCaseSensitive(obj, "env");
  if (env) {
    if (!cJSON_IsObject(env))
      return hp_err_set(err, HP_EINVAL, "spec.objective.env: expected an object of strings, got %s",
                        hp_json_type_name(env));
    for (const cJSON *e = env->child; e; e = e->next) {
      if (!cJSON_IsString(e))
        return hp_err_set(err, HP_EINVAL, "spec.objective.env.%s: expected a string, got %s",
                          e->string, hp_json_type_name(e));
      if (e->string[0] == '\0' || strchr(e->string, '=') != NULL)
        return hp_err_set(err, HP_EINVAL, "spec.objective.env: bad variable name \"%s\"",
                          e->string);
    }
    rc = check_refs(env, sp->space, true, "spec.objective.env", err);
    if (rc < 0) return rc;
    sp->env = cJSON_Duplicate(env, true);
    if (sp->env == NULL) return hp_err_set(err, HP_ENOMEM, "out of memory");
  }
  const char *cwd = NULL;
  rc = hp_json_get_string(obj, "cwd", false, &cwd, "spec.objective", err);
  if (rc < 0) return rc;
  if (cwd) {
    rc = dup_str(cwd, &sp->cwd, err);
    if (rc < 0) return rc;
  }
  sp->command = cJSON_Duplicate(command, true);
  if (sp->command == NULL) return hp_err_set(err, HP_ENOMEM, "out of memory");
  sp->kind = HP_OBJ_COMMAND;
  return 0;
}

/* "direction": "minimize" | "maximize", or "directions": [...] (one per
 * objective, at most HP_STORE_MAX_OBJECTIVES), never both. */
static int parse_directions(const cJSON *spec, hp_study_spec_t *sp, hp_err_t *err) {
  const cJSON *one = cJSON_GetObjectItemCaseSensitive(spec, "direction");
  const cJSON *many = cJSON_GetObjectItemCaseSensitive(spec, "directions");
  if (one && many)
    return hp_err_set(err, HP_EINVAL,
                      "spec.directions: give either \"direction\" or \"directions\", not both");
  sp->n_objectives = 1;
  if (many) {
    int n = cJSON_IsArray(many) ? cJSON_GetArraySize(many) : -1;
    if (n < 1 || n > HP_STORE_MAX_OBJECTIVES)
      return hp_err_set(err, HP_EINVAL,
                        "spec.directions: expected an array of 1 to %d of \"minimize\" and "
                        "\"maximize\"",
                        HP_STORE_MAX_OBJECTIVES);
    sp->n_objectives = n;
  }
  for (int k = 0; k < sp->n_objectives; k++) {
    const cJSON *d = many ? cJSON_GetArrayItem(many, k) : one;
    const char *dir = d == NULL ? "minimize" : cJSON_IsString(d) ? d->valuestring : NULL;
    char where[32];
    if (many) snprintf(where, sizeof where, "spec.directions[%d]", k);
    else snprintf(where, sizeof where, "spec.direction");
    if (dir && strcmp(dir, "minimize") == 0) sp->maximize_obj[k] = false;
    else if (dir && strcmp(dir, "maximize") == 0) sp->maximize_obj[k] = true;
    else if (dir)
      return hp_err_set(err, HP_EINVAL, "%s: expected \"minimize\" or \"maximize\", got \"%s\"",
                        where, dir);
    else
      return hp_err_set(err, HP_EINVAL, "%s: expected \"minimize\" or \"maximize\", got %s",
                        where, hp_json_type_name(d));
  }
  sp->maximize = sp->maximize_obj[0];
  return 0;
}

static bool engine_metric(const char *name) {
  for (int i = 0; ENGINE_METRICS[i]; i++)
    if (strcmp(name, ENGINE_METRICS[i]) == 0) return true;
  return false;
}

/* "metric": NAME, or "metrics": [NAME, ...] with one name per objective.
 * An engine study's names are engine values; a command's are labels
 * ("value", or "value0", "value1", ... by default). */
static int parse_metrics(const cJSON *spec, hp_study_spec_t *sp, hp_err_t *err) {
  const cJSON *one = cJSON_GetObjectItemCaseSensitive(spec, "metric");
  const cJSON *many = cJSON_GetObjectItemCaseSensitive(spec, "metrics");
  int n = sp->n_objectives;
  if (one && many)
    return hp_err_set(err, HP_EINVAL,
                      "spec.metrics: give either \"metric\" or \"metrics\", not both");
  if (one && n > 1)
    return hp_err_set(err, HP_EINVAL,
                      "spec.metric: a study with %d directions names its metrics with "
                      "\"metrics\": [...] (one per direction)",
                      n);
  if (many && (!cJSON_IsArray(many) || cJSON_GetArraySize(many) != n))
    return hp_err_set(err, HP_EINVAL,
                      "spec.metrics: expected an array of %d name%s (one per direction)", n,
                      n == 1 ? "" : "s");
  if (!many && !one && n > 1 && sp->kind == HP_OBJ_ENGINE)
    return hp_err_set(err, HP_EINVAL,
                      "spec.metrics: an engine study with %d directions needs \"metrics\": "
                      "[...], one engine value per direction (e.g. [\"val_accuracy\", "
                      "\"n_params\"])",
                      n);
  for (int k = 0; k < n; k++) {
    char where[32], dflt[16];
    const cJSON *m = many ? cJSON_GetArrayItem(many, k) : one;
    if (many) snprintf(where, sizeof where, "spec.metrics[%d]", k);
    else snprintf(where, sizeof where, "spec.metric");
    if (n > 1) snprintf(dflt, sizeof dflt, "value%d", k);
    else snprintf(dflt, sizeof dflt, "%s", sp->kind == HP_OBJ_ENGINE ? "val_loss" : "value");
    if (m && (!cJSON_IsString(m) || m->valuestring[0] == '\0' || strlen(m->valuestring) > 64))
      return hp_err_set(err, HP_EINVAL, "%s: expected a name of 1 to 64 bytes", where);
    const char *name = m ? m->valuestring : dflt;
    if (sp->kind == HP_OBJ_ENGINE && !engine_metric(name))
      return hp_err_set(err, HP_EINVAL,
                        "%s: \"%s\" is not an engine value (val_loss, val_accuracy, "
                        "train_loss, train_accuracy, n_params, seconds, seconds_per_epoch)",
                        where, name);
    for (int j = 0; j < k; j++)
      if (strcmp(sp->metrics[j], name) == 0)
        return hp_err_set(err, HP_EINVAL, "%s: \"%s\" is named twice", where, name);
    if (sp->kind == HP_OBJ_ENGINE && strchr(name, ',') != NULL)
      return hp_err_set(err, HP_EINVAL, "%s: no commas", where);
    int rc = dup_str(name, &sp->metrics[k], err);
    if (rc < 0) return rc;
  }
  sp->metric = sp->metrics[0];
  return 0;
}

/* "constraints": [{"metric": NAME, "max": X} | {"metric": NAME, "min": X}]:
 * constraint values computed from the final line's member NAME (an engine
 * value, or what a command prints beside its value): value - X for "max",
 * X - value for "min"; <= 0 is satisfied. */
static int parse_constraints(const cJSON *spec, hp_study_spec_t *sp, hp_err_t *err) {
  const cJSON *cons = cJSON_GetObjectItemCaseSensitive(spec, "constraints");
  if (cons == NULL) return 0;
  int n = cJSON_IsArray(cons) ? cJSON_GetArraySize(cons) : -1;
  if (n < 0 || n > HP_STUDY_MAX_CONS)
    return hp_err_set(err, HP_EINVAL,
                      "spec.constraints: expected an array of at most %d objects "
                      "{\"metric\": NAME, \"max\": X} or {\"metric\": NAME, \"min\": X}",
                      HP_STUDY_MAX_CONS);
  static const char *const keys[] = {"metric", "max", "min", NULL};
  for (int k = 0; k < n; k++) {
    char where[40];
    snprintf(where, sizeof where, "spec.constraints[%d]", k);
    const cJSON *c = cJSON_GetArrayItem(cons, k);
    if (!cJSON_IsObject(c))
      return hp_err_set(err, HP_EINVAL, "%s: expected an object, got %s", where,
                        hp_json_type_name(c));
    int rc = hp_json_check_keys(c, keys, where, err);
    if (rc < 0) return rc;
    const char *name = NULL;
    if ((rc = hp_json_get_string(c, "metric", true, &name, where, err)) < 0) return rc;
    if (sp->kind == HP_OBJ_ENGINE && !engine_metric(name))
      return hp_err_set(err, HP_EINVAL, "%s.metric: \"%s\" is not an engine value", where, name);
    bool has_max = cJSON_GetObjectItemCaseSensitive(c, "max") != NULL;
    bool has_min = cJSON_GetObjectItemCaseSensitive(c, "min") != NULL;
    if (has_max == has_min)
      return hp_err_set(err, HP_EINVAL, "%s: give exactly one of \"max\" and \"min\"", where);
    double bound = 0;
    if ((rc = hp_json_get_number(c, has_max ? "max" : "min", true, &bound, where, err)) < 0)
      return rc;
    if (!isfinite(bound))
      return hp_err_set(err, HP_EINVAL, "%s.%s: expected a finite number", where,
                        has_max ? "max" : "min");
    if ((rc = dup_str(name, &sp->cons_metric[k], err)) < 0) return rc;
    sp->n_cons = k + 1;
    sp->cons_bound[k] = bound;
    sp->cons_min[k] = has_min;
  }
  return 0;
}

/* ---- executor ----------------------------------------------------------------- */

/* Whether s is made only of characters in `ok` (plus ASCII letters and
 * digits), 1..max bytes. */
static bool word_of(const char *s, const char *ok, size_t max) {
  size_t n = strlen(s);
  if (n == 0 || n > max) return false;
  for (const char *c = s; *c; c++)
    if (!isalnum((unsigned char)*c) && strchr(ok, *c) == NULL) return false;
  return true;
}

/* Slurm's time formats: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S (digits only),
 * or UNLIMITED / INFINITE. */
static bool slurm_time_ok(const char *s) {
  if (strcmp(s, "UNLIMITED") == 0 || strcmp(s, "INFINITE") == 0) return true;
  if (strlen(s) > 32) return false;
  const char *p = s;
  int groups = 0;
  bool day = false;
  for (;;) {
    size_t digits = strspn(p, "0123456789");
    if (digits == 0 || digits > 9) return false;
    p += digits;
    groups++;
    if (*p == '\0') break;
    if (*p == '-') {
      if (day || groups != 1) return false;
      day = true;
      groups = 0;
    } else if (*p != ':') {
      return false;
    }
    p++;
  }
  return day ? groups >= 1 && groups <= 3 : groups <= 3;
}

/* sbatch options hpsearch sets itself (or that would cut the trial off
 * from the daemon): refused in "extra". */
static const char *const SLURM_OWN_OPTS[] = {
    "--job-name", "-J", "--parsable", "--wrap", "--export", "--array", "-a", "--wait", "-W",
    "--output",   "-o", "--chdir",    "-D",     "--export-file", NULL};

static int parse_executor(const cJSON *ex, hp_study_spec_t *sp, hp_err_t *err) {
  static const char *const KEYS[] = {"type", "partition", "time", "cpus_per_task", "mem",
                                     "gres", "output",    "extra", NULL};
  static const char *const LOCAL_KEYS[] = {"type", NULL};
  hp_exec_spec_t *x = &sp->exec;
  if (ex == NULL) return 0;
  if (!cJSON_IsObject(ex))
    return hp_err_set(err, HP_EINVAL, "spec.executor: expected an object, got %s",
                      hp_json_type_name(ex));
  const char *type = NULL;
  int rc = hp_json_get_string(ex, "type", true, &type, "spec.executor", err);
  if (rc < 0) return rc;
  if (strcmp(type, "local") == 0) return hp_json_check_keys(ex, LOCAL_KEYS, "spec.executor", err);
  if (strcmp(type, "slurm") != 0)
    return hp_err_set(err, HP_EINVAL, "spec.executor.type: expected \"local\" or \"slurm\", got "
                                      "\"%.40s\"", type);
  if ((rc = hp_json_check_keys(ex, KEYS, "spec.executor", err)) < 0) return rc;
  if (sp->kind == HP_OBJ_NONE)
    return hp_err_set(err, HP_EINVAL, "spec.executor: a study without objective runs no "
                                      "workers (its trials come from trial.ask)");
  x->slurm = true;
  static const struct {
    const char *key, *ok, *what;
    size_t max;
    size_t field;
  } STRS[] = {
      {"partition", "_.,-", "a partition name (letters, digits, _ . , -)", 128,
       offsetof(hp_exec_spec_t, partition)},
      {"time", NULL, "a Slurm time limit (\"30\" minutes, \"1:30:00\", \"2-0\", \"2-12:00\")", 32,
       offsetof(hp_exec_spec_t, time)},
      {"mem", NULL, "a memory size (\"4000\" MB, \"500M\", \"4G\")", 16,
       offsetof(hp_exec_spec_t, mem)},
      {"gres", "_.,:=/-+", "a generic resource list (\"gpu:1\", \"gpu:a100:2\")", 256,
       offsetof(hp_exec_spec_t, gres)},
  };
  for (size_t i = 0; i < sizeof STRS / sizeof STRS[0]; i++) {
    const char *v = NULL;
    if ((rc = hp_json_get_string(ex, STRS[i].key, false, &v, "spec.executor", err)) < 0)
      return rc;
    if (v == NULL) continue;
    bool ok;
    if (strcmp(STRS[i].key, "time") == 0) {
      ok = slurm_time_ok(v);
    } else if (strcmp(STRS[i].key, "mem") == 0) {
      size_t d = strspn(v, "0123456789");
      ok = d > 0 && d <= 12 && (v[d] == '\0' || (strchr("KMGTkmgt", v[d]) && v[d + 1] == '\0'));
    } else {
      ok = word_of(v, STRS[i].ok, STRS[i].max);
    }
    if (!ok)
      return hp_err_set(err, HP_EINVAL, "spec.executor.%s: expected %s, got \"%.60s\"",
                        STRS[i].key, STRS[i].what, v);
    if ((rc = dup_str(v, (char **)((char *)x + STRS[i].field), err)) < 0) return rc;
  }
  long long cpus = 0;
  if ((rc = hp_json_get_int(ex, "cpus_per_task", false, 1, 4096, &cpus, "spec.executor", err)) < 0)
    return rc;
  x->cpus_per_task = (int)cpus;
  const char *output = NULL;
  if ((rc = hp_json_get_string(ex, "output", false, &output, "spec.executor", err)) < 0) return rc;
  if (output) {
    if (output[0] == '\0' || strlen(output) > 1024)
      return hp_err_set(err, HP_EINVAL, "spec.executor.output: expected a file name pattern of "
                                        "1 to 1024 bytes (sbatch --output: %%j is the job id)");
    if ((rc = hp_utf8_check_name(output, strlen(output), "spec.executor.output", err)) < 0)
      return rc;
    if ((rc = dup_str(output, &x->output, err)) < 0) return rc;
  }
  const cJSON *extra = cJSON_GetObjectItemCaseSensitive(ex, "extra");
  if (extra == NULL) return 0;
  int n = cJSON_IsArray(extra) ? cJSON_GetArraySize(extra) : -1;
  if (n < 0 || n > 64)
    return hp_err_set(err, HP_EINVAL, "spec.executor.extra: expected an array of at most 64 "
                                      "sbatch options (strings such as \"--account=ml\")");
  x->extra = calloc((size_t)n + 1, sizeof *x->extra);
  if (x->extra == NULL) return hp_err_set(err, HP_ENOMEM, "out of memory");
  int k = 0;
  for (const cJSON *e = extra->child; e; e = e->next, k++) {
    if (!cJSON_IsString(e) || e->valuestring[0] != '-' || strlen(e->valuestring) > 1024)
      return hp_err_set(err, HP_EINVAL, "spec.executor.extra[%d]: expected an sbatch option "
                                        "(a string starting with '-', such as \"--account=ml\")",
                        k);
    char field[48];
    snprintf(field, sizeof field, "spec.executor.extra[%d]", k);
    if ((rc = hp_utf8_check_name(e->valuestring, strlen(e->valuestring), field, err)) < 0)
      return rc;
    size_t len = strcspn(e->valuestring, "=");
    for (const char *const *o = SLURM_OWN_OPTS; *o; o++) {
      size_t ol = strlen(*o);
      /* "-J" also as "-Jname"; a long option exactly or with "=" */
      bool hit = (*o)[1] == '-' ? len == ol && strncmp(e->valuestring, *o, ol) == 0
                                : strncmp(e->valuestring, *o, ol) == 0;
      if (hit)
        return hp_err_set(err, HP_EINVAL, "%s: %s is set by hpsearch itself (job name, the "
                                          "trial's environment, its output)%s",
                          field, *o,
                          strcmp(*o, "--output") == 0 || strcmp(*o, "-o") == 0
                              ? "; use spec.executor.output"
                              : "");
    }
    if ((rc = dup_str(e->valuestring, &x->extra[k], err)) < 0) return rc;
  }
  return 0;
}

int hp_study_spec_parse(const cJSON *spec, hp_study_spec_t **out, hp_err_t *err) {
  *out = NULL;
  if (!cJSON_IsObject(spec))
    return hp_err_set(err, HP_EINVAL, "spec: expected an object, got %s", hp_json_type_name(spec));
  hp_study_spec_t *sp = calloc(1, sizeof *sp);
  if (sp == NULL) return hp_err_set(err, HP_ENOMEM, "out of memory");
  int rc = hp_json_check_keys(spec, SPEC_KEYS, "spec", err);
  if (rc < 0) goto fail;

  const char *name = NULL;
  rc = hp_json_get_string(spec, "name", true, &name, "spec", err);
  if (rc < 0) goto fail;
  size_t nlen = strlen(name);
  if (nlen == 0 || nlen > NAME_MAX_LEN) {
    rc = hp_err_set(err, HP_EINVAL, "spec.name: must be 1 to %d bytes", NAME_MAX_LEN);
    goto fail;
  }
  /* Well-formed UTF-8 without control characters: names are shown,
   * listed, and stored for Optuna. */
  if ((rc = hp_utf8_check_name(name, nlen, "spec.name", err)) < 0) goto fail;
  if ((rc = dup_str(name, &sp->name, err)) < 0) goto fail;

  if ((rc = parse_directions(spec, sp, err)) < 0) goto fail;

  const cJSON *space = cJSON_GetObjectItemCaseSensitive(spec, "space");
  if (space == NULL) {
    rc = hp_err_set(err, HP_EINVAL, "spec.space: missing (the search space)");
    goto fail;
  }
  rc = hp_space_parse(space, &sp->space, err);
  if (rc < 0) {
    path_prefix(err, "spec", "space");
    goto fail;
  }

  const cJSON *sampler = cJSON_GetObjectItemCaseSensitive(spec, "sampler");
  hp_sampler_opts_default(&sp->sampler, HP_SAMPLER_TPE);
  if (sampler) {
    rc = hp_sampler_opts_parse(sampler, &sp->sampler, err);
    if (rc < 0) {
      path_prefix(err, "spec", "sampler");
      goto fail;
    }
  }
  sp->sampler.maximize = sp->maximize;
  sp->sampler.n_objectives = sp->n_objectives;
  memcpy(sp->sampler.maximize_obj, sp->maximize_obj, sizeof sp->maximize_obj);
  /* Optuna 5's TPE is univariate for several objectives unless told */
  if (sp->n_objectives > 1 && sp->sampler.kind == HP_SAMPLER_TPE &&
      !(cJSON_IsObject(sampler) && cJSON_GetObjectItemCaseSensitive(sampler, "multivariate")))
    sp->sampler.multivariate = false;
  if (sp->sampler.kind == HP_SAMPLER_GRID || sp->sampler.kind == HP_SAMPLER_GP) {
    /* Validate gridability (and that the GP can model the space) now, not
     * at the first trial. */
    hp_sampler_t *probe = NULL;
    rc = hp_sampler_create(sp->space, &sp->sampler, &probe, err);
    if (rc == 0) {
      hp_sampler_stats_t stats;
      hp_sampler_stats(probe, &stats);
      sp->grid_total = stats.grid_total;
    }
    hp_sampler_free(probe);
    if (rc < 0) {
      path_prefix(err, "spec", "sampler");
      goto fail;
    }
  }

  const cJSON *pruner = cJSON_GetObjectItemCaseSensitive(spec, "pruner");
  if (pruner && !cJSON_IsNull(pruner) && sp->n_objectives > 1 &&
      !(cJSON_IsString(pruner) && strcmp(pruner->valuestring, "none") == 0)) {
    /* As Optuna (trial.report is single-objective): which objective's
     * intermediate values would a pruner compare? */
    rc = hp_err_set(err, HP_EINVAL,
                    "spec.pruner: a study with several objectives (directions) cannot be pruned; "
                    "remove the pruner (or give it \"none\")");
    goto fail;
  }
  if (pruner && !cJSON_IsNull(pruner)) {
    if (cJSON_IsString(pruner)) {
      sp->pruner = cJSON_CreateObject();
      if (sp->pruner == NULL || !cJSON_AddStringToObject(sp->pruner, "type", pruner->valuestring)) {
        rc = hp_err_set(err, HP_ENOMEM, "out of memory");
        goto fail;
      }
    } else {
      sp->pruner = cJSON_Duplicate(pruner, true);
      if (sp->pruner == NULL) {
        rc = hp_err_set(err, HP_ENOMEM, "out of memory");
        goto fail;
      }
    }
    hp_pruner_t *probe = NULL;
    rc = hp_pruner_create(sp->pruner, sp->name, sp->maximize, &probe, err);
    if (rc == 0) sp->pruner_name = hp_pruner_kind_name(hp_pruner_kind(probe));
    hp_pruner_free(probe);
    if (rc < 0) {
      path_prefix(err, "spec", "pruner");
      goto fail;
    }
  }

  long long v = 0;
  rc = hp_json_get_int(spec, "n_trials", false, 1, 100000000, &v, "spec", err);
  if (rc < 0) goto fail;
  sp->n_trials = v;
  double budget = 0;
  rc = hp_json_get_number(spec, "time_budget", false, &budget, "spec", err);
  if (rc < 0) goto fail;
  if (!(budget >= 0) || budget > 1e9) {
    rc = hp_err_set(err, HP_EINVAL, "spec.time_budget: expected seconds > 0");
    goto fail;
  }
  sp->time_budget = budget;
  v = 1;
  rc = hp_json_get_int(spec, "parallelism", false, 1, 4096, &v, "spec", err);
  if (rc < 0) goto fail;
  sp->parallelism = (int)v;
  double timeout = 0;
  rc = hp_json_get_number(spec, "trial_timeout", false, &timeout, "spec", err);
  if (rc < 0) goto fail;
  if (!(timeout >= 0) || timeout > 1e8) {
    rc = hp_err_set(err, HP_EINVAL, "spec.trial_timeout: expected seconds > 0");
    goto fail;
  }
  sp->trial_timeout = timeout;
  v = HP_STUDY_DEFAULT_MAX_FAILURES;
  rc = hp_json_get_int(spec, "max_consecutive_failures", false, 0, 100000000, &v, "spec", err);
  if (rc < 0) goto fail;
  sp->max_consecutive_failures = v;
  /* Optuna's RDBStorage heartbeat_interval / grace_period (default twice
   * the interval) and RetryFailedTrialCallback(max_retry). */
  double beat = 0;
  rc = hp_json_get_number(spec, "heartbeat_interval", false, &beat, "spec", err);
  if (rc < 0) goto fail;
  if (!(beat >= 0) || beat > 1e6 ||
      (beat == 0 && cJSON_GetObjectItemCaseSensitive(spec, "heartbeat_interval"))) {
    rc = hp_err_set(err, HP_EINVAL, "spec.heartbeat_interval: expected seconds > 0");
    goto fail;
  }
  sp->heartbeat_interval = beat;
  for (const char *const *k = (const char *const[]){"grace_period", "max_retry", NULL}; *k; k++)
    if (beat == 0 && cJSON_GetObjectItemCaseSensitive(spec, *k)) {
      rc = hp_err_set(err, HP_EINVAL,
                      "spec.%s: applies to trials whose client's heartbeat is lost; set "
                      "heartbeat_interval too",
                      *k);
      goto fail;
    }
  double grace = 2 * beat;
  rc = hp_json_get_number(spec, "grace_period", false, &grace, "spec", err);
  if (rc < 0) goto fail;
  if (beat > 0 && (!(grace > 0) || grace > 1e7)) {
    rc = hp_err_set(err, HP_EINVAL, "spec.grace_period: expected seconds > 0");
    goto fail;
  }
  sp->grace_period = grace;
  v = 0;
  rc = hp_json_get_int(spec, "max_retry", false, 0, 1000000, &v, "spec", err);
  if (rc < 0) goto fail;
  sp->max_retry = v;
  const char *desc = NULL;
  rc = hp_json_get_string(spec, "description", false, &desc, "spec", err);
  if (rc < 0) goto fail;

  const cJSON *diag = cJSON_GetObjectItemCaseSensitive(spec, "diagnostics");
  rc = parse_objective(cJSON_GetObjectItemCaseSensitive(spec, "objective"), diag, sp, err);
  if (rc == 0 && diag != NULL && sp->kind == HP_OBJ_NONE)
    rc = hp_err_set(err, HP_EINVAL, "spec.diagnostics: applies to engine objectives only");
  if (rc < 0) goto fail;
  rc = parse_executor(cJSON_GetObjectItemCaseSensitive(spec, "executor"), sp, err);
  if (rc < 0) goto fail;
  if (sp->kind != HP_OBJ_NONE && sp->n_trials == 0 && sp->time_budget == 0 &&
      sp->sampler.kind != HP_SAMPLER_GRID) {
    rc = hp_err_set(err, HP_EINVAL,
                    "spec.n_trials: a study with an objective needs n_trials or time_budget "
                    "(or a grid sampler) to end");
    goto fail;
  }

  if ((rc = parse_metrics(spec, sp, err)) < 0) goto fail;
  if ((rc = parse_constraints(spec, sp, err)) < 0) goto fail;
  const cJSON *ref = cJSON_GetObjectItemCaseSensitive(spec, "reference_point");
  if (ref) {
    if (sp->n_objectives < 2 || !cJSON_IsArray(ref) ||
        cJSON_GetArraySize(ref) != sp->n_objectives) {
      rc = hp_err_set(err, HP_EINVAL,
                      "spec.reference_point: expected %d numbers, one per direction (a study "
                      "with several objectives; the hypervolume's bound)",
                      sp->n_objectives);
      goto fail;
    }
    for (int k = 0; k < sp->n_objectives; k++) {
      const cJSON *x = cJSON_GetArrayItem(ref, k);
      if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble)) {
        rc = hp_err_set(err, HP_EINVAL, "spec.reference_point[%d]: expected a finite number", k);
        goto fail;
      }
      sp->reference_point[k] = x->valuedouble;
    }
    sp->n_reference = sp->n_objectives;
  }

  sp->json = cJSON_Duplicate(spec, true);
  if (sp->json == NULL) {
    rc = hp_err_set(err, HP_ENOMEM, "out of memory");
    goto fail;
  }
  *out = sp;
  return 0;
fail:
  hp_study_spec_free(sp);
  return rc;
}

const hp_space_t *hp_study_spec_space(const hp_study_spec_t *spec) { return spec->space; }

const cJSON *hp_study_spec_engine(const hp_study_spec_t *spec) {
  return spec->kind == HP_OBJ_ENGINE ? spec->engine : NULL;
}

void hp_study_spec_view(const hp_study_spec_t *sp, hp_view_spec_t *out) {
  memset(out, 0, sizeof *out);
  out->metric = sp->metric;
  out->metrics = sp->metrics;
  out->n_metrics = sp->n_objectives;
  if (sp->n_reference > 0) {
    out->reference_point = sp->reference_point;
    out->n_reference = sp->n_reference;
  }
  out->objective = sp->kind == HP_OBJ_ENGINE    ? "engine"
                   : sp->kind == HP_OBJ_COMMAND ? "command"
                                                : "none";
  out->sampler = hp_sampler_kind_name(sp->sampler.kind);
  out->pruner = sp->pruner_name ? sp->pruner_name : hp_pruner_kind_name(HP_PRUNER_NONE);
  out->n_trials = sp->n_trials;
  out->time_budget = sp->time_budget;
  out->parallelism = sp->parallelism;
  out->grid_total = sp->grid_total;
  out->grid_retry_failed = sp->sampler.grid_retry_failed;
}

/* ---- substitution ------------------------------------------------------------ */

/* Returned (> 0) for a reference to a parameter the trial does not have: the
 * member or element holding it is dropped. */
#define ABSENT 1

static int external_of(const hp_space_t *space, const double *params, const char *name,
                       size_t name_len, cJSON **out, hp_err_t *err) {
  char buf[NAME_MAX_LEN + 1];
  if (name_len >= sizeof buf) return hp_err_set(err, HP_EINVAL, "reference too long");
  memcpy(buf, name, name_len);
  buf[name_len] = '\0';
  int k = hp_space_find(space, buf);
  if (k < 0) return hp_err_set(err, HP_EINVAL, "\"$%s\" refers to no parameter", buf);
  if (isnan(params[k])) return ABSENT;
  *out = hp_dist_to_external(&space->params[k].dist, params[k]);
  if (*out == NULL) return hp_err_set(err, HP_EINVAL, "parameter %s: value out of range", buf);
  return 0;
}

char *hp_study_value_text(const cJSON *v) {
  char tmp[64] = "";
  const char *t = tmp;
  if (cJSON_IsString(v)) t = v->valuestring;
  else if (cJSON_IsBool(v)) t = cJSON_IsTrue(v) ? "true" : "false";
  else if (cJSON_IsNumber(v)) hp_num_format(v->valuedouble, tmp);
  return strdup(t);
}

static int append_bytes(const char *s, size_t n, char **buf, size_t *len, size_t *cap) {
  if (*len + n + 1 > *cap) {
    size_t c = *cap ? *cap : 64;
    while (c < *len + n + 1) c *= 2;
    char *nb = realloc(*buf, c);
    if (nb == NULL) return HP_ENOMEM;
    *buf = nb;
    *cap = c;
  }
  memcpy(*buf + *len, s, n);
  *len += n;
  (*buf)[*len] = '\0';
  return 0;
}

static int append_external_text(const cJSON *v, char **buf, size_t *len, size_t *cap) {
  char *t = hp_study_value_text(v);
  int rc = t ? append_bytes(t, strlen(t), buf, len, cap) : HP_ENOMEM;
  free(t);
  return rc;
}

/* Expands "${name}" and "$$" inside a string; *out is a new string item. */
static int expand_string(const char *s, const hp_space_t *space, const double *params,
                         cJSON **out, hp_err_t *err) {
  char *buf = NULL;
  size_t len = 0, cap = 0;
  int rc = append_bytes("", 0, &buf, &len, &cap);
  for (const char *p = s; rc == 0 && *p;) {
    if (p[0] == '$' && p[1] == '$') {
      rc = append_bytes("$", 1, &buf, &len, &cap);
      p += 2;
    } else if (p[0] == '$' && p[1] == '{') {
      const char *close = strchr(p + 2, '}');
      if (close == NULL) {
        rc = hp_err_set(err, HP_EINVAL, "unterminated \"${\" in \"%s\"", s);
        break;
      }
      cJSON *v = NULL;
      rc = external_of(space, params, p + 2, (size_t)(close - (p + 2)), &v, err);
      if (rc == ABSENT) break;
      if (rc == 0) rc = append_external_text(v, &buf, &len, &cap);
      cJSON_Delete(v);
      p = close + 1;
    } else {
      const char *q = p + 1;
      while (*q && *q != '$') q++;
      rc = append_bytes(p, (size_t)(q - p), &buf, &len, &cap);
      p = q;
    }
  }
  if (rc == 0) {
    *out = cJSON_CreateString(buf);
    if (*out == NULL) rc = HP_ENOMEM;
  }
  if (rc == HP_ENOMEM) hp_err_set(err, HP_ENOMEM, "out of memory");
  free(buf);
  return rc;
}

/* An option name before a whole "$name" in an array: dropped with it. */
static bool is_option_name(const cJSON *c) {
  return c != NULL && cJSON_IsString(c) && c->valuestring[0] == '-' &&
         strchr(c->valuestring, '$') == NULL;
}

static bool is_whole_ref(const cJSON *c) {
  const char *s = cJSON_IsString(c) ? c->valuestring : NULL;
  return s != NULL && s[0] == '$' && s[1] != '$' && s[1] != '{';
}

static int substitute(cJSON *node, const hp_space_t *space, const double *params,
                      cJSON **replacement, hp_err_t *err) {
  *replacement = NULL;
  if (cJSON_IsString(node)) {
    const char *s = node->valuestring;
    if (is_whole_ref(node))
      return external_of(space, params, s + 1, strlen(s + 1), replacement, err);
    if (strchr(s, '$') != NULL) return expand_string(s, space, params, replacement, err);
    return 0;
  }
  cJSON *next, *replaced = NULL; /* the last member put in by substitution */
  for (cJSON *c = node->child; c; c = next) {
    next = c->next;
    cJSON *r = NULL;
    int rc = substitute(c, space, params, &r, err);
    if (rc < 0) return rc;
    if (rc == ABSENT) {
      /* The reference stood for an inactive parameter: no member, no
       * element, and no option name in front of it. */
      cJSON *prev = node->child == c ? NULL : c->prev;
      if (cJSON_IsArray(node) && is_whole_ref(c) && prev != replaced && is_option_name(prev))
        cJSON_Delete(cJSON_DetachItemViaPointer(node, prev));
      cJSON_Delete(cJSON_DetachItemViaPointer(node, c));
      continue;
    }
    if (r) {
      /* ReplaceItemViaPointer keeps the position but not the member name. */
      if (c->string != NULL) {
        r->string = strdup(c->string);
        if (r->string == NULL) {
          cJSON_Delete(r);
          return hp_err_set(err, HP_ENOMEM, "out of memory");
        }
      }
      if (!cJSON_ReplaceItemViaPointer(node, c, r)) {
        cJSON_Delete(r);
        return hp_err_set(err, HP_ENOMEM, "out of memory");
      }
      c = r;
      replaced = r;
    }
  }
  return 0;
}

int hp_study_substitute(const cJSON *tmpl, const hp_space_t *space, const double *params,
                        cJSON **out, hp_err_t *err) {
  *out = NULL;
  cJSON *copy = cJSON_Duplicate(tmpl, true);
  if (copy == NULL) return hp_err_set(err, HP_ENOMEM, "out of memory");
  cJSON *r = NULL;
  int rc = substitute(copy, space, params, &r, err);
  if (rc == ABSENT) rc = hp_err_set(err, HP_EINVAL, "\"%s\" refers to a parameter this trial does not have", copy->valuestring);
  if (rc < 0) {
    cJSON_Delete(copy);
    return rc;
  }
  if (r) {
    cJSON_Delete(copy);
    copy = r;
  }
  *out = copy;
  return 0;
}

/* Worker processes: one child per trial started with uv_spawn in its own
 * session and process group, its stdout read as JSON lines (intermediate and
 * final values, docs/study-spec.md), its stderr logged, a timer for the
 * trial timeout, and the decision of how the trial ended once the child is
 * reaped. A command trial runs under a supervisor (worker_exec.c) that
 * kills the command's whole process tree when asked; an engine worker's
 * process group is killed directly. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon_int.h"
#include "hpsearch/json.h"
#include "hpsearch/num.h"
#include "hpsearch/utf8.h"
#include "hpsearch/view.h"

extern char **environ;

/* Longest stdout line accepted from a worker. */
#define LINE_MAX_LEN (64u << 10)
/* After the child exits, wait this long for its stdout to close. */
#define EOF_GRACE_MS 2000
/* A supervisor asked to end gets this long before its group is SIGKILLed. */
#define KILL_GRACE_MS 3000


static void worker_unlist(hp_worker_t *w) {
  if (!w->listed) return;
  if (w->wprev) w->wprev->wnext = w->wnext;
  else w->d->workers = w->wnext;
  if (w->wnext) w->wnext->wprev = w->wprev;
  w->listed = false;
}

static void on_worker_handle_closed(uv_handle_t *h) {
  hp_worker_t *w = h->data;
  if (--w->open_handles == 0) {
    worker_unlist(w);
    cJSON_Delete(w->final_attrs);
    cJSON_Delete(w->curves);
    free(w->out_lines.buf);
    free(w->reason);
    free(w->job_end);
    free(w);
  }
}

static void set_reason(hp_worker_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_reason(hp_worker_t *w, const char *fmt, ...) {
  if (w->reason) return; /* the first cause wins */
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n >= (int)sizeof buf) hp_utf8_trim(buf, sizeof buf - 1);
  w->reason = strdup(buf);
}

static void on_timer(uv_timer_t *t);

/* Ends the trial with state/reason (the first cause wins) and kills it: for
 * what the worker printed (error, garbage, prune decision), a timeout or a
 * stop. A command trial's supervisor is asked (SIGTERM) and kills the whole
 * tree itself, also what left the process group; if it has not exited after
 * KILL_GRACE_MS its group gets SIGKILL. An engine worker's group gets
 * SIGKILL at once. */
static void worker_end(hp_worker_t *w, hp_store_state_t state, const char *reason) {
  if (w->reason == NULL) {
    w->kill_state = state;
    set_reason(w, "%s", reason ? reason : "killed");
  }
  if (w->job) { /* a Slurm job: scancel (slurm.c); its end comes from Slurm */
    if (!w->exited) hp_slurm_cancel(w);
    return;
  }
  if (w->exited || w->pid <= 0) return;
  if (!w->supervised) {
    kill(-w->pid, SIGKILL);
  } else if (!w->term_sent) {
    w->term_sent = true;
    kill(w->pid, SIGTERM);
    uv_timer_stop(&w->timer);
    uv_timer_start(&w->timer, on_timer, KILL_GRACE_MS, 0);
  }
}

void hp_worker_kill(hp_worker_t *w, hp_store_state_t state, const char *reason) {
  /* A child that has exited already decided its trial (its output may still
   * be in the pipe): a stop, timeout or shutdown now must not overwrite it. */
  if (w->exited) return;
  worker_end(w, state, reason);
}

/* ---- output lines ------------------------------------------------------------ */

/* An array of at most 256 numbers (or nulls): e.g. the engine's curvature
 * density and per-epoch values, stored as a user attribute like Optuna's
 * list-valued user attrs. */
static bool flat_numbers(const cJSON *m) {
  if (!cJSON_IsArray(m) || cJSON_GetArraySize(m) > 256) return false;
  for (const cJSON *e = m->child; e; e = e->next)
    if (!cJSON_IsNumber(e) && !cJSON_IsNull(e)) return false;
  return true;
}

/* Other members of a final line (test_accuracy, seconds, ...) become the
 * trial's user attributes; they are written with its end, so a failed write
 * keeps them too (a later final line's member wins). */
static void keep_final_attrs(hp_worker_t *w, const cJSON *msg) {
  if (w->final_attrs == NULL) w->final_attrs = cJSON_CreateObject();
  for (const cJSON *m = msg->child; m && w->final_attrs; m = m->next) {
    if (strcmp(m->string, "value") == 0 || strcmp(m->string, "values") == 0 ||
        strcmp(m->string, "constraints") == 0 || strcmp(m->string, "error") == 0)
      continue;
    if (!cJSON_IsNumber(m) && !cJSON_IsString(m) && !cJSON_IsBool(m) && !flat_numbers(m))
      continue;
    cJSON_DeleteItemFromObjectCaseSensitive(w->final_attrs, m->string);
    cJSON_AddItemToObject(w->final_attrs, m->string, cJSON_Duplicate(m, true));
  }
}

/* A final line's "values": [v0, v1, ...] (one per objective) and
 * "constraints": [c0, ...] (c <= 0 satisfied): kept for the trial's end. */
static int final_arrays(hp_worker_t *w, const cJSON *values, const cJSON *cons, char *why,
                        size_t why_len) {
  const hp_study_spec_t *sp = w->run->st->spec;
  int m = sp ? sp->n_objectives : 1;
  if (values) {
    if (!cJSON_IsArray(values) || cJSON_GetArraySize(values) != m) {
      snprintf(why, why_len, "\"values\" must be an array of %d number%s (one per objective)", m,
               m == 1 ? "" : "s");
      return HP_EINVAL;
    }
    int k = 0;
    for (const cJSON *x = values->child; x; x = x->next, k++)
      if (hp_json_value(x, HP_NUM_LENIENT, &w->final_values[k], "values", NULL) < 0) {
        snprintf(why, why_len, "\"values\"[%d] is not a number", k);
        return HP_EINVAL;
      }
    w->final_n_values = m;
  }
  if (cons) {
    int n = cJSON_IsArray(cons) ? cJSON_GetArraySize(cons) : -1;
    if (n < 0 || n > HP_SAMPLER_MAX_CONSTRAINTS) {
      snprintf(why, why_len, "\"constraints\" must be an array of at most %d numbers",
               HP_SAMPLER_MAX_CONSTRAINTS);
      return HP_EINVAL;
    }
    int k = 0;
    for (const cJSON *x = cons->child; x; x = x->next, k++)
      if (hp_json_value(x, HP_NUM_LENIENT, &w->final_cons[k], "constraints", NULL) < 0 ||
          !isfinite(w->final_cons[k])) {
        snprintf(why, why_len, "\"constraints\"[%d] is not a finite number", k);
        return HP_EINVAL;
      }
    w->final_n_cons = n;
  }
  return 0;
}

void hp_worker_line(hp_worker_t *w, char *line, size_t len) {
  while (len > 0 && isspace((unsigned char)line[len - 1])) len--;
  while (len > 0 && isspace((unsigned char)*line)) line++, len--;
  if (len == 0) return;
  w->n_lines++;
  if (w->reason != NULL || w->run == NULL) return; /* already ending */
  hp_run_t *run = w->run;
  if (line[0] != '{') return; /* free text: the documented format ignores it */
  /* The line is outside text: quoted in reasons only as clean UTF-8. */
  char shown[96];
  hp_utf8_clean(shown, sizeof shown, line, len < 80 ? len : 80);
  cJSON *msg = NULL;
  hp_err_t perr = {0};
  int prc = hp_json_parse(line, len, "line", &msg, &perr);
  if (prc == 0) prc = hp_json_check_unique(msg, NULL, &perr); /* {"value": 1, "value": 2} */
  if (prc < 0) {
    cJSON_Delete(msg);
    if (memmem(line, len, "NaN", 3) || memmem(line, len, "Infinity", 8))
      set_reason(w, "diverged: non-finite value on output line %lld: %s", (long long)w->n_lines,
                 shown);
    else if (prc == HP_EFORMAT) { /* the parser's words; "line 1" of a single line is dropped */
      const char *why = strncmp(perr.msg, "line: ", 6) == 0 ? perr.msg + 6 : perr.msg;
      static const char one[] = "malformed JSON at line 1 column ";
      if (strncmp(why, one, sizeof one - 1) == 0)
        set_reason(w, "bad output line %lld: malformed JSON at column %s: %s",
                   (long long)w->n_lines, why + sizeof one - 1, shown);
      else
        set_reason(w, "bad output line %lld: %s: %s", (long long)w->n_lines, why, shown);
    }
    else /* well-formed but refused: a duplicated key, \u0000, 1e400 */
      set_reason(w, "bad output line %lld: %s", (long long)w->n_lines,
                 strncmp(perr.msg, "line: ", 6) == 0 ? perr.msg + 6 : perr.msg);
    w->kill_state = HP_STORE_FAIL;
    worker_end(w, HP_STORE_FAIL, w->reason);
    return;
  }
  const cJSON *err = cJSON_GetObjectItemCaseSensitive(msg, "error");
  const cJSON *step = cJSON_GetObjectItemCaseSensitive(msg, "step");
  const cJSON *value = cJSON_GetObjectItemCaseSensitive(msg, "value");
  const cJSON *values = step == NULL ? cJSON_GetObjectItemCaseSensitive(msg, "values") : NULL;
  const cJSON *cons = step == NULL ? cJSON_GetObjectItemCaseSensitive(msg, "constraints") : NULL;
  double v = NAN;
  char why[160] = "";
  if (!cJSON_IsString(err) && values != NULL && value != NULL) {
    set_reason(w, "bad output line %lld: give either \"value\" or \"values\"",
               (long long)w->n_lines);
    worker_end(w, HP_STORE_FAIL, w->reason);
  } else if (!cJSON_IsString(err) && (values != NULL || cons != NULL) &&
             final_arrays(w, values, cons, why, sizeof why) < 0) {
    set_reason(w, "bad output line %lld: %s", (long long)w->n_lines, why);
    worker_end(w, HP_STORE_FAIL, w->reason);
  } else if (cJSON_IsString(err)) {
    keep_final_attrs(w, msg); /* e.g. the curvature of an engine run that diverged */
    worker_end(w, HP_STORE_FAIL, err->valuestring);
  } else if (values != NULL) {
    w->have_final = true;
    w->final_value = w->final_values[0];
    keep_final_attrs(w, msg);
  } else if (value == NULL || hp_json_value(value, HP_NUM_LENIENT, &v, "value", &perr) < 0) {
    set_reason(w, "bad output line %lld: %s (expected {\"step\": N, \"value\": V} or "
                  "{\"value\": V})",
               (long long)w->n_lines, shown);
    worker_end(w, HP_STORE_FAIL, w->reason);
  } else if (step != NULL) {
    if (!cJSON_IsNumber(step) || step->valuedouble < 0 || step->valuedouble > 9e15 ||
        step->valuedouble != floor(step->valuedouble)) {
      set_reason(w, "bad output line %lld: \"step\" must be an integer >= 0",
                 (long long)w->n_lines);
      worker_end(w, HP_STORE_FAIL, w->reason);
    } else if (!isfinite(v)) {
      char r[128];
      snprintf(r, sizeof r, "diverged: value %s at step %lld", isnan(v) ? "NaN" : "inf",
               (long long)step->valuedouble);
      worker_end(w, HP_STORE_FAIL, r);
    } else {
      bool prune = false, ignored = false;
      hp_err_t e = {0};
      int64_t s = (int64_t)step->valuedouble;
      hp_view_curves_add(&w->curves, s, msg);
      if (hp_sched_report(run, s, v, &prune, &ignored, &e) < 0) {
        hp_log("study '%s' trial %lld: report failed: %s", run->st->name, (long long)run->number,
               e.msg);
      } else if (prune) {
        char r[64];
        snprintf(r, sizeof r, "pruned at step %lld", (long long)s);
        worker_end(w, HP_STORE_PRUNED, r);
      }
    }
  } else {
    w->have_final = true;
    w->final_value = v;
    w->final_n_values = 0; /* a later {"value": v} wins */
    keep_final_attrs(w, msg);
  }
  cJSON_Delete(msg);
}

/* ---- line buffers (a worker's stdout here, a relay's connection in slurm.c) ---- */

void hp_linebuf_alloc(hp_linebuf_t *b, size_t max, uv_buf_t *out) {
  if (b->cap - b->len < 4096) {
    size_t cap = b->cap ? b->cap * 2 : 8192;
    char *nb = cap <= max ? realloc(b->buf, cap + 1) : NULL;
    if (nb == NULL) {
      *out = uv_buf_init(NULL, 0);
      return;
    }
    b->buf = nb;
    b->cap = cap;
  }
  *out = uv_buf_init(b->buf + b->len, (unsigned)(b->cap - b->len));
}

int hp_linebuf_feed(hp_linebuf_t *b, size_t n, bool (*fn)(void *ctx, char *line, size_t len),
                    void *ctx) {
  size_t from = b->len;
  b->len += n;
  size_t start = 0;
  for (;;) {
    char *nl = memchr(b->buf + from, '\n', b->len - from);
    if (nl == NULL) break;
    size_t end = (size_t)(nl - b->buf);
    if (!fn(ctx, b->buf + start, end - start)) return -1;
    start = end + 1;
    from = start;
  }
  if (start > 0) {
    memmove(b->buf + 0, b->buf + start, b->len - start);
    b->len -= start;
  }
  return 0;
}

static void on_out_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  hp_worker_t *w = h->data;
  (void)suggested;
  hp_linebuf_alloc(&w->out_lines, SIZE_MAX / 4, buf);
}

static bool out_line(void *ctx, char *line, size_t len) {
  hp_worker_line(ctx, line, len);
  return true;
}

static void close_pipe(hp_worker_t *w, uv_pipe_t *p) {
  if (!uv_is_closing((uv_handle_t *)p)) uv_close((uv_handle_t *)p, on_worker_handle_closed);
}

static void on_out_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  hp_worker_t *w = s->data;
  (void)buf;
  hp_linebuf_t *b = &w->out_lines;
  if (nread < 0) {
    if (b->len > 0) hp_worker_line(w, b->buf, b->len); /* last line without '\n' */
    b->len = 0;
    w->out_eof = true;
    uv_read_stop(s);
    hp_worker_maybe_done(w);
    return;
  }
  hp_linebuf_feed(b, (size_t)nread, out_line, w);
  if (b->len > LINE_MAX_LEN) {
    set_reason(w, "output line longer than %u bytes", LINE_MAX_LEN);
    worker_end(w, HP_STORE_FAIL, w->reason);
    b->len = 0;
  }
}

static void on_err_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  static char scratch[8192]; /* loop thread only; copied out immediately */
  (void)h, (void)suggested;
  *buf = uv_buf_init(scratch, sizeof scratch);
}

static void on_err_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  hp_worker_t *w = s->data;
  if (nread == 0) return;
  if (nread < 0) {
    w->err_eof = true;
    uv_read_stop(s);
    hp_worker_maybe_done(w);
    return;
  }
  hp_worker_stderr(w, buf->base, (size_t)nread);
}

void hp_tail_append(char *tail, size_t size, const char *s, size_t n) {
  size_t cap = size - 1, have = strlen(tail);
  if (n >= cap) {
    memcpy(tail, s + n - cap, cap);
    tail[cap] = '\0';
    return;
  }
  if (have + n > cap) {
    memmove(tail, tail + (have + n - cap), cap - n);
    have = cap - n;
  }
  memcpy(tail + have, s, n);
  tail[have + n] = '\0';
}

void hp_worker_stderr(hp_worker_t *w, const char *text, size_t n) {
  if (n == 0) return;
  /* Keep the tail: the last lines usually say why a program died. */
  hp_tail_append(w->err_tail, sizeof w->err_tail, text, n);
  if (w->run)
    fprintf(stderr, "[%s #%lld] %.*s%s", w->run->st->name, (long long)w->run->number, (int)n,
            text, text[n - 1] == '\n' ? "" : "\n");
}

/* Last non-empty line of the stderr tail, for failure reasons. */
static const char *err_last_line(hp_worker_t *w, char *buf, size_t len) {
  size_t n = strlen(w->err_tail);
  while (n > 0 && isspace((unsigned char)w->err_tail[n - 1])) n--;
  size_t s = n;
  while (s > 0 && w->err_tail[s - 1] != '\n') s--;
  snprintf(buf, len, "%.*s", (int)(n - s > 160 ? 160 : n - s), w->err_tail + s);
  return buf;
}

static void on_timer(uv_timer_t *t) {
  hp_worker_t *w = t->data;
  if (w->exited) {
    /* Child gone but something still holds its stdout: stop waiting. */
    w->out_eof = w->err_eof = true;
    hp_worker_maybe_done(w);
    return;
  }
  if (w->term_sent) {
    hp_log("worker %d did not end %d ms after SIGTERM; killing its process group", (int)w->pid,
           KILL_GRACE_MS);
    kill(-w->pid, SIGKILL);
    return;
  }
  if (w->run) {
    char r[64];
    snprintf(r, sizeof r, "timeout after %g s", w->run->st->spec->trial_timeout);
    hp_log("study '%s' trial %lld: %s; killing its process group", w->run->st->name,
           (long long)w->run->number, r);
    hp_worker_kill(w, HP_STORE_FAIL, r);
  }
}

static void on_exit_cb(uv_process_t *p, int64_t status, int term_signal) {
  hp_worker_t *w = p->data;
  worker_unlist(w); /* libuv has reaped it: its pid is no child of ours now */
  w->d->t_worker_exit = hp_now_mono();
  w->exited = true;
  w->exit_status = status;
  w->term_signal = term_signal;
  /* Whatever the trial left behind in its group goes too. */
  kill(-w->pid, SIGKILL);
  uv_timer_stop(&w->timer);
  uv_timer_start(&w->timer, on_timer, EOF_GRACE_MS, 0);
  hp_worker_maybe_done(w);
}

void hp_worker_exited(hp_worker_t *w, int64_t status, int term_signal) {
  if (w->exited) return;
  w->exited = true;
  w->exit_status = status;
  w->term_signal = term_signal;
  uv_timer_stop(&w->timer);
  uv_timer_start(&w->timer, on_timer, EOF_GRACE_MS, 0);
  hp_worker_maybe_done(w);
}

void hp_worker_maybe_done(hp_worker_t *w) {
  if (w->done || !w->exited || !w->out_eof || !w->err_eof) return;
  w->done = true;
  hp_daemon_t *d = w->d;
  if (w->job) d->n_jobs--;
  else d->n_workers--;
  hp_run_t *run = w->run;
  if (run) {
    run->st->n_workers--;
    run->w = NULL;
    w->run = NULL;
    char reason[640], tail[200];
    hp_store_state_t state = HP_STORE_FAIL;
    double value = NAN;
    bool has_value = false;
    if (w->reason) {
      state = w->kill_state;
      snprintf(reason, sizeof reason, "%s", w->reason);
    } else if (w->job_end) { /* a Slurm job that ended other than COMPLETED */
      int n = snprintf(reason, sizeof reason, "%s", w->job_end);
      if (n > 0 && (size_t)n < sizeof reason && (w->term_signal || w->exit_status != 0))
        snprintf(reason + n, sizeof reason - (size_t)n, ": worker %s %d%s%s",
                 w->term_signal ? "killed by signal" : "exit status",
                 w->term_signal ? w->term_signal : (int)w->exit_status,
                 w->err_tail[0] ? ": " : "", err_last_line(w, tail, sizeof tail));
    } else if (w->term_signal) {
      snprintf(reason, sizeof reason, "killed by signal %d (%s)%s%s", w->term_signal,
               strsignal(w->term_signal), w->err_tail[0] ? ": " : "",
               err_last_line(w, tail, sizeof tail));
    } else if (w->exit_status != 0) {
      snprintf(reason, sizeof reason, "exit status %lld%s%s", (long long)w->exit_status,
               w->err_tail[0] ? ": " : "", err_last_line(w, tail, sizeof tail));
    } else if (!w->have_final) {
      snprintf(reason, sizeof reason, "exited without reporting a final value (a line "
                                      "{\"value\": V} on stdout)");
    } else if (isnan(w->final_value)) {
      snprintf(reason, sizeof reason, "diverged: final value is NaN");
    } else {
      state = HP_STORE_COMPLETE;
      value = w->final_value;
      has_value = true;
      reason[0] = '\0';
    }
    /* Several objectives and constraints (the line's own, then the spec's
     * on final-line members). */
    double vals[HP_STORE_MAX_OBJECTIVES], cons[HP_SAMPLER_MAX_CONSTRAINTS];
    int n_vals = has_value ? 1 : 0, n_cons = 0;
    vals[0] = value;
    if (state == HP_STORE_COMPLETE && w->final_n_values > 0) {
      n_vals = w->final_n_values;
      memcpy(vals, w->final_values, (size_t)n_vals * sizeof *vals);
    }
    if (state == HP_STORE_COMPLETE) {
      for (int k = 0; k < w->final_n_cons; k++) cons[n_cons++] = w->final_cons[k];
      const hp_study_spec_t *sp = run->st->spec;
      for (int k = 0; sp && k < sp->n_cons && n_cons < HP_SAMPLER_MAX_CONSTRAINTS; k++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(w->final_attrs, sp->cons_metric[k]);
        double xv = NAN;
        if (x == NULL || hp_json_value(x, HP_NUM_LENIENT, &xv, "constraint", NULL) < 0 ||
            !isfinite(xv)) {
          state = HP_STORE_FAIL;
          snprintf(reason, sizeof reason,
                   "constraint %d: the final line has no finite number \"%s\" "
                   "(spec.constraints)", k, sp->cons_metric[k]);
          n_vals = 0;
          has_value = false;
          break;
        }
        cons[n_cons++] = sp->cons_min[k] ? sp->cons_bound[k] - xv : xv - sp->cons_bound[k];
      }
    }
    double secs = hp_now_mono() - run->t_start;
    if (state == HP_STORE_COMPLETE)
      hp_log("study '%s' trial %lld: COMPLETE, value %.6g (%.1f s)", run->st->name,
             (long long)run->number, value, secs);
    else
      hp_log("study '%s' trial %lld: %s: %s (%.1f s)", run->st->name, (long long)run->number,
             hp_store_state_name(state), reason, secs);
    run->end_attrs = w->final_attrs;
    w->final_attrs = NULL;
    run->end_curves = w->curves;
    w->curves = NULL;
    hp_sched_finish_values(run, state, vals, n_vals, cons, n_cons, reason[0] ? reason : NULL,
                           NULL);
  }
  if (w->job) {
    hp_slurm_job_done(w);
  } else {
    uv_close((uv_handle_t *)&w->proc, on_worker_handle_closed);
    close_pipe(w, &w->out);
    close_pipe(w, &w->err);
  }
  uv_close((uv_handle_t *)&w->timer, on_worker_handle_closed);
  hp_daemon_kick(d);
}

/* ---- spawning ------------------------------------------------------------------------ */

typedef struct strvec {
  char **v;
  size_t n, cap;
} strvec_t;

static int sv_push(strvec_t *s, char *str) {
  if (str == NULL) return HP_ENOMEM;
  if (s->n + 2 > s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 32;
    char **nv = realloc(s->v, cap * sizeof *nv);
    if (nv == NULL) {
      free(str);
      return HP_ENOMEM;
    }
    s->v = nv;
    s->cap = cap;
  }
  s->v[s->n++] = str;
  s->v[s->n] = NULL;
  return 0;
}

static void sv_free(strvec_t *s) {
  for (size_t i = 0; i < s->n; i++) free(s->v[i]);
  free(s->v);
}

char *hp_str_printf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *out = NULL;
  if (vasprintf(&out, fmt, ap) < 0) out = NULL;
  va_end(ap);
  return out;
}

static bool env_has(const strvec_t *env, const char *entry) {
  size_t n = strcspn(entry, "=");
  for (size_t i = 0; i < env->n; i++)
    if (strncmp(env->v[i], entry, n) == 0 && env->v[i][n] == '=') return true;
  return false;
}

/* The child's environment: ours first (they win), then the daemon's. */
static int build_env(hp_run_t *run, strvec_t *env, hp_err_t *err) {
  hp_study_t *st = run->st;
  const hp_space_t *space = st->spec->space;
  int rc = 0;
  if (st->spec->env) {
    cJSON *e = NULL;
    rc = hp_study_substitute(st->spec->env, space, run->params, &e, err);
    if (rc < 0) return rc;
    /* A whole "$x" value became a number, boolean or null: its text. */
    for (const cJSON *c = e->child; c && rc == 0; c = c->next) {
      char *val = hp_study_value_text(c);
      rc = sv_push(env, val ? hp_str_printf("%s=%s", c->string, val) : NULL);
      free(val);
    }
    cJSON_Delete(e);
  }
  cJSON *params = hp_sched_params_json(st, run->params);
  char *ptext = params ? hp_json_print(params) : NULL;
  if (rc == 0) rc = sv_push(env, ptext ? hp_str_printf("HPSEARCH_PARAMS=%s", ptext) : NULL);
  free(ptext);
  for (const cJSON *p = params ? params->child : NULL; p && rc == 0; p = p->next) {
    char name[300];
    size_t k = 0;
    for (const char *c = p->string; *c && k < sizeof name - 1; c++)
      name[k++] = isalnum((unsigned char)*c) ? (char)toupper((unsigned char)*c) : '_';
    name[k] = '\0';
    char *val = hp_study_value_text(p);
    rc = sv_push(env, val ? hp_str_printf("HPSEARCH_PARAM_%s=%s", name, val) : NULL);
    free(val);
  }
  cJSON_Delete(params);
  if (rc == 0) rc = sv_push(env, hp_str_printf("HPSEARCH_TRIAL_NUMBER=%lld", (long long)run->number));
  if (rc == 0) rc = sv_push(env, hp_str_printf("HPSEARCH_TRIAL_ID=%lld", (long long)run->trial_id));
  if (rc == 0) rc = sv_push(env, hp_str_printf("HPSEARCH_STUDY=%s", st->name));
  if (rc == 0 && !env_has(env, "OPENBLAS_NUM_THREADS=")) rc = sv_push(env, strdup("OPENBLAS_NUM_THREADS=1"));
  for (char **e = environ; *e && rc == 0; e++)
    if (!env_has(env, *e)) rc = sv_push(env, strdup(*e));
  if (rc < 0) return hp_err_set(err, HP_ENOMEM, "out of memory");
  return 0;
}

/* remote: for a Slurm job, whose relay is the worker's parent (no --parent:
 * the relay sets the parent-death signal itself). */
static int build_argv(hp_daemon_t *d, hp_run_t *run, bool remote, strvec_t *argv, hp_err_t *err) {
  hp_study_t *st = run->st;
  int rc = 0;
  if (st->spec->kind == HP_OBJ_COMMAND) {
    cJSON *a = NULL;
    rc = hp_study_substitute(st->spec->command, st->spec->space, run->params, &a, err);
    if (rc < 0) return rc;
    /* Run under the supervisor (worker_exec.c), which keeps the command's
     * whole process tree and kills it when the trial ends. */
    rc = sv_push(argv, strdup(d->worker_exe));
    if (rc == 0) rc = sv_push(argv, strdup("supervise"));
    if (rc == 0 && !remote) rc = sv_push(argv, strdup("--parent"));
    if (rc == 0 && !remote) rc = sv_push(argv, hp_str_printf("%d", (int)getpid()));
    if (rc == 0) rc = sv_push(argv, strdup("--"));
    for (const cJSON *c = a->child; c && rc == 0; c = c->next) {
      if (cJSON_IsString(c)) rc = sv_push(argv, strdup(c->valuestring));
      else rc = sv_push(argv, hp_study_value_text(c)); /* a whole "$x" became a number */
    }
    cJSON_Delete(a);
  } else {
    cJSON *cfg = NULL;
    rc = hp_study_substitute(st->spec->engine, st->spec->space, run->params, &cfg, err);
    if (rc < 0) return rc;
    char *text = hp_json_print(cfg);
    cJSON_Delete(cfg);
    if (text == NULL) return hp_err_set(err, HP_ENOMEM, "out of memory");
    if (strlen(text) > 120000) {
      free(text);
      return hp_err_set(err, HP_ETOOBIG, "engine config longer than 120000 bytes");
    }
    rc = sv_push(argv, strdup(d->worker_exe));
    if (rc == 0) rc = sv_push(argv, strdup("worker"));
    if (rc == 0 && !remote) rc = sv_push(argv, strdup("--parent"));
    if (rc == 0 && !remote) rc = sv_push(argv, hp_str_printf("%d", (int)getpid()));
    if (rc == 0) rc = sv_push(argv, strdup("--metric"));
    if (rc == 0) {
      /* several objectives: "val_accuracy,n_params" (names have no commas) */
      char list[HP_STORE_MAX_OBJECTIVES * 72] = "";
      for (int k = 0; k < st->spec->n_objectives; k++) {
        if (k) strcat(list, ",");
        strncat(list, st->spec->metrics[k], 64);
      }
      rc = sv_push(argv, strdup(list));
    }
    if (rc == 0) rc = sv_push(argv, strdup("--config-json"));
    if (rc == 0) rc = sv_push(argv, text);
    else free(text);
  }
  if (rc < 0) return hp_err_set(err, HP_ENOMEM, "out of memory");
  return 0;
}

int hp_worker_cmdline(hp_daemon_t *d, hp_run_t *run, char ***argv, char ***env, hp_err_t *err) {
  strvec_t a = {0}, e = {0};
  int rc = build_argv(d, run, true, &a, err);
  if (rc == 0) rc = build_env(run, &e, err);
  if (rc < 0) {
    sv_free(&a);
    sv_free(&e);
    return rc;
  }
  *argv = a.v;
  *env = e.v;
  return 0;
}

void hp_strv_free(char **v) {
  for (char **p = v; p && *p; p++) free(*p);
  free(v);
}

hp_worker_t *hp_worker_new_job(hp_daemon_t *d, hp_run_t *run) {
  hp_worker_t *w = calloc(1, sizeof *w);
  if (w == NULL) return NULL;
  w->d = d;
  w->run = run;
  w->kill_state = HP_STORE_FAIL;
  w->err_eof = true; /* a job's stderr comes as lines on its connection */
  uv_timer_init(d->loop, &w->timer);
  w->timer.data = w;
  w->open_handles = 1;
  run->w = w;
  d->n_jobs++;
  run->st->n_workers++;
  return w;
}

void hp_worker_forget(hp_worker_t *w) {
  if (w->run) {
    w->run->w = NULL;
    w->run->st->n_workers--;
    w->run = NULL;
  }
  if (!w->done) {
    w->done = true;
    w->d->n_jobs--;
    uv_close((uv_handle_t *)&w->timer, on_worker_handle_closed);
  }
}

void hp_worker_start_timeout(hp_worker_t *w) {
  double timeout = w->run ? w->run->st->spec->trial_timeout : 0;
  if (timeout > 0 && !w->exited && !uv_is_active((uv_handle_t *)&w->timer))
    uv_timer_start(&w->timer, on_timer, (uint64_t)(timeout * 1000.0 + 0.5), 0);
}

int hp_worker_start(hp_daemon_t *d, hp_run_t *run, hp_err_t *err) {
  strvec_t argv = {0}, env = {0};
  int rc = build_argv(d, run, false, &argv, err);
  if (rc == 0) rc = build_env(run, &env, err);
  if (rc < 0) goto done;
  hp_worker_t *w = calloc(1, sizeof *w);
  if (w == NULL) {
    rc = hp_err_set(err, HP_ENOMEM, "out of memory");
    goto done;
  }
  w->d = d;
  w->run = run;
  w->kill_state = HP_STORE_FAIL;
  uv_pipe_init(d->loop, &w->out, 0);
  uv_pipe_init(d->loop, &w->err, 0);
  uv_timer_init(d->loop, &w->timer);
  w->out.data = w->err.data = w->timer.data = w->proc.data = w;
  w->open_handles = 4;

  uv_stdio_container_t stdio[3];
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[1].data.stream = (uv_stream_t *)&w->out;
  stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[2].data.stream = (uv_stream_t *)&w->err;
  uv_process_options_t o = {0};
  o.exit_cb = on_exit_cb;
  o.file = argv.v[0];
  o.args = argv.v;
  o.env = env.v;
  o.cwd = run->st->spec->kind == HP_OBJ_COMMAND ? run->st->spec->cwd : NULL;
  o.flags = UV_PROCESS_DETACHED; /* setsid: own session and process group */
  o.stdio_count = 3;
  o.stdio = stdio;
  rc = uv_spawn(d->loop, &w->proc, &o);
  if (rc < 0) {
    struct stat sb;
    if (o.cwd != NULL && stat(o.cwd, &sb) < 0)
      hp_err_set(err, rc, "cwd %s: %s", o.cwd, strerror(errno));
    else
      hp_err_set(err, rc, "%s: %s", argv.v[0], uv_strerror(rc));
    w->run = NULL;
    w->exited = w->out_eof = w->err_eof = w->done = true;
    uv_close((uv_handle_t *)&w->proc, on_worker_handle_closed);
    close_pipe(w, &w->out);
    close_pipe(w, &w->err);
    uv_close((uv_handle_t *)&w->timer, on_worker_handle_closed);
    goto done;
  }
  w->pid = w->proc.pid;
  w->wnext = d->workers;
  if (d->workers) d->workers->wprev = w;
  d->workers = w;
  w->listed = true;
  w->supervised = run->st->spec->kind == HP_OBJ_COMMAND;
  run->w = w;
  d->n_workers++;
  run->st->n_workers++;
  uv_read_start((uv_stream_t *)&w->out, on_out_alloc, on_out_read);
  uv_read_start((uv_stream_t *)&w->err, on_err_alloc, on_err_read);
  double timeout = run->st->spec->trial_timeout;
  if (timeout > 0) uv_timer_start(&w->timer, on_timer, (uint64_t)(timeout * 1000.0 + 0.5), 0);
done:
  sv_free(&argv);
  sv_free(&env);
  return rc;
}

/* ---- strays ------------------------------------------------------------------------ */

void hp_worker_reaper_init(hp_daemon_t *d) {
  if (prctl(PR_SET_CHILD_SUBREAPER, 1L, 0L, 0L, 0L) < 0)
    hp_log("cannot become a child subreaper (%s): processes of a trial whose supervisor is "
           "killed may survive it",
           strerror(errno));
  hp_proc_t *all = NULL;
  size_t n = 0;
  if (hp_proc_list(&all, &n) < 0) return;
  pid_t self = getpid();
  for (size_t i = 0; i < n; i++) {
    if (all[i].ppid != self) continue;
    pid_t *nf = realloc(d->foreign, (d->n_foreign + 1) * sizeof *nf);
    if (nf == NULL) break;
    d->foreign = nf;
    d->foreign[d->n_foreign++] = all[i].pid;
  }
  free(all);
}

void hp_worker_reap_strays(hp_daemon_t *d) {
  /* Strays come from the trees of workers, when one dies: no worker and none
   * ended lately means nothing to look for (an idle daemon reads no /proc). */
  if (d->workers == NULL && hp_now_mono() - d->t_worker_exit > 5.0) return;
  hp_proc_t *all = NULL;
  size_t n = 0;
  if (hp_proc_list(&all, &n) < 0) return;
  pid_t self = getpid();
  int killed = 0;
  for (size_t i = 0; i < n; i++) {
    if (all[i].ppid != self) continue;
    pid_t pid = all[i].pid;
    bool known = false;
    /* libuv waits for its own children by pid: taking one here would lose
     * that worker's exit. */
    for (const hp_worker_t *w = d->workers; w && !known; w = w->wnext) known = w->pid == pid;
    for (size_t k = 0; k < d->n_foreign && !known; k++) known = d->foreign[k] == pid;
    known = known || hp_slurm_owns_pid(d, pid); /* sbatch, squeue, scancel */
    if (known) continue;
    if (all[i].state != 'Z' && hp_proc_kill_tree(pid, true) > 0) killed++;
    waitpid(pid, NULL, WNOHANG); /* a zombie now, or at the next tick */
  }
  free(all);
  if (killed > 0)
    hp_log("killed %d process tree(s) left by trials whose supervisor died (reparented to the "
           "daemon)",
           killed);
}

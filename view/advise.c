/* Tuning advice from a study's own trials (include/hpsearch/view.h,
 * hp_view_advise; docs/advise.md gives every rule with its thresholds).
 * Each rule looks at the study's numbers and speaks only when they show
 * something, and every statement names the trials and the numbers it comes
 * from:
 *   divergence   diverged trials and the parameter range they share
 *                (learning rate, clipping);
 *   fit          underfitting (training loss stays high) and overfitting
 *                (validation far above training, or rising) per family of
 *                trials (a categorical parameter's choice), from the
 *                per-epoch curves engine trials record;
 *   edge         the best trials at the edge of a parameter's range;
 *   unimportant  parameters whose PED-ANOVA importance is negligible;
 *   convergence  whether the best value still improves. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hpsearch/importance.h"
#include "hpsearch/json.h"
#include "hpsearch/view.h"
#include "view_int.h"

/* Thresholds (docs/advise.md). */
#define MIN_DIVERGED 2        /* diverged trials before the divergence rule speaks */
#define DIVERGED_SHARE 0.5    /* ... and this share of the trials beyond the threshold */
#define MIN_FAMILY 3          /* trials with curves in a family */
#define FAMILY_SHARE 0.6      /* share of a family that under/overfits */
#define UNDERFIT_RATIO 1.5    /* final training loss / the study's best */
#define OVERFIT_GAP 1.3       /* final validation loss / final training loss */
#define OVERFIT_RISE 1.05     /* final validation loss / its minimum, epochs later */
#define MIN_EDGE_TRIALS 10    /* complete trials before the edge rule speaks */
#define EDGE_BEST 0.05        /* the best trial within this share of an end */
#define EDGE_TOP 0.10         /* ... and half the top trials within this share */
#define MIN_IMPORTANCE_TRIALS 20
#define NEGLIGIBLE 0.2        /* importance below this share of an even split */
#define MIN_CONVERGE_TRIALS 10
#define CONVERGE_WINDOW 0.25  /* share of the complete trials (at least 10) */

/* One advice under construction. */
typedef struct advice {
  cJSON *arr;     /* the "advice" array */
  hp_sbuf_t text; /* the statement */
  cJSON *trials;  /* trial numbers it comes from */
  cJSON *ev;      /* named numbers */
} advice_t;

static void say(advice_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(advice_t *a, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  hp_sbuf_puts(&a->text, buf);
}

static void begin(advice_t *a) {
  memset(&a->text, 0, sizeof a->text);
  a->trials = cJSON_CreateArray();
  a->ev = cJSON_CreateObject();
}

static void finish(advice_t *a, const char *rule) {
  cJSON *o = cJSON_CreateObject();
  if (o == NULL || a->text.oom) {
    cJSON_Delete(o);
    cJSON_Delete(a->trials);
    cJSON_Delete(a->ev);
  } else {
    cJSON_AddStringToObject(o, "rule", rule);
    cJSON_AddStringToObject(o, "text", a->text.p ? a->text.p : "");
    cJSON_AddItemToObject(o, "trials", a->trials);
    cJSON_AddItemToObject(o, "evidence", a->ev);
    cJSON_AddItemToArray(a->arr, o);
  }
  free(a->text.p);
  a->trials = a->ev = NULL;
}

/* Trial numbers one advice lists at most (the text gives the counts). */
#define MAX_CITED 1000

static void cite(advice_t *a, int64_t number) {
  if (cJSON_GetArraySize(a->trials) < MAX_CITED)
    cJSON_AddItemToArray(a->trials, cJSON_CreateNumber((double)number));
}

/* "#3, #7 and #9" of total trials whose first n are in num (at most 8
 * shown, then "and N more"). */
static void say_trials(advice_t *a, const int64_t *num, int64_t n, int64_t total) {
  int64_t shown = n < 8 ? n : 8;
  for (int64_t i = 0; i < shown; i++)
    say(a, "%s#%lld", i == 0 ? "" : (i == shown - 1 && total == shown) ? " and " : ", ",
        (long long)num[i]);
  if (total > shown) say(a, " and %lld more", (long long)(total - shown));
}

/* A parameter's value as a person reads it: floats to 4 digits, ints and
 * choices as they are. */
static void fmt_value(const hp_dist_t *d, double x, char *buf, size_t cap) {
  if (d->kind == HP_DIST_FLOAT) snprintf(buf, cap, "%.4g", x);
  else if (hp_dist_format_external(d, x, buf, cap) < 0) snprintf(buf, cap, "?");
}

/* What advise knows of one trial. */
typedef struct trow {
  const hp_store_trial_t *t;
  bool diverged;              /* FAIL for a diverged loss or value */
  double lr_sharpness, bound; /* diverged engine trials with curvature on: lr * sharpness
                                 where the diverging epoch started, and its stability
                                 bound (NaN without) */
  bool finished;              /* COMPLETE, PRUNED or FAIL */
  hp_view_curves_t curves;    /* n == 0 without */
  double final_train, final_val; /* last finite values of the curves, NaN without */
  int label;                  /* fit: 0 none, 1 underfit, 2 overfit */
  char why[160];              /* the numbers behind label */
} trow_t;

typedef struct ctx {
  const hp_view_table_t *tb;
  trow_t *rows;               /* [tb->n_rows] */
  bool maximize;
  int64_t n_complete;
} ctx_t;

static bool better(const ctx_t *c, double a, double b) { return c->maximize ? a > b : a < b; }

/* The distribution a parameter mostly has (that of its first row). */
static const hp_dist_t *param_dist(const ctx_t *c, int p) {
  for (int64_t r = 0; r < c->tb->n_rows; r++) {
    int k = c->tb->cell[r * c->tb->n_params + p];
    if (k >= 0) return &c->tb->dists[k];
  }
  return NULL;
}

static double xval(const ctx_t *c, int64_t r, int p) { return c->tb->x[r * c->tb->n_params + p]; }

/* ---- divergence ------------------------------------------------------------------- */

/* The curvature diagnosis a diverged engine trial stored (docs/engine.md,
 * "Diverged runs"): lr * sharpness where its diverging epoch started and
 * the optimizer's stability bound. */
static void diverged_curvature(trow_t *w) {
  cJSON *ua = NULL;
  const char *txt = w->t->user_attrs_json;
  if (txt == NULL || hp_json_parse(txt, strlen(txt), "user_attrs", &ua, NULL) < 0) return;
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(ua, "curvature_diverged_epoch");
  const cJSON *l = cJSON_GetObjectItemCaseSensitive(ua, "curvature_lr_sharpness");
  const cJSON *b = cJSON_GetObjectItemCaseSensitive(ua, "curvature_bound");
  if (cJSON_IsNumber(e) && cJSON_IsNumber(l) && cJSON_IsNumber(b) && b->valuedouble > 0)
    w->lr_sharpness = l->valuedouble, w->bound = b->valuedouble;
  cJSON_Delete(ua);
}

/* What the diverged trials' curvature says: lr * sharpness past the
 * optimizer's bound where the diverging epoch started means the step size
 * was already past the stable one there (the lecture's lr > 2 / lambda). */
static void say_divergence_curvature(const ctx_t *c, advice_t *a) {
  int64_t n = 0, past = 0;
  double lo = INFINITY, hi = -INFINITY, blo = INFINITY, bhi = -INFINITY;
  for (int64_t r = 0; r < c->tb->n_rows; r++) {
    const trow_t *w = &c->rows[r];
    if (!w->diverged || isnan(w->lr_sharpness)) continue;
    n++, past += w->lr_sharpness > w->bound;
    lo = fmin(lo, w->lr_sharpness), hi = fmax(hi, w->lr_sharpness);
    blo = fmin(blo, w->bound), bhi = fmax(bhi, w->bound);
  }
  if (n == 0) return;
  say(a, "; where their diverging epochs started, lr*sharpness was %.3g", lo);
  if (hi > lo) say(a, "-%.3g", hi);
  say(a, " against the optimizer's stability bound %.3g", blo);
  if (bhi > blo) say(a, "-%.3g", bhi);
  say(a, " (%lld of the %lld diagnosed past it%s)", (long long)past, (long long)n,
      past > 0 ? ": the step size was past the stable one, lower the rate or clip" : "");
  cJSON_AddNumberToObject(a->ev, "curvature_trials", (double)n);
  cJSON_AddNumberToObject(a->ev, "curvature_past_bound", (double)past);
  cJSON_AddNumberToObject(a->ev, "lr_sharpness_min", lo);
  cJSON_AddNumberToObject(a->ev, "lr_sharpness_max", hi);
}

static void rule_divergence(const ctx_t *c, cJSON *arr) {
  const hp_view_table_t *tb = c->tb;
  int64_t nd = 0;
  for (int64_t r = 0; r < tb->n_rows; r++) nd += c->rows[r].diverged;
  if (nd < MIN_DIVERGED) return;
  /* The numeric parameter and side whose threshold holds the most diverged
   * share: above the smallest value a diverged trial had, or below the
   * largest. */
  int best_p = -1, best_side = 0;
  double best_share = 0, best_t = 0;
  int64_t best_lo = 0, best_hi = 0, best_d = 0;
  for (int p = 0; p < tb->n_params; p++) {
    const hp_dist_t *d = param_dist(c, p);
    if (d == NULL || d->kind == HP_DIST_CAT) continue;
    for (int side = 0; side < 2; side++) {
      double t = side ? -INFINITY : INFINITY;
      int64_t dp = 0;
      for (int64_t r = 0; r < tb->n_rows; r++) {
        double x = xval(c, r, p);
        if (!c->rows[r].diverged || isnan(x)) continue;
        dp++;
        t = side ? fmax(t, x) : fmin(t, x);
      }
      if (dp < MIN_DIVERGED) continue;
      int64_t beyond = 0, within = 0, dbeyond = 0;
      for (int64_t r = 0; r < tb->n_rows; r++) {
        double x = xval(c, r, p);
        if (!c->rows[r].finished || isnan(x)) continue;
        bool b = side ? x <= t : x >= t;
        beyond += b, within += !b, dbeyond += b && c->rows[r].diverged;
      }
      double share = (double)dbeyond / (double)beyond;
      if (within < 2) continue; /* no trial on the safe side to compare with */
      if (share > best_share || (share == best_share && within > best_lo)) {
        best_share = share, best_p = p, best_side = side, best_t = t;
        best_lo = within, best_hi = beyond, best_d = dbeyond;
      }
    }
  }
  advice_t a = {.arr = arr};
  begin(&a);
  int64_t *num = malloc(sizeof *num * (size_t)(nd + 1));
  if (num == NULL) {
    finish(&a, "divergence");
    return;
  }
  int k = 0;
  for (int64_t r = 0; r < tb->n_rows; r++)
    if (c->rows[r].diverged) num[k++] = tb->number[r], cite(&a, tb->number[r]);
  cJSON_AddNumberToObject(a.ev, "diverged", (double)nd);
  if (best_p >= 0 && best_share >= DIVERGED_SHARE) {
    const char *name = tb->names[best_p];
    const char *op = best_side ? "<=" : ">=", *nop = best_side ? ">" : "<";
    say(&a, "%lld of the %lld finished trials with %s %s %.4g diverged (", (long long)best_d,
        (long long)best_hi, name, op, best_t);
    say_trials(&a, num, k, k);
    say(&a, "); none of the %lld with %s %s %.4g did: ", (long long)best_lo, name, nop, best_t);
    if (best_side == 0) say(&a, "lower %s's upper bound below %.4g", name, best_t);
    else say(&a, "raise %s's lower bound above %.4g", name, best_t);
    cJSON_AddStringToObject(a.ev, "param", name);
    cJSON_AddStringToObject(a.ev, "side", best_side ? "below" : "above");
    cJSON_AddNumberToObject(a.ev, "threshold", best_t);
    cJSON_AddNumberToObject(a.ev, "trials_beyond", (double)best_hi);
    cJSON_AddNumberToObject(a.ev, "diverged_beyond", (double)best_d);
    cJSON_AddNumberToObject(a.ev, "trials_within", (double)best_lo);
  } else {
    say(&a, "%lld trials diverged (", (long long)nd);
    say_trials(&a, num, k, k);
    say(&a, ") and no parameter's range separates them from the others");
  }
  /* Clipping: a parameter named like clip, compared between the diverged
   * trials and the finished others beyond the threshold (all finished
   * trials when every one beyond it diverged). */
  for (int p = 0; p < tb->n_params; p++) {
    if (strstr(tb->names[p], "clip") == NULL) continue;
    const hp_dist_t *d = param_dist(c, p);
    bool numeric = d && d->kind != HP_DIST_CAT;
    int64_t dn = 0, dabs = 0, on = 0, oabs = 0;
    double dsum = 0, osum = 0;
    for (int pass = 0; pass < 2 && (dn == 0 || on == 0); pass++) {
      dn = dabs = on = oabs = 0;
      dsum = osum = 0;
      for (int64_t r = 0; r < tb->n_rows; r++) {
        if (!c->rows[r].finished) continue;
        if (pass == 0 && best_p >= 0 && best_share >= DIVERGED_SHARE) {
          double x = xval(c, r, best_p);
          if (isnan(x) || (best_side ? x > best_t : x < best_t)) continue;
        }
        double x = xval(c, r, p);
        double lx = numeric && !isnan(x) ? log(x > 0 ? x : 1e-300) : 0;
        if (c->rows[r].diverged) dn++, dabs += isnan(x), dsum += lx;
        else on++, oabs += isnan(x), osum += lx;
      }
    }
    if (dn == 0 || on == 0) break;
    if (dabs > 0 || oabs > 0) {
      say(&a, "; %lld of the %lld diverged trials had no %s, against %lld of the %lld that did "
              "not diverge",
          (long long)dabs, (long long)dn, tb->names[p], (long long)oabs, (long long)on);
      if ((double)dabs / (double)dn > (double)oabs / (double)on) say(&a, ": clip gradients");
    } else if (numeric) {
      double gd = exp(dsum / (double)dn), go = exp(osum / (double)on);
      say(&a, "; %s averaged %.3g (geometric mean) in the diverged trials and %.3g in the others",
          tb->names[p], gd, go);
      if (gd > go) say(&a, ": a tighter %s (lower) or a lower learning rate", tb->names[p]);
      cJSON_AddNumberToObject(a.ev, "clip_diverged", gd);
      cJSON_AddNumberToObject(a.ev, "clip_others", go);
    }
    break;
  }
  say_divergence_curvature(c, &a);
  free(num);
  finish(&a, "divergence");
}

/* ---- under- and overfitting ----------------------------------------------------------- */

static double last_finite(const double *v, int n) {
  for (int i = n - 1; i >= 0; i--)
    if (isfinite(v[i])) return v[i];
  return NAN;
}

/* Labels the trials with curves (1 underfit, 2 overfit). Returns how many
 * have curves. */
static int64_t label_fit(ctx_t *c, int64_t *best_row) {
  const hp_view_table_t *tb = c->tb;
  double best_train = INFINITY;
  int64_t with = 0;
  *best_row = -1;
  for (int64_t r = 0; r < tb->n_rows; r++) {
    trow_t *w = &c->rows[r];
    if (w->curves.n < 2 || w->diverged || w->t->state == HP_STORE_FAIL) continue;
    w->final_train = last_finite(w->curves.m[0], w->curves.n);
    w->final_val = last_finite(w->curves.m[2], w->curves.n);
    if (!isfinite(w->final_train) || !isfinite(w->final_val)) continue;
    with++;
    if (w->final_train < best_train) best_train = w->final_train, *best_row = r;
  }
  for (int64_t r = 0; r < tb->n_rows; r++) {
    trow_t *w = &c->rows[r];
    if (!isfinite(w->final_train) || !isfinite(w->final_val) || w->curves.n < 2) continue;
    /* overfit: validation far above training, or rising epochs after its low */
    int imin = 0;
    const double *val = w->curves.m[2];
    for (int i = 1; i < w->curves.n; i++)
      if (isfinite(val[i]) && (!isfinite(val[imin]) || val[i] < val[imin])) imin = i;
    bool gap = w->final_val > OVERFIT_GAP * w->final_train && w->final_val - w->final_train > 0.02;
    bool rise = imin < w->curves.n - 1 && w->final_val > OVERFIT_RISE * val[imin];
    if (gap || rise) {
      w->label = 2;
      if (rise)
        snprintf(w->why, sizeof w->why, "validation loss %.3g at epoch %lld, up from %.3g at epoch %lld",
                 w->final_val, (long long)w->curves.step[w->curves.n - 1], val[imin],
                 (long long)w->curves.step[imin]);
      else
        snprintf(w->why, sizeof w->why, "validation loss %.3g against training loss %.3g",
                 w->final_val, w->final_train);
    } else if (best_train > 0 && w->final_train >= UNDERFIT_RATIO * best_train &&
               w->final_val <= 1.1 * w->final_train) {
      w->label = 1;
      snprintf(w->why, sizeof w->why, "training loss %.3g, %.1fx the lowest (%.3g)",
               w->final_train, w->final_train / best_train, best_train);
    }
  }
  return with;
}

static void rule_fit(ctx_t *c, cJSON *arr) {
  const hp_view_table_t *tb = c->tb;
  int64_t best_row;
  int64_t with = label_fit(c, &best_row);
  if (with < MIN_FAMILY) return;
  for (int label = 1; label <= 2; label++) {
    /* The family (a categorical's choice) where the label is most common;
     * the whole study when no family stands out. */
    int fam_p = -1, fam_c = -1;
    double fam_share = 0;
    int64_t fam_n = 0, fam_k = 0;
    int64_t all_k = 0;
    for (int64_t r = 0; r < tb->n_rows; r++) all_k += c->rows[r].label == label;
    if (all_k == 0) continue;
    for (int p = 0; p < tb->n_params; p++) {
      const hp_dist_t *d = param_dist(c, p);
      if (d == NULL || d->kind != HP_DIST_CAT) continue;
      for (int ch = 0; ch < d->n_choices; ch++) {
        int64_t n = 0, k = 0;
        for (int64_t r = 0; r < tb->n_rows; r++) {
          if (!isfinite(c->rows[r].final_train) || c->rows[r].curves.n < 2) continue;
          if (xval(c, r, p) != ch) continue;
          n++, k += c->rows[r].label == label;
        }
        double share = n ? (double)k / (double)n : 0;
        double rest = with - n > 0 ? (double)(all_k - k) / (double)(with - n) : 0;
        if (n >= MIN_FAMILY && share >= FAMILY_SHARE && share >= 2 * rest && share > fam_share)
          fam_share = share, fam_p = p, fam_c = ch, fam_n = n, fam_k = k;
      }
    }
    bool whole = fam_p < 0;
    if (whole) {
      fam_n = with, fam_k = all_k;
      if (all_k < MIN_FAMILY || (double)all_k / (double)with < FAMILY_SHARE / 2) continue;
    }
    advice_t a = {.arr = arr};
    begin(&a);
    char fam[300];
    if (whole) snprintf(fam, sizeof fam, "the study");
    else {
      char v[200];
      fmt_value(param_dist(c, fam_p), fam_c, v, sizeof v);
      snprintf(fam, sizeof fam, "trials with %s = %s", tb->names[fam_p], v);
    }
    int64_t example = -1;
    int64_t nums[8];
    int nn = 0;
    for (int64_t r = 0; r < tb->n_rows; r++) {
      if (c->rows[r].label != label) continue;
      if (!whole && xval(c, r, fam_p) != fam_c) continue;
      cite(&a, tb->number[r]);
      if (nn < 8) nums[nn++] = tb->number[r];
      if (example < 0) example = r;
    }
    say(&a, "%s in %s: %lld of %lld trials with learning curves (", label == 1 ? "underfitting" : "overfitting",
        fam, (long long)fam_k, (long long)fam_n);
    say_trials(&a, nums, nn, fam_k);
    say(&a, "); e.g. trial #%lld: %s", (long long)tb->number[example], c->rows[example].why);
    if (label == 1)
      say(&a, " (trial #%lld reaches %.3g): more capacity, more epochs or a higher learning rate",
          (long long)tb->number[best_row], c->rows[best_row].final_train);
    else say(&a, ": dropout, weight decay, early stopping or a smaller network");
    cJSON_AddStringToObject(a.ev, "family", whole ? "all" : fam);
    cJSON_AddNumberToObject(a.ev, "trials", (double)fam_n);
    cJSON_AddNumberToObject(a.ev, label == 1 ? "underfitting" : "overfitting", (double)fam_k);
    finish(&a, label == 1 ? "underfitting" : "overfitting");
  }
}

/* ---- the best trials at the edge of a range ---------------------------------------------- */

static int cmp_rows_by_value(const void *a, const void *b, void *cv) {
  const ctx_t *c = cv;
  double x = c->tb->y[*(const int64_t *)a], y = c->tb->y[*(const int64_t *)b];
  if (x == y) return 0;
  return better(c, x, y) ? -1 : 1;
}

static void rule_edge(const ctx_t *c, cJSON *arr) {
  const hp_view_table_t *tb = c->tb;
  if (c->n_complete < MIN_EDGE_TRIALS) return;
  int64_t *order = malloc(sizeof *order * (size_t)c->n_complete);
  if (order == NULL) return;
  int64_t n = 0;
  for (int64_t r = 0; r < tb->n_rows; r++)
    if (c->rows[r].t->state == HP_STORE_COMPLETE && isfinite(tb->y[r])) order[n++] = r;
  qsort_r(order, (size_t)n, sizeof *order, cmp_rows_by_value, (void *)c);
  int64_t top = (int64_t)ceil(EDGE_TOP * (double)n);
  if (top < 3) top = 3;
  if (top > n) top = n;
  for (int p = 0; p < tb->n_params; p++) {
    const hp_dist_t *d = param_dist(c, p);
    if (d == NULL || d->kind == HP_DIST_CAT || hp_dist_single(d)) continue;
    if (d->kind == HP_DIST_INT && (d->high - d->low) / d->step < 4) continue; /* too few values */
    double lo = d->log ? log(d->low) : d->low, hi = d->log ? log(d->high) : d->high;
    double x0 = xval(c, order[0], p);
    if (isnan(x0)) continue;
    double pos0 = ((d->log ? log(x0) : x0) - lo) / (hi - lo);
    int side = pos0 <= EDGE_BEST ? 0 : pos0 >= 1 - EDGE_BEST ? 1 : -1;
    if (side < 0) continue;
    int64_t near = 0;
    for (int64_t i = 0; i < top; i++) {
      double x = xval(c, order[i], p);
      if (isnan(x)) continue;
      double pos = ((d->log ? log(x) : x) - lo) / (hi - lo);
      near += side ? pos >= 1 - EDGE_TOP : pos <= EDGE_TOP;
    }
    if (2 * near < top) continue;
    advice_t a = {.arr = arr};
    begin(&a);
    const char *name = tb->names[p];
    say(&a, "%s: the best trial (#%lld, value %.4g) has %s = %.4g, in the %s %.0f%% of its range "
            "[%.4g, %.4g]%s, and %lld of the %lld best trials are in the %s %.0f%%: widen %s's "
            "range %s %.4g",
        name, (long long)tb->number[order[0]], tb->y[order[0]], name, x0,
        side ? "highest" : "lowest", EDGE_BEST * 100, d->low, d->high,
        d->log ? " (log scale)" : "", (long long)near, (long long)top, side ? "highest" : "lowest",
        EDGE_TOP * 100, name, side ? "above" : "below", side ? d->high : d->low);
    for (int64_t i = 0; i < top; i++) cite(&a, tb->number[order[i]]);
    cJSON_AddStringToObject(a.ev, "param", name);
    cJSON_AddStringToObject(a.ev, "edge", side ? "high" : "low");
    cJSON_AddNumberToObject(a.ev, "best_value", x0);
    cJSON_AddNumberToObject(a.ev, "low", d->low);
    cJSON_AddNumberToObject(a.ev, "high", d->high);
    cJSON_AddNumberToObject(a.ev, "top_trials", (double)top);
    cJSON_AddNumberToObject(a.ev, "top_near_edge", (double)near);
    finish(&a, "edge");
  }
  free(order);
}

/* ---- parameters that do not matter ---------------------------------------------------------- */

static void rule_unimportant(const ctx_t *c, const hp_view_table_t *complete, cJSON *arr) {
  if (complete->n_rows < MIN_IMPORTANCE_TRIALS || complete->n_params < 2) return;
  int np = complete->n_params;
  double *imp = malloc(sizeof *imp * (size_t)np);
  hp_imp_skip_t *skip = malloc(sizeof *skip * (size_t)np);
  hp_imp_opts_t o;
  hp_imp_opts_default(&o);
  int64_t used = 0;
  if (!imp || !skip || hp_view_importance_values(complete, c->maximize, &o, imp, skip, &used, NULL) < 0 ||
      used < MIN_IMPORTANCE_TRIALS) {
    free(imp);
    free(skip);
    return;
  }
  int top = 0, k = 0;
  for (int p = 0; p < np; p++) {
    if (imp[p] > imp[top]) top = p;
    k += imp[p] < NEGLIGIBLE / np;
  }
  if (k > 0 && k < np) {
    /* the best complete trial: where to fix them */
    int64_t best = 0;
    for (int64_t r = 1; r < complete->n_rows; r++)
      if (better(c, complete->y[r], complete->y[best])) best = r;
    advice_t a = {.arr = arr};
    begin(&a);
    int i = 0;
    for (int p = 0; p < np; p++) {
      if (!(imp[p] < NEGLIGIBLE / np)) continue;
      say(&a, "%s%s (importance %.3f)", i == 0 ? "" : i == k - 1 ? " and " : ", ",
          complete->names[p], imp[p]);
      cJSON_AddNumberToObject(a.ev, complete->names[p], imp[p]);
      i++;
    }
    say(&a, " hardly change%s the result (PED-ANOVA over %lld complete trials; the most important, "
            "%s, has %.3f): fix %s at the best trial's (#%lld) ",
        k == 1 ? "s" : "", (long long)used, complete->names[top], imp[top], k == 1 ? "it" : "them",
        (long long)complete->number[best]);
    i = 0;
    for (int p = 0; p < np; p++) {
      if (!(imp[p] < NEGLIGIBLE / np)) continue;
      char v[200] = "absent";
      int cell = complete->cell[best * np + p];
      if (cell >= 0) fmt_value(&complete->dists[cell], complete->x[best * np + p], v, sizeof v);
      say(&a, "%s%s = %s", i == 0 ? "" : ", ", complete->names[p], v);
      i++;
    }
    say(&a, " and search the rest");
    cite(&a, complete->number[best]);
    cJSON_AddNumberToObject(a.ev, "trials", (double)used);
    cJSON_AddNumberToObject(a.ev, "threshold", NEGLIGIBLE / np);
    finish(&a, "unimportant");
  }
  free(imp);
  free(skip);
}

/* ---- convergence ------------------------------------------------------------------------------ */

static void rule_convergence(const ctx_t *c, cJSON *arr) {
  const hp_view_table_t *tb = c->tb;
  if (c->n_complete < MIN_CONVERGE_TRIALS) return;
  int64_t window = (int64_t)ceil(CONVERGE_WINDOW * (double)c->n_complete);
  if (window < 10) window = 10;
  int64_t ws = c->n_complete > window ? c->n_complete - window : 0; /* window's first position */
  /* complete trials in number order (the table is) and the best so far */
  int64_t pos = 0, last_improve = -1, best_r = -1;
  int64_t improved_in_window = 0;
  double first_in_window = NAN;
  for (int64_t r = 0; r < tb->n_rows; r++) {
    if (c->rows[r].t->state != HP_STORE_COMPLETE || !isfinite(tb->y[r])) continue;
    /* the best value as the window opens (the first trial's if it opens there) */
    if (pos == ws) first_in_window = best_r >= 0 ? tb->y[best_r] : tb->y[r];
    if (best_r < 0 || better(c, tb->y[r], tb->y[best_r])) {
      best_r = r, last_improve = pos;
      if (pos >= ws && pos > 0) improved_in_window++;
    }
    pos++;
  }
  advice_t a = {.arr = arr};
  begin(&a);
  int64_t since = c->n_complete - 1 - last_improve;
  cite(&a, tb->number[best_r]);
  cJSON_AddNumberToObject(a.ev, "best", tb->y[best_r]);
  cJSON_AddNumberToObject(a.ev, "best_trial", (double)tb->number[best_r]);
  cJSON_AddNumberToObject(a.ev, "complete_since_best", (double)since);
  cJSON_AddNumberToObject(a.ev, "window", (double)window);
  if (since >= window) {
    say(&a, "converged: the best value %.4g (trial #%lld) has not improved over the last %lld "
            "complete trials (of %lld): more trials of this space are unlikely to help; change "
            "the space or stop",
        tb->y[best_r], (long long)tb->number[best_r], (long long)since,
        (long long)c->n_complete);
    finish(&a, "converged");
  } else {
    say(&a, "still improving: the best value went from %.4g to %.4g (trial #%lld) over the last "
            "%lld complete trials, improving %lld time%s: more trials should help",
        first_in_window, tb->y[best_r], (long long)tb->number[best_r],
        (long long)(c->n_complete - ws), (long long)improved_in_window,
        hp_plural(improved_in_window));
    cJSON_AddNumberToObject(a.ev, "improvements_in_window", (double)improved_in_window);
    finish(&a, "improving");
  }
}

/* ---- the entry point ------------------------------------------------------------------------------ */

int hp_view_advise(hp_store_t *s, int64_t study_id, cJSON **out, hp_err_t *err) {
  *out = NULL;
  hp_store_study_info_t info;
  int rc = hp_store_study_get(s, study_id, &info, err);
  if (rc < 0) return rc;
  hp_store_trial_t *trials = NULL;
  size_t n = 0;
  hp_view_table_t tb, complete;
  memset(&tb, 0, sizeof tb);
  memset(&complete, 0, sizeof complete);
  trow_t *rows = NULL;
  if (info.n_objectives != 1) {
    rc = hp_err_set(err, HP_EINVAL, "study '%s' has %d objectives: advise reads one objective",
                    info.name, info.n_objectives);
    goto done;
  }
  if ((rc = hp_store_trials_list(s, study_id, 0, &trials, &n, err)) < 0 ||
      (rc = hp_view_table(trials, n, false, &tb, err)) < 0 ||
      (rc = hp_view_table(trials, n, true, &complete, err)) < 0)
    goto done;
  rows = calloc((size_t)tb.n_rows + 1, sizeof *rows);
  if (rows == NULL) {
    rc = hp_err_set(err, HP_ENOMEM, "out of memory");
    goto done;
  }
  ctx_t c = {.tb = &tb, .rows = rows, .maximize = info.maximize[0]};
  for (int64_t r = 0; r < tb.n_rows; r++) {
    trow_t *w = &rows[r];
    w->t = &trials[tb.index[r]];
    w->final_train = w->final_val = NAN;
    hp_store_state_t st = w->t->state;
    w->finished = st == HP_STORE_COMPLETE || st == HP_STORE_PRUNED || st == HP_STORE_FAIL;
    if (st == HP_STORE_COMPLETE && isfinite(tb.y[r])) c.n_complete++;
    w->lr_sharpness = w->bound = NAN;
    if (st == HP_STORE_FAIL) {
      char *why = hp_view_trial_reason(w->t);
      w->diverged = why != NULL && strstr(why, "diverged") != NULL;
      free(why);
      if (w->diverged) diverged_curvature(w);
    }
    hp_view_curves_parse(w->t->system_attrs_json, &w->curves);
  }
  cJSON *j = cJSON_CreateObject();
  cJSON *arr = j ? cJSON_AddArrayToObject(j, "advice") : NULL;
  if (arr == NULL) {
    cJSON_Delete(j);
    rc = hp_err_set(err, HP_ENOMEM, "out of memory");
    goto done;
  }
  cJSON_AddStringToObject(j, "study", info.name);
  cJSON_AddStringToObject(j, "direction", info.maximize[0] ? "maximize" : "minimize");
  cJSON_AddNumberToObject(j, "n_trials", (double)n);
  cJSON_AddNumberToObject(j, "n_complete", (double)c.n_complete);
  rule_divergence(&c, arr);
  rule_fit(&c, arr);
  rule_edge(&c, arr);
  rule_unimportant(&c, &complete, arr);
  rule_convergence(&c, arr);
  /* "advice" last: the counts read first */
  cJSON_DetachItemViaPointer(j, arr);
  cJSON_AddItemToObject(j, "advice", arr);
  *out = j;
done:
  if (rows)
    for (int64_t r = 0; r < tb.n_rows; r++) hp_view_curves_free(&rows[r].curves);
  free(rows);
  hp_view_table_free(&tb);
  hp_view_table_free(&complete);
  hp_store_trials_free(trials, n);
  hp_store_study_info_clear(&info);
  return rc;
}

/* Curvature diagnostics of a trained network: Hessian-vector products of the
 * training loss on a fixed subset of the training data, the extreme Hessian
 * eigenvalues by Lanczos, a stochastic Lanczos quadrature (SLQ) estimate of
 * the eigenvalue density, and the numbers the optimization lecture ties to
 * them (condition number, negative curvature, gradient norm, lr * lambda_max
 * against the stability bound). docs/engine.md explains each number.
 *
 * The Lanczos and tridiagonal pieces work on any symmetric linear operator
 * (hp_linop_fn), so they are tested on matrices with known spectra; the
 * network part supplies the Hessian of the loss as that operator. */
#ifndef HPSEARCH_CURVATURE_H
#define HPSEARCH_CURVATURE_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hpsearch/err.h"

struct hp_model;
struct hp_dataset;
struct hp_optim;

/* Bins of the stored eigenvalue density (evenly spaced over
 * [lambda_min, lambda_max]). */
#define HP_CURV_BINS 16

/* How Hessian-vector products are computed. */
typedef enum hp_curv_hvp {
  HP_CURV_HVP_AUTO = 0, /* "auto": exact where the network allows, else fd */
  HP_CURV_HVP_EXACT,    /* "exact": the R-operator (dense networks only) */
  HP_CURV_HVP_FD,       /* "fd": central differences of gradients */
} hp_curv_hvp_t;

/* "diagnostics": {"curvature": true, ...} of a training config. */
typedef struct hp_curv_config {
  hp_curv_hvp_t hvp; /* "hvp": "auto" (default), "exact", "fd" */
  bool enabled;     /* "curvature": compute at the end of training (default false) */
  bool every_epoch; /* "every_epoch": also after every epoch (default false) */
  int samples;      /* "samples": size of the fixed training subset (default 512) */
  int steps;        /* "lanczos_steps": Lanczos iterations per run (default 16) */
  int vectors;      /* "slq_vectors": SLQ start vectors (default 1) */
  int precond_steps; /* "precond_steps": Lanczos steps for the preconditioned
                        sharpness of adaptive optimizers (default 8; 0 = off) */
  double fd_step;   /* "fd_step": relative central-difference step (default 1e-3) */
} hp_curv_config_t;

void hp_curv_config_default(hp_curv_config_t *c);

/* What one diagnosis found. NaN marks a value that does not apply. */
typedef struct hp_curv_result {
  double lambda_max;     /* largest Hessian eigenvalue (Lanczos, first run) */
  double lambda_min;     /* smallest Hessian eigenvalue (Lanczos, first run) */
  double condition;      /* |lambda_max| / |lambda_min| */
  double neg_fraction;   /* SLQ spectral mass clearly below 0: below
                            -max(1e-3 max|lambda|, (lambda_max - lambda_min)/steps) */
  double grad_norm;      /* ||grad L|| on the subset (weight decay included) */
  double grad_curvature; /* g^T H g / g^T g: curvature along the gradient */
  double lr;             /* learning rate of the last step (the schedule's) */
  double lr_lambda_max;  /* lr * lambda_max (plain GD's stability needs < 2) */
  double sharpness;      /* lambda_max of the preconditioned Hessian P^{-1} H for
                            adaptive optimizers; lambda_max otherwise */
  double lr_sharpness;   /* lr * sharpness: the optimizer's stability number */
  double bound;          /* the optimizer's stability bound for lr_sharpness:
                            2 (SGD, AdaGrad, RMSProp), 2+2a (momentum a),
                            (2+2a)/(1+2a) (Nesterov), (2+2b1)/(1-b1) (Adam) */
  double density[HP_CURV_BINS]; /* SLQ mass per bin, sums to 1 */
  int hvps;              /* Hessian-vector products computed */
  int samples;           /* subset size used */
  double seconds;        /* wall time of the diagnosis */
  bool exact;            /* products by the R-operator (else central differences) */
  int diverged_epoch;    /* > 0: training diverged in this epoch, and this is the
                            diagnosis of the weights it started from (the last ones
                            known finite) with the learning rate of the step that
                            diverged */
} hp_curv_result_t;

/* ---- generic pieces (tested on known spectra) ------------------------- */

/* out[n] = A v[n] for a symmetric operator A. */
typedef void (*hp_linop_fn)(void *ctx, const float *v, float *out);

/* Lanczos with full reorthogonalisation from v0 (need not be normalised;
 * nonzero): runs up to `steps` iterations (fewer when the Krylov space is
 * exhausted) and writes the tridiagonal T: alpha[m], beta[m-1]. Returns m
 * (>= 1), or a negative HP_E code (out of memory). Vectors are kept in
 * float with double dot products; when steps * n floats exceed 256 MB the
 * reorthogonalisation is skipped (plain three-term recurrence). */
int hp_lanczos(hp_linop_fn op, void *ctx, size_t n, int steps, const float *v0, double *alpha,
               double *beta);

/* Eigenvalues of the symmetric tridiagonal matrix (diagonal d[m],
 * off-diagonal e[m-1]) in ascending order into eval[m], and the squares of
 * the first components of the normalised eigenvectors into w[m] (the Gauss
 * quadrature weights of SLQ; they sum to 1). Implicit QL; returns 0, or -1
 * if it did not converge. */
int hp_tridiag_eigen(const double *d, const double *e, int m, double *eval, double *w);

/* ---- the network's Hessian -------------------------------------------- */

/* Diagnoses model m at its current parameters on samples idx[0..n) of ds
 * (n is capped at cfg->samples): the loss is the mean training loss over
 * the subset in minibatches of the model's batch size, in training mode
 * (batch statistics) but with dropout off, plus the weight decay of `opt`'s
 * config on the decayed ranges. Hessian-vector products are central
 * differences of gradients in fp32. The model's parameters, batch-norm
 * running estimates and dropout stream are unchanged afterwards (bit for
 * bit). `opt` (may be NULL: plain SGD at lr) gives the learning rate, the
 * preconditioner and the stability bound. `seed` picks the Lanczos start
 * vectors. */
int hp_curvature_diagnose(struct hp_model *m, const struct hp_dataset *ds, const uint32_t *idx,
                          uint32_t n, const hp_curv_config_t *cfg, const struct hp_optim *opt,
                          double lr, uint64_t seed, hp_curv_result_t *res, hp_err_t *err);

/* out = H v for the loss above at m's parameters (one central difference):
 * exposed for the tests that compare it with a dense Hessian. xs[n, d] and
 * ys[n] are the gathered subset. eps is the absolute step along v/||v||. */
void hp_curvature_hvp(struct hp_model *m, const float *xs, const int32_t *ys, uint32_t n,
                      const float *v, double eps, float *out);
/* out = H v exactly by Pearlmutter's R-operator (a forward and a backward
 * pass of directional derivatives) for networks of dense layers (with their
 * fused activations, flatten, dropout at rate 0) and softmax cross-entropy
 * or MSE: hp_curvature_exact_supported says. HP_EINVAL if unsupported,
 * HP_ENOMEM. */
bool hp_curvature_exact_supported(const struct hp_model *m);
int hp_curvature_hvp_exact(struct hp_model *m, const float *xs, const int32_t *ys, uint32_t n,
                           const float *v, float *out);
/* The subset gradient of the same loss (no weight decay) into g. */
double hp_curvature_grad(struct hp_model *m, const float *xs, const int32_t *ys, uint32_t n,
                         float *g);

/* Adds the result to obj as flat members "curvature_lambda_max", ...,
 * "curvature_density" (array of HP_CURV_BINS), the names a trial's user
 * attributes get (docs/engine.md lists them). Non-finite values are left
 * out. Returns 0 or HP_ENOMEM. */
int hp_curv_result_json(const hp_curv_result_t *r, cJSON *obj);
/* One line for humans: "lambda_max 41.2  lambda_min -0.35  ...". */
void hp_curv_result_line(const hp_curv_result_t *r, char *buf, size_t cap);

#endif

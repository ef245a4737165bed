/* OpenBLAS (BLAS and the LAPACK it carries), opened with dlopen() on first
 * use. This is the ONE loader: the engine's sgemm (engine/blas.c) and the GP
 * sampler's factorisations (search/gp.c) both resolve their symbols here.
 *
 * Why dlopen rather than linking: loading OpenBLAS costs ~6.5 ms (its
 * constructor probes the CPU and allocates buffers), which the client
 * subcommands that never multiply matrices should not pay; only the commands
 * that train, and the daemon once a GP sampler asks, load it.
 *
 * Thread-safe (pthread_once). Symbols live for the life of the process. */
#ifndef HPSEARCH_NUMLIB_H
#define HPSEARCH_NUMLIB_H

#include <stdbool.h>

/* Address of an OpenBLAS symbol (e.g. "cblas_sgemm", "dpotrf_"), loading the
 * library on the first call; NULL if it cannot be loaded or lacks the symbol. */
void *hp_openblas_sym(const char *name);
/* Why OpenBLAS could not be loaded ("" if it was). Static string. */
const char *hp_openblas_error(void);

/* ---- LAPACK / BLAS in double precision, column-major (Fortran) ----------
 * Thin typed wrappers over OpenBLAS's Fortran entry points. A symmetric
 * matrix is used through its lower triangle ('L'). Each returns LAPACK's
 * info (0 = success, > 0 = not positive definite at that column), or
 * HP_ENOTFOUND (numlib could not load OpenBLAS: hp_openblas_error says why). */

/* Ready-check: 0 when every wrapper below can run, else HP_ENOTFOUND. */
int hp_la_ready(void);
/* A[n,n] (lda) = L L^T in place (lower triangle). */
int hp_la_potrf(int n, double *a, int lda);
/* A^-1 in place from its Cholesky factor (lower triangle filled; call
 * hp_la_symmetrize to fill the upper one too). */
int hp_la_potri(int n, double *a, int lda);
/* Solves A X = B for X (B[n, nrhs], ldb) with A's Cholesky factor L. */
int hp_la_potrs(int n, int nrhs, const double *l, int lda, double *b, int ldb);
/* Solves L x = b (trans false) or L^T x = b (trans true) in place. */
int hp_la_trsv(bool trans, int n, const double *l, int lda, double *x);
/* B[n, nrhs] = L^-1 B (ldb) for lower triangular L. */
int hp_la_trsm(int n, int nrhs, const double *l, int lda, double *b, int ldb);
/* L^-1 in place for lower triangular L[n,n] (lower triangle). */
int hp_la_trtri(int n, double *a, int lda);
/* B[n, nrhs] = L B (ldb) for lower triangular L (its upper triangle is not read). */
int hp_la_trmm(int n, int nrhs, const double *l, int lda, double *b, int ldb);
/* C[m,n] = alpha op(A) op(B) + beta C, column-major. */
int hp_la_gemm(bool ta, bool tb, int m, int n, int k, double alpha, const double *a, int lda,
               const double *b, int ldb, double beta, double *c, int ldc);
/* y = alpha A x + beta y for symmetric A (lower triangle used). */
int hp_la_symv(int n, double alpha, const double *a, int lda, const double *x, double beta,
               double *y);
/* Copies the lower triangle of A[n,n] into the upper one. */
void hp_la_symmetrize(int n, double *a, int lda);

#endif

/* The one loader of OpenBLAS (BLAS + LAPACK), opened with dlopen() on first use (see include/hpsearch/numlib.h for why), and thin
 * typed wrappers over the double-precision routines the GP sampler uses. */
#include "hpsearch/numlib.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hpsearch/err.h"

#ifndef HP_OPENBLAS_LIBDIR
#define HP_OPENBLAS_LIBDIR "" /* the build passes pkg-config's libdir */
#endif

/* ---- OpenBLAS ------------------------------------------------------------ */

static struct {
  void *handle;
  char error[160]; /* why loading failed, "" if it did not */
} ob;
static pthread_once_t ob_once = PTHREAD_ONCE_INIT;

static void ob_load(void) {
  /* First the library pkg-config named at build time, then whatever the
   * dynamic linker finds under the soname (Debian's alternatives). */
  static const char *const candidates[] = {HP_OPENBLAS_LIBDIR "/libopenblas.so.0",
                                           "libopenblas.so.0", "libopenblas.so"};
  for (size_t i = 0; i < sizeof candidates / sizeof candidates[0] && ob.handle == NULL; i++)
    if (candidates[i][0] != '/' || HP_OPENBLAS_LIBDIR[0] != '\0')
      ob.handle = dlopen(candidates[i], RTLD_NOW | RTLD_LOCAL);
  if (ob.handle == NULL)
    snprintf(ob.error, sizeof ob.error, "cannot load OpenBLAS: %s", dlerror());
}

void *hp_openblas_sym(const char *name) {
  pthread_once(&ob_once, ob_load);
  return ob.handle != NULL ? dlsym(ob.handle, name) : NULL;
}

const char *hp_openblas_error(void) {
  pthread_once(&ob_once, ob_load);
  return ob.error;
}

/* Fortran entry points (hidden character lengths last, as gfortran passes them). */
typedef void potrf_fn(const char *, const int *, double *, const int *, int *, size_t);
typedef void potrs_fn(const char *, const int *, const int *, const double *, const int *,
                      double *, const int *, int *, size_t);
typedef void trsv_fn(const char *, const char *, const char *, const int *, const double *,
                     const int *, double *, const int *, size_t, size_t, size_t);
typedef void gemm_fn(const char *, const char *, const int *, const int *, const int *,
                     const double *, const double *, const int *, const double *, const int *,
                     const double *, double *, const int *, size_t, size_t);
typedef void trsm_fn(const char *, const char *, const char *, const char *, const int *,
                     const int *, const double *, const double *, const int *, double *,
                     const int *, size_t, size_t, size_t, size_t);
typedef void trtri_fn(const char *, const char *, const int *, double *, const int *, int *,
                      size_t, size_t);
typedef void symv_fn(const char *, const int *, const double *, const double *, const int *,
                     const double *, const int *, const double *, double *, const int *, size_t);

static struct {
  potrf_fn *potrf;
  potrs_fn *potrs;
  trsv_fn *trsv;
  gemm_fn *gemm;
  trsm_fn *trsm, *trmm;
  trtri_fn *trtri;
  potrf_fn *lauum; /* same signature as dpotrf_ */
  symv_fn *symv;
  int ok; /* 1 when every symbol resolved */
} la;
static pthread_once_t la_once = PTHREAD_ONCE_INIT;

static void la_load(void) {
  *(void **)&la.potrf = hp_openblas_sym("dpotrf_");
  *(void **)&la.potrs = hp_openblas_sym("dpotrs_");
  *(void **)&la.trsv = hp_openblas_sym("dtrsv_");
  *(void **)&la.gemm = hp_openblas_sym("dgemm_");
  *(void **)&la.symv = hp_openblas_sym("dsymv_");
  *(void **)&la.trsm = hp_openblas_sym("dtrsm_");
  *(void **)&la.trmm = hp_openblas_sym("dtrmm_"); /* same signature as dtrsm_ */
  *(void **)&la.trtri = hp_openblas_sym("dtrtri_");
  *(void **)&la.lauum = hp_openblas_sym("dlauum_");
  la.ok = la.potrf && la.potrs && la.trsv && la.gemm && la.symv && la.trsm &&
          la.trmm && la.trtri && la.lauum;
  if (!la.ok && ob.error[0] == '\0')
    snprintf(ob.error, sizeof ob.error, "OpenBLAS lacks its LAPACK routines (dpotrf_ ...)");
}

int hp_la_ready(void) {
  pthread_once(&la_once, la_load);
  return la.ok ? 0 : HP_ENOTFOUND;
}

int hp_la_potrf(int n, double *a, int lda) {
  if (hp_la_ready() != 0) return HP_ENOTFOUND;
  int info = 0;
  la.potrf("L", &n, a, &lda, &info, 1);
  return info;
}

/* L^-1 in place by halves: [[A, 0], [B, C]]^-1 = [[A^-1, 0], [-C^-1 B A^-1, C^-1]],
 * the off-diagonal block by two dtrmm. OpenBLAS's dtrtri works column by
 * column (dtrmv) below 64 rows, the GP's usual size: this takes half its
 * instructions at n = 100 (callgrind) and agrees with it to 1e-16. */
static int trtri_halves(int n, double *a, int lda) {
  int info = 0;
  if (n <= 24) {
    la.trtri("L", "N", &n, a, &lda, &info, 1, 1);
    return info;
  }
  int h = n / 2, m = n - h;
  double one = 1.0, minus_one = -1.0;
  double *c = a + (size_t)h * lda + h, *b = a + h;
  if ((info = trtri_halves(h, a, lda)) != 0) return info;
  if ((info = trtri_halves(m, c, lda)) != 0) return info + h;
  la.trmm("R", "L", "N", "N", &m, &h, &one, a, &lda, b, &lda, 1, 1, 1, 1);
  la.trmm("L", "L", "N", "N", &m, &h, &minus_one, c, &lda, b, &lda, 1, 1, 1, 1);
  return 0;
}

int hp_la_potri(int n, double *a, int lda) {
  if (hp_la_ready() != 0) return HP_ENOTFOUND;
  /* dpotri = dtrtri then dlauum (L^-T L^-1), with the faster dtrtri. */
  int info = trtri_halves(n, a, lda);
  if (info != 0) return info;
  la.lauum("L", &n, a, &lda, &info, 1);
  return info;
}

int hp_la_potrs(int n, int nrhs, const double *l, int lda, double *b, int ldb) {
  if (hp_la_ready() != 0) return HP_ENOTFOUND;
  int info = 0;
  la.potrs("L", &n, &nrhs, l, &lda, b, &ldb, &info, 1);
  return info;
}

int hp_la_trsv(bool trans, int n, const double *l, int lda, double *x) {
  if (hp_la_ready() != 0) return HP_ENOTFOUND;
  int one = 1;
  la.trsv("L", trans ? "T" : "N", "N", &n, l, &lda, x, &one, 1, 1, 1);
  return 0;
}

int hp_la_gemm(bool ta, bool tb, int m, int n, int k, double alpha, const double *a, int lda,
               const double *b, int ldb, double beta, double *c, int ldc) {
  if (hp_la_ready() != 0) return HP_ENOTFOUND;
  la.gemm(ta ? "T" : "N", tb ? "T" : "N", &m, &n, &k, &alpha, a, &lda, b, &ldb, &beta, c, &ldc,
          1, 1);
  return 0;
}

int hp_la_trsm(int n, int nrhs, const double *l, int lda, double *b, int ldb) {
  if (hp_la_ready() != 0) return HP_ENOTFOUND;
  double one = 1.0;
  la.trsm("L", "L", "N", "N", &n, &nrhs, &one, l, &lda, b, &ldb, 1, 1, 1, 1);
  return 0;
}

int hp_la_trtri(int n, double *a, int lda) {
  if (hp_la_ready() != 0) return HP_ENOTFOUND;
  return trtri_halves(n, a, lda);
}

int hp_la_trmm(int n, int nrhs, const double *l, int lda, double *b, int ldb) {
  if (hp_la_ready() != 0) return HP_ENOTFOUND;
  double one = 1.0;
  la.trmm("L", "L", "N", "N", &n, &nrhs, &one, l, &lda, b, &ldb, 1, 1, 1, 1);
  return 0;
}

int hp_la_symv(int n, double alpha, const double *a, int lda, const double *x, double beta,
               double *y) {
  if (hp_la_ready() != 0) return HP_ENOTFOUND;
  int one = 1;
  la.symv("L", &n, &alpha, a, &lda, x, &one, &beta, y, &one, 1);
  return 0;
}

void hp_la_symmetrize(int n, double *a, int lda) {
  for (int j = 0; j < n; j++)
    for (int i = j + 1; i < n; i++) a[(size_t)i * lda + j] = a[(size_t)j * lda + i];
}

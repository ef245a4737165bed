/* Matrix products for the engine: one row-major sgemm entry point over
 * OpenBLAS, the naive reference kernel it is tested against, and the
 * start-up logic that makes OpenBLAS run its fast kernel (see engine/blas.c
 * for why: Debian's OpenBLAS 0.3.21 falls back to its generic Prescott
 * kernels on some AVX-512 Xeons). */
#ifndef HPSEARCH_BLAS_H
#define HPSEARCH_BLAS_H

#include <stdbool.h>
#include <stddef.h>

/* C[M,N] = alpha * op(A)[M,K] @ op(B)[K,N] + beta * C, all row-major.
 * op(A) is A[M,K] (lda >= K) or, when trans_a, A^T with A stored [K,M]
 * (lda >= M); likewise op(B) is B[K,N] (ldb >= N) or B^T with B stored [N,K]
 * (ldb >= K). beta == 0 means C is written without being read (so it may hold
 * garbage, even NaN). M, N, K must be > 0. */
void hp_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
              int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* The same product by three plain loops with a double accumulator: slow,
 * obviously right, the reference the fast kernel is tested against. */
void hp_sgemm_naive(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                    const float *A, int lda, const float *B, int ldb, float beta, float *C,
                    int ldc);

/* CPU features that decide which OpenBLAS kernel class is usable (already
 * checked against OS support of the wide registers). */
typedef struct hp_cpu_features {
  bool avx2_fma; /* AVX2 and FMA3 usable */
  bool avx512f;  /* AVX-512 Foundation usable */
} hp_cpu_features_t;

/* Features of the CPU this process runs on (cpuid + xgetbv). */
hp_cpu_features_t hp_blas_cpu_features(void);

/* The policy, as a pure function so it can be tested for CPUs we do not
 * have: given the core name OpenBLAS picked by itself and the CPU features,
 * returns the OPENBLAS_CORETYPE to force ("SkylakeX" or "Haswell"), or NULL
 * when the library's own choice is already at least as good. */
const char *hp_blas_choose_coretype(const char *corename, hp_cpu_features_t cpu);

/* Makes sure OpenBLAS runs its fast kernel with no action by the user.
 * Called first thing in main (argv as main got it). If OPENBLAS_CORETYPE is
 * not set and hp_blas_choose_coretype() asks for a better kernel, sets
 * OPENBLAS_CORETYPE and re-executes /proc/self/exe once (an environment marker
 * prevents a loop; OpenBLAS reads the variable only when it loads). An
 * explicit user setting always wins. Also defaults the BLAS thread count to 1
 * unless OPENBLAS_NUM_THREADS is set, and sets flush-to-zero and
 * denormals-are-zero. Returns only when no re-exec happened (or it failed). */
void hp_blas_ensure_fast_kernel(char **argv);

/* Sets FTZ/DAZ in the calling thread's MXCSR: Adam's moment estimates drift
 * into denormals and would otherwise slow training down several-fold. */
void hp_blas_set_ftz(void);

/* Sets the BLAS thread count (n >= 1). */
void hp_blas_set_threads(int n);
/* The BLAS thread count in effect (0 when the library cannot say). */
int hp_blas_threads(void);

/* The kernel OpenBLAS runs ("SkylakeX", "Haswell", "Prescott", ...) and
 * how it was chosen ("library default", "set by hpsearch (library picked
 * Prescott)", "OPENBLAS_CORETYPE set by the user"). Static strings. */
const char *hp_blas_corename(void);
const char *hp_blas_kernel_origin(void);

#endif

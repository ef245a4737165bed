/* Matrix products for the engine: one row-major sgemm entry point over
 * OpenBLAS, the naive reference kernel it is tested against, and the
 * start-up logic that makes OpenBLAS run its fast kernel (see engine/blas.c
 * for why: Debian's OpenBLAS 0.3.21 falls back to its generic Prescott
 * kernels on some AVX-512 Xeons). */
#ifndef HPSEARCH_BLAS_H
#define HPSEARCH_BLAS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hpsearch/err.h"

/* C[M,N] = alpha * op(A)[M,K] @ op(B)[K,N] + beta * C, all row-major, by
 * the fp32 backend (hp_gemm_backend: OpenBLAS or oneDNN), or in bf16 while
 * hp_blas_set_bf16 is on in the calling thread.
 * op(A) is A[M,K] (lda >= K) or, when trans_a, A^T with A stored [K,M]
 * (lda >= M); likewise op(B) is B[K,N] (ldb >= N) or B^T with B stored [N,K]
 * (ldb >= K). beta == 0 means C is written without being read (so it may hold
 * garbage, even NaN). M, N, K must be > 0. */
void hp_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
              int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* The product by OpenBLAS whatever the backend (the naive loops when
 * OpenBLAS is missing): the benchmark compares the backends with it. */
void hp_openblas_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                       const float *A, int lda, const float *B, int ldb, float beta, float *C,
                       int ldc);

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

/* ---- which library runs the fp32 products ------------------------------ */

typedef enum hp_gemm_backend {
  HP_GEMM_OPENBLAS = 0, /* cblas_sgemm (engine/blas.c) */
  HP_GEMM_ONEDNN,       /* oneDNN's f32 matmul (engine/dnnl.c) */
} hp_gemm_backend_t;

/* The fp32 backend's policy as a pure function (tested for CPUs we do not
 * have): an explicit HPSEARCH_GEMM ("openblas" / "onednn") wins; a
 * user-set OPENBLAS_CORETYPE means OpenBLAS; otherwise oneDNN where it was
 * measured faster (an AVX-512 CPU with BF16 instructions, i.e. Zen 4 /
 * Cooper Lake and later, docs/engine.md) when it can be loaded, else
 * OpenBLAS. *why gets a static explanation. */
hp_gemm_backend_t hp_gemm_choose(const char *hpsearch_gemm, bool user_coretype, bool cpu_bf16,
                                 bool dnnl_loadable, const char **why);
/* The backend hp_sgemm uses in this process (decided on first use) and why. */
hp_gemm_backend_t hp_gemm_backend(const char **why);

/* ---- bf16 products (oneDNN, engine/dnnl.c) ---------------------------- */

typedef uint16_t hp_bf16_t; /* the top half of an IEEE float */

/* y[i] = x[i] rounded to the nearest bf16 (ties to even; NaN stays NaN). */
void hp_bf16_from_f32(const float *x, hp_bf16_t *y, size_t n);
/* y[i] = (x[i] * a[i] + b[i]) rounded to bf16, the product and the sum in
 * float (no FMA), in one pass: a scaled input straight to bf16. */
void hp_bf16_from_f32_affine(const float *x, const float *a, const float *b, hp_bf16_t *y,
                             size_t n);
float hp_bf16_to_f32(hp_bf16_t v);

/* C = alpha op(A) op(B) + beta C as hp_sgemm, with bf16 operands and fp32
 * accumulation and output: oneDNN's matmul (primitives cached per shape,
 * per thread). Falls back to hp_gemm_bf16_naive if oneDNN refuses a shape;
 * call hp_dnnl_check first. */
void hp_gemm_bf16(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                  const hp_bf16_t *A, int lda, const hp_bf16_t *B, int ldb, float beta,
                  float *C, int ldc);
/* batch independent products C_i = alpha op(A_i) op(B_i) + beta C_i with
 * A_i = A + i * stride_a (likewise B_i, C_i; strides in elements), i <
 * batch, in one oneDNN call (one primitive execution instead of batch). */
void hp_gemm_bf16_batch(int batch, bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                        const hp_bf16_t *A, int lda, size_t stride_a, const hp_bf16_t *B,
                        int ldb, size_t stride_b, float beta, float *C, int ldc,
                        size_t stride_c);
/* The reference: exact bf16 x bf16 products summed in double. */
void hp_gemm_bf16_naive(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                        const hp_bf16_t *A, int lda, const hp_bf16_t *B, int ldb, float beta,
                        float *C, int ldc);
/* hp_sgemm through oneDNN in fp32; false if oneDNN cannot run it. */
bool hp_dnnl_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
                   int lda, const float *B, int ldb, float beta, float *C, int ldc);
/* hp_sgemm's product with both operands rounded to bf16 first (per call);
 * false if out of memory. */
bool hp_sgemm_as_bf16(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                      const float *A, int lda, const float *B, int ldb, float beta, float *C,
                      int ldc);

/* While on, hp_sgemm in the calling thread rounds its operands to bf16 and
 * runs hp_gemm_bf16 (the conv layers' products in "precision": "bf16"). */
void hp_blas_set_bf16(bool on);
bool hp_blas_bf16(void);

/* Loads oneDNN (once) and, for bf16, checks the CPU has BF16 instructions
 * (AVX512_BF16 or AMX-BF16). 0, or HP_ESTATE with a message saying what is
 * missing. */
int hp_dnnl_check(bool bf16, hp_err_t *err);
bool hp_cpu_has_bf16(void);
/* oneDNN's version ("2.6.3") or "not loaded"; the implementation oneDNN
 * picks for a contiguous product of this shape (for the benchmark). */
const char *hp_dnnl_version(void);
const char *hp_dnnl_impl(bool bf16, bool trans_a, bool trans_b, int M, int N, int K);
/* Frees the calling thread's cached oneDNN primitives (they are otherwise
 * kept for the life of the process; tests call this before exiting). */
void hp_dnnl_release(void);
/* oneDNN's (OpenMP) thread count. */
void hp_dnnl_set_threads(int n);

#endif

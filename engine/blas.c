/* Matrix products over OpenBLAS, the naive reference kernel beside them, and
 * the choice of OpenBLAS's kernel at start-up.
 *
 * Why the start-up logic exists: Debian's OpenBLAS 0.3.21 (DYNAMIC_ARCH) does
 * not recognise some AVX-512 Xeons and falls back to its generic "Prescott"
 * SSE3 kernels, about 4x slower than SkylakeX/Cooperlake on the engine's
 * shapes. OpenBLAS reads OPENBLAS_CORETYPE only when the library is loaded, so
 * the only way to change the kernel of a running process is to set the
 * variable and execute the program again.
 *
 * OpenBLAS is opened with dlopen() on first use instead of being linked, by
 * the one loader in common/numlib.c (which says why). */
#include "hpsearch/blas.h"

#include "hpsearch/numlib.h"

#include <cblas.h>
#include <cpuid.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <xmmintrin.h>

/* Set (to the core name OpenBLAS picked by itself) before the re-exec; its
 * presence stops a second re-exec whatever the library then reports. */
#define HP_BLAS_MARKER "HPSEARCH_BLAS_REEXEC"

/* The OpenBLAS entry points the engine uses, resolved once through the one
 * loader (common/numlib.c). */
static struct {
  void (*sgemm)(enum CBLAS_ORDER, enum CBLAS_TRANSPOSE, enum CBLAS_TRANSPOSE, blasint, blasint,
                blasint, float, const float *, blasint, const float *, blasint, float, float *,
                blasint);
  char *(*corename)(void);
  void (*set_threads)(int);
  int (*get_threads)(void);
  char error[160]; /* why loading failed, "" if it did not */
} blas;
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void blas_load(void) {
  *(void **)&blas.sgemm = hp_openblas_sym("cblas_sgemm");
  *(void **)&blas.corename = hp_openblas_sym("openblas_get_corename");
  *(void **)&blas.set_threads = hp_openblas_sym("openblas_set_num_threads");
  *(void **)&blas.get_threads = hp_openblas_sym("openblas_get_num_threads");
  if (hp_openblas_error()[0] != '\0')
    snprintf(blas.error, sizeof blas.error, "%s", hp_openblas_error());
  else if (blas.sgemm == NULL)
    snprintf(blas.error, sizeof blas.error, "OpenBLAS has no cblas_sgemm");
}

static void blas_ready(void) { pthread_once(&blas_once, blas_load); }

static CBLAS_TRANSPOSE tr(bool t) { return t ? CblasTrans : CblasNoTrans; }

/* ---- the fp32 backend ------------------------------------------------------ */

/* bench/engine_sgemm.c and bench/engine_step.c on the 2-core Zen 4 EPYC
 * (docs/engine.md, "Which library runs which product"): since the dense
 * layers write their gradients (beta 0), oneDNN 2.6.3's f32 matmul
 * (brg:avx512_core) runs the MLP step's products 7% faster than OpenBLAS's
 * Cooperlake kernel, the whole step 10% and a training run 14% (CPU time);
 * the CNN's step is the same with either. So on CPUs with AVX512_BF16 (the
 * AVX-512 CPUs oneDNN's brgemm kernels were measured on) oneDNN runs fp32;
 * elsewhere OpenBLAS, which was not measured slower there. */
#define ONEDNN_F32_FASTER_ON_BF16_CPUS 1

hp_gemm_backend_t hp_gemm_choose(const char *hpsearch_gemm, bool user_coretype, bool cpu_bf16,
                                 bool dnnl_loadable, const char **why) {
  if (hpsearch_gemm != NULL && strcmp(hpsearch_gemm, "openblas") == 0) {
    *why = "HPSEARCH_GEMM=openblas";
    return HP_GEMM_OPENBLAS;
  }
  if (hpsearch_gemm != NULL && strcmp(hpsearch_gemm, "onednn") == 0) {
    if (dnnl_loadable) {
      *why = "HPSEARCH_GEMM=onednn";
      return HP_GEMM_ONEDNN;
    }
    *why = "HPSEARCH_GEMM=onednn, but oneDNN cannot be loaded";
    return HP_GEMM_OPENBLAS;
  }
  if (user_coretype) {
    *why = "OPENBLAS_CORETYPE set by the user";
    return HP_GEMM_OPENBLAS;
  }
  if (cpu_bf16 && dnnl_loadable && ONEDNN_F32_FASTER_ON_BF16_CPUS) {
    *why = "oneDNN measured faster on AVX-512 CPUs with BF16";
    return HP_GEMM_ONEDNN;
  }
  *why = cpu_bf16 ? "OpenBLAS (oneDNN cannot be loaded)"
                   : "OpenBLAS (oneDNN's fp32 was measured faster only on AVX-512 CPUs with BF16; "
                     "HPSEARCH_GEMM=onednn picks it)";
  return HP_GEMM_OPENBLAS;
}

static hp_gemm_backend_t backend = HP_GEMM_OPENBLAS;
static const char *backend_why = "default";
static pthread_once_t backend_once = PTHREAD_ONCE_INIT;

static void backend_decide(void) {
  const char *g = getenv("HPSEARCH_GEMM");
  bool user_core = getenv("OPENBLAS_CORETYPE") != NULL && getenv(HP_BLAS_MARKER) == NULL;
  bool bf16 = hp_cpu_has_bf16();
  /* only load oneDNN when the policy could pick it */
  bool want = (g != NULL && strcmp(g, "onednn") == 0) ||
              (g == NULL && !user_core && bf16 && ONEDNN_F32_FASTER_ON_BF16_CPUS);
  bool loadable = want && hp_dnnl_check(false, NULL) == 0;
  backend = hp_gemm_choose(g, user_core, bf16, loadable, &backend_why);
}

hp_gemm_backend_t hp_gemm_backend(const char **why) {
  pthread_once(&backend_once, backend_decide);
  if (why != NULL) *why = backend_why;
  return backend;
}

static _Thread_local bool bf16_mode;

void hp_blas_set_bf16(bool on) { bf16_mode = on; }
bool hp_blas_bf16(void) { return bf16_mode; }

void hp_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
              int lda, const float *B, int ldb, float beta, float *C, int ldc) {
  if (bf16_mode &&
      hp_sgemm_as_bf16(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc))
    return;
  if (hp_gemm_backend(NULL) == HP_GEMM_ONEDNN &&
      hp_dnnl_sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc))
    return;
  hp_openblas_sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void hp_openblas_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                       const float *A, int lda, const float *B, int ldb, float beta, float *C,
                       int ldc) {
  blas_ready();
  if (blas.sgemm != NULL)
    blas.sgemm(CblasRowMajor, tr(trans_a), tr(trans_b), M, N, K, alpha, A, lda, B, ldb, beta, C,
               ldc);
  else /* no OpenBLAS: slow but correct (hp_blas_corename says so) */
    hp_sgemm_naive(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void hp_sgemm_naive(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                    const float *A, int lda, const float *B, int ldb, float beta, float *C,
                    int ldc) {
  for (int i = 0; i < M; i++) {
    for (int j = 0; j < N; j++) {
      double acc = 0;
      for (int k = 0; k < K; k++) {
        float a = trans_a ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
        float b = trans_b ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
        acc += (double)a * b;
      }
      float *c = &C[(size_t)i * ldc + j];
      /* BLAS semantics: beta == 0 must not read C (it may be NaN). */
      *c = beta == 0.0f ? (float)(alpha * acc) : (float)(alpha * acc + (double)beta * *c);
    }
  }
}

hp_cpu_features_t hp_blas_cpu_features(void) {
  hp_cpu_features_t f = {false, false};
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  bool fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
  if (!osxsave || !avx) return f;
  /* The OS must save the YMM (bits 1-2) and, for AVX-512, the opmask and
   * ZMM state (bits 5-7) or the instructions fault. */
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  bool ymm_ok = (lo & 0x6) == 0x6, zmm_ok = (lo & 0xe6) == 0xe6;
  if (!ymm_ok || !__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
  bool avx2 = (b >> 5) & 1, avx512f = (b >> 16) & 1;
  f.avx2_fma = avx2 && fma;
  f.avx512f = f.avx2_fma && avx512f && zmm_ok;
  return f;
}

/* Kernel classes by the widest instructions a core name's kernels use:
 * 2 = AVX-512, 1 = AVX2+FMA, 0 = anything older (Prescott, Nehalem,
 * Sandybridge, generic, unknown names). */
static int core_class(const char *name) {
  static const char *const avx512[] = {"SkylakeX", "Cooperlake", "SapphireRapids", NULL};
  static const char *const avx2[] = {"Haswell", "Zen", "Excavator", NULL};
  if (name == NULL) return 0;
  for (int i = 0; avx512[i]; i++)
    if (strcasecmp(name, avx512[i]) == 0) return 2;
  for (int i = 0; avx2[i]; i++)
    if (strcasecmp(name, avx2[i]) == 0) return 1;
  return 0;
}

const char *hp_blas_choose_coretype(const char *corename, hp_cpu_features_t cpu) {
  int have = core_class(corename);
  if (cpu.avx512f && have < 2) return "SkylakeX";
  if (cpu.avx2_fma && have < 1) return "Haswell";
  return NULL;
}

void hp_blas_set_ftz(void) { _mm_setcsr(_mm_getcsr() | 0x8040); /* FTZ | DAZ */ }

void hp_blas_set_threads(int n) {
  if (hp_gemm_backend(NULL) == HP_GEMM_ONEDNN) hp_dnnl_set_threads(n);
  blas_ready();
  if (blas.set_threads != NULL) blas.set_threads(n < 1 ? 1 : n);
}

int hp_blas_threads(void) {
  blas_ready();
  return blas.get_threads != NULL ? blas.get_threads() : 0;
}

const char *hp_blas_corename(void) {
  blas_ready();
  if (blas.sgemm == NULL) return "naive (OpenBLAS not loaded)";
  const char *n = blas.corename != NULL ? blas.corename() : NULL;
  return n != NULL ? n : "unknown";
}

static char origin[96] = "library default";

const char *hp_blas_kernel_origin(void) {
  blas_ready();
  return blas.error[0] != '\0' ? blas.error : origin;
}

void hp_blas_ensure_fast_kernel(char **argv) {
  const char *user_threads = getenv("OPENBLAS_NUM_THREADS");
  const char *marker = getenv(HP_BLAS_MARKER);
  const char *coretype = getenv("OPENBLAS_CORETYPE");
  hp_blas_set_ftz();
  /* Before the library loads, so it starts no thread pool it would not use;
   * children (workers, user commands) inherit the one-thread default. */
  if (user_threads == NULL) setenv("OPENBLAS_NUM_THREADS", "1", 0);

  if (marker != NULL) {
    snprintf(origin, sizeof origin, "set by hpsearch (library picked %.40s)", marker);
  } else if (coretype != NULL && coretype[0] != '\0') {
    snprintf(origin, sizeof origin, "OPENBLAS_CORETYPE set by the user");
  } else {
    const char *lib = hp_blas_corename();
    /* Test hook: pretend the library picked this core, so the re-exec path
     * can be exercised on CPUs OpenBLAS already recognises. */
    const char *pretend = getenv("HPSEARCH_BLAS_PRETEND_CORE");
    if (pretend != NULL && pretend[0] != '\0') lib = pretend;
    const char *want = hp_blas_choose_coretype(lib, hp_blas_cpu_features());
    if (want != NULL && argv != NULL && argv[0] != NULL) {
      setenv("OPENBLAS_CORETYPE", want, 1);
      setenv(HP_BLAS_MARKER, lib, 1);
      execv("/proc/self/exe", argv);
      /* exec failed (no /proc?): keep going with the slow but correct kernel. */
      unsetenv("OPENBLAS_CORETYPE");
      unsetenv(HP_BLAS_MARKER);
      snprintf(origin, sizeof origin, "library default (re-exec for %s failed)", want);
    }
  }
  if (user_threads == NULL) hp_blas_set_threads(1);
}

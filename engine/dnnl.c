/* Matrix products through oneDNN's matmul primitive: bf16 operands with fp32
 * accumulation and output (the engine's "precision": "bf16"), and fp32
 * products where oneDNN beats OpenBLAS (hp_sgemm's backend choice, see
 * hp_gemm_backend below). Also the bf16 conversions and a naive reference.
 *
 * Like OpenBLAS (engine/blas.c), oneDNN is opened with dlopen() on first use
 * by a command that trains, never linked: the client commands do not pay for
 * loading it, and a machine without libdnnl2 still runs everything in fp32.
 * oneDNN (Debian's build) runs its threads through OpenMP: unless
 * OMP_NUM_THREADS is set, hpsearch sets it to 1 before loading (one thread
 * per worker, as OpenBLAS). */
#include <cpuid.h>
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

#include "hpsearch/blas.h"
#include "hpsearch/hot.h"

/* The oneDNN entry points used, resolved once. */
static struct {
  dnnl_status_t (*engine_create)(dnnl_engine_t *, dnnl_engine_kind_t, size_t);
  dnnl_status_t (*stream_create)(dnnl_stream_t *, dnnl_engine_t, unsigned);
  dnnl_status_t (*md_init_by_strides)(dnnl_memory_desc_t *, int, const dnnl_dims_t,
                                      dnnl_data_type_t, const dnnl_dims_t);
  dnnl_status_t (*matmul_desc_init)(dnnl_matmul_desc_t *, const dnnl_memory_desc_t *,
                                    const dnnl_memory_desc_t *, const dnnl_memory_desc_t *,
                                    const dnnl_memory_desc_t *);
  dnnl_status_t (*attr_create)(dnnl_primitive_attr_t *);
  dnnl_status_t (*attr_destroy)(dnnl_primitive_attr_t);
  dnnl_status_t (*attr_set_output_scales)(dnnl_primitive_attr_t, dnnl_dim_t, int,
                                          const float *);
  dnnl_status_t (*attr_set_post_ops)(dnnl_primitive_attr_t, const_dnnl_post_ops_t);
  dnnl_status_t (*post_ops_create)(dnnl_post_ops_t *);
  dnnl_status_t (*post_ops_destroy)(dnnl_post_ops_t);
  dnnl_status_t (*post_ops_append_sum)(dnnl_post_ops_t, float);
  dnnl_status_t (*pd_create)(dnnl_primitive_desc_t *, const_dnnl_op_desc_t,
                             const_dnnl_primitive_attr_t, dnnl_engine_t,
                             const_dnnl_primitive_desc_t);
  dnnl_status_t (*pd_destroy)(dnnl_primitive_desc_t);
  dnnl_status_t (*pd_query)(const_dnnl_primitive_desc_t, dnnl_query_t, int, void *);
  dnnl_status_t (*primitive_create)(dnnl_primitive_t *, const_dnnl_primitive_desc_t);
  dnnl_status_t (*primitive_destroy)(dnnl_primitive_t);
  dnnl_status_t (*memory_destroy)(dnnl_memory_t);
  dnnl_status_t (*primitive_execute)(const_dnnl_primitive_t, dnnl_stream_t, int,
                                     const dnnl_exec_arg_t *);
  dnnl_status_t (*memory_create)(dnnl_memory_t *, const dnnl_memory_desc_t *, dnnl_engine_t,
                                 void *);
  dnnl_status_t (*memory_set_data_handle)(dnnl_memory_t, void *);
  dnnl_cpu_isa_t (*effective_isa)(void);
  const dnnl_version_t *(*version)(void);
  void (*omp_set_num_threads)(int);
  dnnl_engine_t engine;
  dnnl_stream_t stream;
  char error[200]; /* why oneDNN cannot be used, "" if it can */
} dn;
static pthread_once_t dn_once = PTHREAD_ONCE_INIT;

#define SYM(field, name)                                                    \
  do {                                                                      \
    *(void **)&dn.field = dlsym(h, name);                                   \
    if (dn.field == NULL) {                                                 \
      snprintf(dn.error, sizeof dn.error, "oneDNN has no %s", name);        \
      return;                                                               \
    }                                                                       \
  } while (0)

static void dn_load(void) {
  /* Before the library (and its OpenMP runtime) starts: one thread per
   * worker unless the user says otherwise. */
  setenv("OMP_NUM_THREADS", "1", 0);
  static const char *const candidates[] = {"libdnnl.so.2", "libdnnl.so"};
  void *h = NULL;
  for (size_t i = 0; i < sizeof candidates / sizeof candidates[0] && h == NULL; i++)
    h = dlopen(candidates[i], RTLD_NOW | RTLD_LOCAL);
  if (h == NULL) {
    snprintf(dn.error, sizeof dn.error,
             "oneDNN is not installed (cannot load libdnnl.so.2: install libdnnl2, e.g. by "
             "scripts/install-deps)");
    return;
  }
  SYM(engine_create, "dnnl_engine_create");
  SYM(stream_create, "dnnl_stream_create");
  SYM(md_init_by_strides, "dnnl_memory_desc_init_by_strides");
  SYM(matmul_desc_init, "dnnl_matmul_desc_init");
  SYM(attr_create, "dnnl_primitive_attr_create");
  SYM(attr_destroy, "dnnl_primitive_attr_destroy");
  SYM(attr_set_output_scales, "dnnl_primitive_attr_set_output_scales");
  SYM(attr_set_post_ops, "dnnl_primitive_attr_set_post_ops");
  SYM(post_ops_create, "dnnl_post_ops_create");
  SYM(post_ops_destroy, "dnnl_post_ops_destroy");
  SYM(post_ops_append_sum, "dnnl_post_ops_append_sum");
  SYM(pd_create, "dnnl_primitive_desc_create");
  SYM(pd_destroy, "dnnl_primitive_desc_destroy");
  SYM(pd_query, "dnnl_primitive_desc_query");
  SYM(primitive_create, "dnnl_primitive_create");
  SYM(primitive_execute, "dnnl_primitive_execute");
  SYM(primitive_destroy, "dnnl_primitive_destroy");
  SYM(memory_destroy, "dnnl_memory_destroy");
  SYM(memory_create, "dnnl_memory_create");
  SYM(memory_set_data_handle, "dnnl_memory_set_data_handle");
  SYM(effective_isa, "dnnl_get_effective_cpu_isa");
  SYM(version, "dnnl_version");
  /* libgomp came with oneDNN: dlsym on the handle searches its
   * dependencies too */
  *(void **)&dn.omp_set_num_threads = dlsym(h, "omp_set_num_threads");
  /* the main thread's primitives are freed at exit (leak checkers) */
  atexit(hp_dnnl_release);
  if (dn.engine_create(&dn.engine, dnnl_cpu, 0) != dnnl_success ||
      dn.stream_create(&dn.stream, dn.engine, dnnl_stream_default_flags) != dnnl_success)
    snprintf(dn.error, sizeof dn.error, "oneDNN: cannot create a CPU engine");
}

static bool dn_ready(void) {
  pthread_once(&dn_once, dn_load);
  return dn.error[0] == '\0';
}

bool hp_cpu_has_bf16(void) {
  /* Test hook: pretend the CPU lacks BF16, to exercise the error. */
  const char *p = getenv("HPSEARCH_PRETEND_NO_BF16");
  if (p != NULL && p[0] != '\0') return false;
  unsigned a, b, c, d;
  if (!hp_blas_cpu_features().avx512f) return false;
  /* AVX512_BF16: leaf 7 subleaf 1, EAX bit 5; AMX-BF16: leaf 7, EDX bit 22 */
  if (__get_cpuid_count(7, 1, &a, &b, &c, &d) && ((a >> 5) & 1)) return true;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d) && ((d >> 22) & 1)) return true;
  return false;
}

int hp_dnnl_check(bool bf16, hp_err_t *err) {
  if (!dn_ready()) return hp_err_set(err, HP_ESTATE, "%s", dn.error);
  if (bf16 && !hp_cpu_has_bf16())
    return hp_err_set(err, HP_ESTATE,
                      "precision: \"bf16\" needs a CPU with BF16 instructions (AVX512_BF16 or "
                      "AMX-BF16), and this one has none (oneDNN would emulate them, slower than "
                      "fp32): use \"precision\": \"fp32\"");
  return 0;
}

const char *hp_dnnl_version(void) {
  static char v[48];
  if (!dn_ready()) return "not loaded";
  const dnnl_version_t *ver = dn.version();
  snprintf(v, sizeof v, "%d.%d.%d", ver->major, ver->minor, ver->patch);
  return v;
}

void hp_dnnl_set_threads(int n) {
  if (dn_ready() && dn.omp_set_num_threads != NULL) dn.omp_set_num_threads(n < 1 ? 1 : n);
}

/* ---- bf16 conversions ------------------------------------------------------ */

/* Round to nearest even; NaN stays NaN (quiet), Inf stays Inf. */
static inline hp_bf16_t to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (hp_bf16_t)((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (hp_bf16_t)(u >> 16);
}

HP_HOT static void from_f32_loop(const float *x, hp_bf16_t *y, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = to_bf16(x[i]);
}

HP_HOT static void affine_loop(const float *x, const float *a, const float *b, hp_bf16_t *y,
                               size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = to_bf16(x[i] * a[i] + b[i]);
}

static bool cpu_bf16_raw(void) {
  unsigned a, b, c, d;
  return hp_blas_cpu_features().avx512f && __get_cpuid_count(7, 1, &a, &b, &c, &d) &&
         ((a >> 5) & 1);
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
/* AVX512_BF16's vcvtne2ps2bf16: 32 roundings (to nearest even) per
 * instruction. It treats denormal inputs as zero, as the engine's DAZ
 * does anyway. */
__attribute__((target("avx512f,avx512bf16"))) static void from_f32_native(const float *x,
                                                                         hp_bf16_t *y,
                                                                         size_t n) {
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m512bh r = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(x + i));
    _mm512_storeu_si512((void *)(y + i), (__m512i)r);
  }
  if (i < n) from_f32_loop(x + i, y + i, n - i);
}

/* y = bf16(x * a + b): a multiply, then an add (no FMA: the same float as
 * the plain loop and as hp_data_gather's fp32 scaling), then the rounding. */
__attribute__((target("avx512f,avx512bf16"))) static void affine_native(
    const float *x, const float *a, const float *b, hp_bf16_t *y, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 v = _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(a + i)),
                             _mm512_loadu_ps(b + i));
    _mm256_storeu_si256((void *)(y + i), (__m256i)_mm512_cvtneps_pbh(v));
  }
  if (i < n) affine_loop(x + i, a + i, b + i, y + i, n - i);
}
#endif

static void (*from_f32)(const float *, hp_bf16_t *, size_t);
static void (*affine)(const float *, const float *, const float *, hp_bf16_t *, size_t);
static pthread_once_t from_once = PTHREAD_ONCE_INIT;

static void from_f32_pick(void) {
  from_f32 = from_f32_loop;
  affine = affine_loop;
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
  if (cpu_bf16_raw() && getenv("HPSEARCH_BF16_LOOP") == NULL)
    from_f32 = from_f32_native, affine = affine_native;
#endif
}

void hp_bf16_from_f32(const float *x, hp_bf16_t *y, size_t n) {
  pthread_once(&from_once, from_f32_pick);
  from_f32(x, y, n);
}

void hp_bf16_from_f32_affine(const float *x, const float *a, const float *b, hp_bf16_t *y,
                             size_t n) {
  pthread_once(&from_once, from_f32_pick);
  affine(x, a, b, y, n);
}

float hp_bf16_to_f32(hp_bf16_t v) {
  uint32_t u = (uint32_t)v << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* Packs op-layout rows of A (rows x cols of a matrix with leading dimension
 * ld) into contiguous bf16. */
static void pack_bf16(const float *A, int rows, int cols, int ld, hp_bf16_t *out) {
  if (ld == cols) {
    hp_bf16_from_f32(A, out, (size_t)rows * cols);
    return;
  }
  for (int r = 0; r < rows; r++)
    hp_bf16_from_f32(A + (size_t)r * ld, out + (size_t)r * cols, (size_t)cols);
}

/* ---- the primitive cache --------------------------------------------------- */

typedef struct mm_key {
  bool ta, tb;
  char zero_[2]; /* no implicit padding anywhere: keys are compared with memcmp */
  int M, N, K, lda, ldb, ldc;
  float alpha, beta;
  dnnl_data_type_t dt; /* of A and B (C is f32) */
  int64_t batch;       /* > 1: that many products, operands `stride` elements apart */
  int64_t sa, sb, sc;
} mm_key_t;

typedef struct mm_entry {
  mm_key_t key;
  dnnl_primitive_t prim;
  dnnl_memory_t a, b, c;
  char impl[64]; /* implementation name ("brg:avx512_core_bf16", ...) */
} mm_entry_t;

/* The engine uses a handful of shapes per network (three per dense layer,
 * times the last smaller batch and the evaluation batch); conv chunks add a
 * few. Replaced round robin when full. */
#define MM_CACHE 96
static _Thread_local mm_entry_t cache[MM_CACHE];
static _Thread_local int cache_n, cache_next;

/* Keys are compared with memcmp: built over zeroed memory, every byte a
 * member (so copies keep them). */
_Static_assert(sizeof(mm_key_t) == 2 * sizeof(bool) + 2 + 9 * 4 + 4 * 8,
               "mm_key_t has padding");

static mm_key_t mm_key(bool ta, bool tb, int M, int N, int K, int lda, int ldb, int ldc,
                       float alpha, float beta, dnnl_data_type_t dt) {
  mm_key_t k;
  memset(&k, 0, sizeof k);
  k.ta = ta, k.tb = tb, k.M = M, k.N = N, k.K = K, k.lda = lda, k.ldb = ldb, k.ldc = ldc;
  k.alpha = alpha, k.beta = beta, k.dt = dt, k.batch = 1;
  return k;
}

static void mm_drop(mm_entry_t *e) {
  if (e->prim) dn.primitive_destroy(e->prim);
  if (e->a) dn.memory_destroy(e->a);
  if (e->b) dn.memory_destroy(e->b);
  if (e->c) dn.memory_destroy(e->c);
  memset(e, 0, sizeof *e);
}

void hp_dnnl_release(void) {
  for (int i = 0; i < cache_n; i++) mm_drop(&cache[i]);
  cache_n = cache_next = 0;
}

static mm_entry_t *mm_get(const mm_key_t *k) {
  for (int i = 0; i < cache_n; i++)
    if (memcmp(&cache[i].key, k, sizeof *k) == 0) return &cache[i];
  mm_entry_t e;
  memset(&e, 0, sizeof e);
  e.key = *k;
  /* row-major with the transposes as strides: op(A)[M,K], op(B)[K,N];
   * batched: a leading dimension of `batch` with the operands' strides */
  const int nd = k->batch > 1 ? 3 : 2, o = nd - 2;
  dnnl_dims_t ad = {0}, as = {0}, bd = {0}, bs = {0}, cd = {0}, cs = {0};
  ad[0] = bd[0] = cd[0] = k->batch, as[0] = k->sa, bs[0] = k->sb, cs[0] = k->sc;
  ad[o] = k->M, ad[o + 1] = k->K, as[o] = k->ta ? 1 : k->lda, as[o + 1] = k->ta ? k->lda : 1;
  bd[o] = k->K, bd[o + 1] = k->N, bs[o] = k->tb ? 1 : k->ldb, bs[o + 1] = k->tb ? k->ldb : 1;
  cd[o] = k->M, cd[o + 1] = k->N, cs[o] = k->ldc, cs[o + 1] = 1;
  dnnl_memory_desc_t amd, bmd, cmd;
  dnnl_matmul_desc_t md;
  dnnl_primitive_attr_t attr = NULL;
  dnnl_post_ops_t po = NULL;
  dnnl_primitive_desc_t pd = NULL;
  bool ok = dn.md_init_by_strides(&amd, nd, ad, k->dt, as) == dnnl_success &&
            dn.md_init_by_strides(&bmd, nd, bd, k->dt, bs) == dnnl_success &&
            dn.md_init_by_strides(&cmd, nd, cd, dnnl_f32, cs) == dnnl_success &&
            dn.matmul_desc_init(&md, &amd, &bmd, NULL, &cmd) == dnnl_success &&
            dn.attr_create(&attr) == dnnl_success;
  if (ok && k->alpha != 1.0f) ok = dn.attr_set_output_scales(attr, 1, 0, &k->alpha) == dnnl_success;
  if (ok && k->beta != 0.0f) {
    ok = dn.post_ops_create(&po) == dnnl_success &&
         dn.post_ops_append_sum(po, k->beta) == dnnl_success &&
         dn.attr_set_post_ops(attr, po) == dnnl_success;
  }
  ok = ok && dn.pd_create(&pd, &md, attr, dn.engine, NULL) == dnnl_success;
  if (ok) {
    const char *impl = NULL;
    if (dn.pd_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl)
      snprintf(e.impl, sizeof e.impl, "%s", impl);
  }
  ok = ok && dn.primitive_create(&e.prim, pd) == dnnl_success &&
       dn.memory_create(&e.a, &amd, dn.engine, DNNL_MEMORY_NONE) == dnnl_success &&
       dn.memory_create(&e.b, &bmd, dn.engine, DNNL_MEMORY_NONE) == dnnl_success &&
       dn.memory_create(&e.c, &cmd, dn.engine, DNNL_MEMORY_NONE) == dnnl_success;
  if (pd) dn.pd_destroy(pd);
  if (po) dn.post_ops_destroy(po);
  if (attr) dn.attr_destroy(attr);
  if (!ok) {
    mm_drop(&e);
    return NULL;
  }
  int slot = cache_n < MM_CACHE ? cache_n++ : (cache_next++ % MM_CACHE);
  if (slot < cache_n && cache[slot].prim != NULL) mm_drop(&cache[slot]);
  cache[slot] = e;
  return &cache[slot];
}

static bool mm_run(const mm_key_t *k, const void *A, const void *B, float *C) {
  if (!dn_ready()) return false;
  mm_entry_t *e = mm_get(k);
  if (e == NULL) return false;
  dn.memory_set_data_handle(e->a, (void *)A);
  dn.memory_set_data_handle(e->b, (void *)B);
  dn.memory_set_data_handle(e->c, C);
  dnnl_exec_arg_t args[3] = {
      {DNNL_ARG_SRC, e->a}, {DNNL_ARG_WEIGHTS, e->b}, {DNNL_ARG_DST, e->c}};
  return dn.primitive_execute(e->prim, dn.stream, 3, args) == dnnl_success;
}

const char *hp_dnnl_impl(bool bf16, bool ta, bool tb, int M, int N, int K) {
  mm_key_t k = mm_key(ta, tb, M, N, K, ta ? M : K, tb ? K : N, N, 1.0f, 0.0f,
                      bf16 ? dnnl_bf16 : dnnl_f32);
  if (!dn_ready()) return dn.error;
  mm_entry_t *e = mm_get(&k);
  return e ? e->impl : "no primitive";
}

/* ---- products --------------------------------------------------------------- */

void hp_gemm_bf16_naive(bool ta, bool tb, int M, int N, int K, float alpha, const hp_bf16_t *A,
                        int lda, const hp_bf16_t *B, int ldb, float beta, float *C, int ldc) {
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      double acc = 0;
      for (int k = 0; k < K; k++) {
        float a = hp_bf16_to_f32(ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k]);
        float b = hp_bf16_to_f32(tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j]);
        acc += (double)a * b; /* exact: bf16 x bf16 fits a double */
      }
      float *c = &C[(size_t)i * ldc + j];
      *c = beta == 0.0f ? (float)(alpha * acc) : (float)(alpha * acc + (double)beta * *c);
    }
}

void hp_gemm_bf16(bool ta, bool tb, int M, int N, int K, float alpha, const hp_bf16_t *A,
                  int lda, const hp_bf16_t *B, int ldb, float beta, float *C, int ldc) {
  mm_key_t k = mm_key(ta, tb, M, N, K, lda, ldb, ldc, alpha, beta, dnnl_bf16);
  if (!mm_run(&k, A, B, C)) /* oneDNN refused the shape: slow but right */
    hp_gemm_bf16_naive(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void hp_gemm_bf16_batch(int batch, bool ta, bool tb, int M, int N, int K, float alpha,
                        const hp_bf16_t *A, int lda, size_t stride_a, const hp_bf16_t *B,
                        int ldb, size_t stride_b, float beta, float *C, int ldc,
                        size_t stride_c) {
  mm_key_t k = mm_key(ta, tb, M, N, K, lda, ldb, ldc, alpha, beta, dnnl_bf16);
  k.batch = batch, k.sa = (int64_t)stride_a, k.sb = (int64_t)stride_b, k.sc = (int64_t)stride_c;
  if (batch == 1 || !mm_run(&k, A, B, C))
    for (int i = 0; i < batch; i++)
      hp_gemm_bf16(ta, tb, M, N, K, alpha, A + i * stride_a, lda, B + i * stride_b, ldb, beta,
                   C + i * stride_c, ldc);
}

bool hp_dnnl_sgemm(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, float beta, float *C, int ldc) {
  mm_key_t k = mm_key(ta, tb, M, N, K, lda, ldb, ldc, alpha, beta, dnnl_f32);
  return mm_run(&k, A, B, C);
}

/* Per-call conversion for products the layers hand to hp_sgemm while the
 * calling thread is in bf16 mode (conv paths): op(A) and op(B) are packed
 * contiguous in the layout they came in. */
static _Thread_local hp_bf16_t *scratch;
static _Thread_local size_t scratch_cap;

bool hp_sgemm_as_bf16(bool ta, bool tb, int M, int N, int K, float alpha, const float *A,
                      int lda, const float *B, int ldb, float beta, float *C, int ldc) {
  size_t na = (size_t)M * K, nb = (size_t)K * N;
  if (na + nb > scratch_cap) {
    hp_bf16_t *p = realloc(scratch, (na + nb) * sizeof *p);
    if (p == NULL) return false;
    scratch = p, scratch_cap = na + nb;
  }
  hp_bf16_t *a = scratch, *b = scratch + na;
  /* stored shapes: A is [M,K] or (ta) [K,M]; B is [K,N] or (tb) [N,K] */
  pack_bf16(A, ta ? K : M, ta ? M : K, lda, a);
  pack_bf16(B, tb ? N : K, tb ? K : N, ldb, b);
  hp_gemm_bf16(ta, tb, M, N, K, alpha, a, ta ? M : K, b, tb ? K : N, beta, C, ldc);
  return true;
}

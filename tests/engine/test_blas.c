/* Tests of engine/blas.c: the OpenBLAS kernel hpsearch picks computes the
 * same products as the naive reference on many shapes and transposes, and
 * the kernel-choice policy (re-exec, user setting wins, no loop) behaves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hpsearch/blas.h"
#include "hpsearch/rng.h"

static void fill(hp_rng_t *r, float *x, size_t n) {
  for (size_t i = 0; i < n; i++) x[i] = (float)(2 * hp_rng_uniform(r) - 1);
}

/* Compares hp_sgemm with hp_sgemm_naive for one case. Inputs lie in [-1,1],
 * so each dot product's float rounding error is below ~K * eps. */
static void check_case(hp_rng_t *r, bool ta, bool tb, int M, int N, int K, float alpha,
                       float beta, int pad) {
  int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
  size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb,
         nc = (size_t)M * ldc;
  float *A = malloc(na * sizeof *A), *B = malloc(nb * sizeof *B);
  float *C1 = malloc(nc * sizeof *C1), *C2 = malloc(nc * sizeof *C2);
  assert_non_null(A), assert_non_null(B), assert_non_null(C1), assert_non_null(C2);
  fill(r, A, na), fill(r, B, nb), fill(r, C1, nc);
  if (beta == 0.0f)
    for (size_t i = 0; i < nc; i++) C1[i] = NAN; /* must not be read */
  memcpy(C2, C1, nc * sizeof *C1);
  hp_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C1, ldc);
  hp_sgemm_naive(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C2, ldc);
  double tol = 4.0 * FLT_EPSILON * (K + 2) * (fabs(alpha) + fabs(beta) + 1);
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      double d = fabs((double)C1[(size_t)i * ldc + j] - C2[(size_t)i * ldc + j]);
      if (!(d <= tol)) {
        fprintf(stderr, "ta=%d tb=%d M=%d N=%d K=%d at (%d,%d): %g vs %g\n", ta, tb, M, N, K,
                i, j, C1[(size_t)i * ldc + j], C2[(size_t)i * ldc + j]);
        fail();
      }
    }
  free(A), free(B), free(C1), free(C2);
}

static void test_sgemm_matches_naive(void **state) {
  (void)state;
  hp_rng_t r;
  hp_rng_seed(&r, 7);
  static const int dims[] = {1, 2, 3, 7, 16, 17, 33, 64, 100};
  const int nd = sizeof dims / sizeof dims[0];
  for (int t = 0; t < 4; t++)
    for (int a = 0; a < nd; a++)
      for (int b = 0; b < nd; b += 2)
        for (int c = 0; c < nd; c += 3) {
          bool ta = t & 1, tb = t >> 1;
          float beta = (a + b + c) % 3 == 0 ? 0.0f : (a % 2 ? 1.0f : -0.5f);
          check_case(&r, ta, tb, dims[a], dims[b], dims[c], (c % 2) ? 1.0f : 0.75f, beta,
                     (a + c) % 2 ? 3 : 0);
        }
}

/* The engine's real shapes (MLP 784-512-256-10 at batch 128, conv im2col),
 * with the kernel hp_blas_ensure_fast_kernel picked for this process. */
static void test_sgemm_engine_shapes(void **state) {
  (void)state;
  hp_rng_t r;
  hp_rng_seed(&r, 8);
  check_case(&r, false, true, 128, 512, 784, 1, 0, 0);  /* forward x W^T */
  check_case(&r, true, false, 512, 784, 128, 1, 1, 0);  /* dW += dy^T x */
  check_case(&r, false, false, 128, 784, 512, 1, 0, 0); /* dx = dy W */
  check_case(&r, false, false, 32, 784, 9, 1, 0, 0);    /* conv W @ cols */
  check_case(&r, false, true, 64, 288, 196, 1, 1, 0);   /* conv dW += dy cols^T */
}

static void test_fast_kernel_in_use(void **state) {
  (void)state;
  const char *user = getenv("OPENBLAS_CORETYPE");
  const char *origin = hp_blas_kernel_origin();
  fprintf(stderr, "# OpenBLAS core: %s (%s)\n", hp_blas_corename(), origin);
  if (user != NULL && strstr(origin, "user") != NULL) return; /* the user's choice wins */
  /* Whatever this CPU is, nothing better is left to choose. */
  assert_null(hp_blas_choose_coretype(hp_blas_corename(), hp_blas_cpu_features()));
}

/* OpenBLAS is opened on first use, not linked: the client subcommands of
 * the hpsearch binary must not pay for loading it, yet the engine must get
 * the real library (not the naive fallback). */
static void test_openblas_loaded_lazily(void **state) {
  (void)state;
  assert_null(strstr(hp_blas_corename(), "naive"));
  const char *bin = getenv("HPSEARCH_BIN");
  if (bin == NULL) return;
  char cmd[1200], line[512];
  snprintf(cmd, sizeof cmd, "LD_TRACE_LOADED_OBJECTS=1 '%s' 2>&1", bin);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  int libs = 0, blas = 0;
  while (fgets(line, sizeof line, p) != NULL) {
    libs++;
    if (strstr(line, "openblas") != NULL) blas++;
  }
  pclose(p);
  assert_true(libs > 3); /* the listing worked: libuv, sqlite, libc, ... */
  assert_int_equal(blas, 0);
}

static void test_choice_policy(void **state) {
  (void)state;
  hp_cpu_features_t none = {false, false}, avx2 = {true, false}, avx512 = {true, true};
  assert_string_equal(hp_blas_choose_coretype("Prescott", avx512), "SkylakeX");
  assert_string_equal(hp_blas_choose_coretype("Prescott", avx2), "Haswell");
  assert_null(hp_blas_choose_coretype("Prescott", none));
  assert_string_equal(hp_blas_choose_coretype("Sandybridge", avx2), "Haswell");
  assert_string_equal(hp_blas_choose_coretype("Haswell", avx512), "SkylakeX");
  assert_string_equal(hp_blas_choose_coretype("generic", avx512), "SkylakeX");
  assert_string_equal(hp_blas_choose_coretype(NULL, avx2), "Haswell");
  assert_null(hp_blas_choose_coretype("Cooperlake", avx512));
  assert_null(hp_blas_choose_coretype("skylakex", avx512));
  assert_null(hp_blas_choose_coretype("Zen", avx2));
  assert_null(hp_blas_choose_coretype("Haswell", avx2));
}

/* Runs this test binary again in "--print-core" mode with extra environment
 * settings; returns its one output line "CORE|ORIGIN". */
static void run_self(const char *const *env, char *out, size_t cap) {
  int fd[2];
  assert_int_equal(pipe(fd), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    dup2(fd[1], 1);
    close(fd[0]), close(fd[1]);
    unsetenv("OPENBLAS_CORETYPE");
    unsetenv("HPSEARCH_BLAS_REEXEC");
    unsetenv("HPSEARCH_BLAS_PRETEND_CORE");
    for (int i = 0; env[i]; i += 2) setenv(env[i], env[i + 1], 1);
    char *argv[] = {"test_blas", "--print-core", NULL};
    execv("/proc/self/exe", argv);
    _exit(127);
  }
  close(fd[1]);
  size_t len = 0;
  ssize_t n;
  while (len + 1 < cap && (n = read(fd[0], out + len, cap - 1 - len)) > 0) len += (size_t)n;
  out[len] = '\0';
  close(fd[0]);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_reexec_and_user_wins(void **state) {
  (void)state;
  char out[256];
  /* A user setting is kept even when it is the slow kernel. */
  const char *user[] = {"OPENBLAS_CORETYPE", "Prescott", NULL};
  run_self(user, out, sizeof out);
  assert_non_null(strstr(out, "Prescott|OPENBLAS_CORETYPE set by the user"));
  hp_cpu_features_t cpu = hp_blas_cpu_features();
  if (!cpu.avx2_fma) return; /* nothing faster to switch to on this CPU */
  /* Library "picked" Prescott: hpsearch re-executes with a faster core. */
  const char *pretend[] = {"HPSEARCH_BLAS_PRETEND_CORE", "Prescott", NULL};
  run_self(pretend, out, sizeof out);
  const char *want = cpu.avx512f ? "SkylakeX|" : "Haswell|";
  assert_non_null(strstr(out, want));
  assert_non_null(strstr(out, "set by hpsearch (library picked Prescott)"));
  /* The marker stops a second re-exec (no loop even if the kernel is bad). */
  const char *loop[] = {"HPSEARCH_BLAS_PRETEND_CORE", "Prescott", "HPSEARCH_BLAS_REEXEC",
                        "Prescott", NULL};
  run_self(loop, out, sizeof out);
  assert_non_null(strstr(out, "set by hpsearch"));
}

int main(int argc, char **argv) {
  hp_blas_ensure_fast_kernel(argv);
  if (argc > 1 && strcmp(argv[1], "--print-core") == 0) {
    printf("%s|%s\n", hp_blas_corename(), hp_blas_kernel_origin());
    return 0;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_choice_policy),
      cmocka_unit_test(test_fast_kernel_in_use),
      cmocka_unit_test(test_openblas_loaded_lazily),
      cmocka_unit_test(test_sgemm_matches_naive),
      cmocka_unit_test(test_sgemm_engine_shapes),
      cmocka_unit_test(test_reexec_and_user_wins),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* HP_HOT marks a hot loop of engine/ or search/: with GCC on x86-64 it is
 * compiled once per vector width (AVX-512, AVX2, and the default SSE2) and
 * the loader picks the widest the CPU has; other compilers (clang) compile
 * it once for the default target. The one definition of the macro. */
#ifndef HPSEARCH_HOT_H
#define HPSEARCH_HOT_H

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define HP_HOT __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define HP_HOT
#endif

#endif

/* main of the kernel tests (tests/test_kernel.c), compiled for the baseline ISA: it asks the CPU
   whether it has the instruction set test_kernel.c was compiled for and skips (exit 77, meson's
   skip code) when not, before any code compiled for that instruction set has run. test_kernel.c
   is built separately with the ISA's flags (a static library in tests/meson.build); only its
   data, the string test_kernel_isa, is read before the check. */
#include <stdio.h>
#include <string.h>

extern const char test_kernel_isa[];   /* "baseline", "avx2+fma" or "avx512f" */
int test_kernel_run(void);
int test_interact_run(void);   /* tests/test_interact.c, in the same body library */

static int cpu_supports(const char *isa) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    if (!strcmp(isa, "avx512f")) return __builtin_cpu_supports("avx512f");
    if (!strcmp(isa, "avx2+fma")) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    (void)isa;   /* no portable way to ask: run (a CPU without the ISA then stops with SIGILL) */
#endif
    return 1;
}

int main(void) {
    if (!cpu_supports(test_kernel_isa)) {
        printf("%s: not supported by this CPU, skipped\n", test_kernel_isa);
        return 77;
    }
    return test_kernel_run() | test_interact_run();
}

/* simd_vnni_vbmi.c: the avx512vbmi kernel set, simd_vnni.c's kernels compiled for CPUs that also have
 * AVX512_VBMI (Ice Lake, Zen 4 and later), where vpermb does MXFP4's nibble lookups in fewer
 * instructions; everything else as avx512vnni. */
#define VN_VBMI 1
#include "simd_vnni.c"

// Microbenchmarks for benchmarks/gpu_check: the device's own limits for the
// two memory patterns the drizzle kernels use, so that each kernel can be
// reported as a fraction of them.
#include "drizzle_common.cuh"

// Streaming copy: the bandwidth ceiling of reading inputs / writing outputs.
extern "C" __global__ void bench_copy(const float* __restrict__ src, float* dst, i64 n) {
    for (i64 k = grid_index(); k < n; k += grid_stride()) dst[k] = src[k];
}

// float64 atomicAdd with a given address pattern (the output pixels hit by
// consecutive input pixels): the ceiling of the scatter step.
extern "C" __global__ void bench_atomic_add(const i64* __restrict__ target, const double* __restrict__ value,
                                            double* out, i64 n) {
    for (i64 k = grid_index(); k < n; k += grid_stride()) atomicAdd(&out[target[k]], value[k]);
}

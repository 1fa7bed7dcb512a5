// Device helpers shared by gpuresample's drizzle kernels.
//
// Conventions (the same as drizzle's C code): arrays are row-major (ny, nx);
// output pixel k spans [k - 0.5, k + 0.5]; "nearest pixel" is C round() (half
// away from zero), not rint/floor(x + 0.5).  Geometry is double precision;
// data values and weights are float, as drizzle computes d = data * iscale and
// dow = weight * wht_scale in float.  All indices are 64-bit.
#pragma once

typedef long long i64;

// Index of thread t in a 1-D grid-stride loop and the loop stride.
__device__ __forceinline__ i64 grid_index() {
    return (i64)blockIdx.x * (i64)blockDim.x + (i64)threadIdx.x;
}
__device__ __forceinline__ i64 grid_stride() {
    return (i64)gridDim.x * (i64)blockDim.x;
}

// C round(): half away from zero.
__device__ __forceinline__ i64 c_round(double x) {
    return (i64)round(x);
}

// One contribution of value d with weight w to output pixel idx:
// sum_wd += w * d, sum_w += w (float64 accumulators), the context bit and
// the DQ bits are OR-ed in when the weight is positive / non-zero.
__device__ __forceinline__ void contribute(i64 idx, float d, float w, double* sum_wd, double* sum_w,
                                           int* ctx, int bit, const unsigned int* dq_in, i64 src,
                                           unsigned int* dq_acc) {
    if (w == 0.0f) return;  // drizzle skips zero-weight contributions entirely
    atomicAdd(&sum_wd[idx], (double)w * (double)d);
    atomicAdd(&sum_w[idx], (double)w);
    if (ctx != 0 && w > 0.0f) atomicOr(&ctx[idx], bit);
    if (dq_acc != 0) atomicOr(&dq_acc[idx], dq_in[src]);
}

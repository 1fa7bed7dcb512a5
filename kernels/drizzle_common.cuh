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

// Row j of element k of a row-major array of n elements with nx columns.  A
// 64-bit integer division is a long software routine on NVIDIA GPUs, several
// times a 32-bit one: the unsigned 32-bit quotient is used whenever the
// indices fit (every real input; the branch is uniform across the launch),
// with the same result.
__device__ __forceinline__ i64 row_of(i64 k, i64 nx, i64 n) {
    if (n <= 0xFFFFFFFFLL) return (i64)((unsigned int)k / (unsigned int)nx);
    return k / nx;
}

// The loop every drizzle kernel runs: one thread per input pixel k = j*nx+i
// (grid-stride), only the pixels drizzle's scan visits (x1[j] <= i <= x2[j];
// pass null limits to visit the inclusive box xmin..xmax, ymin..ymax instead),
// NaN map entries counted as misses.  body(k, ox, oy) spreads the pixel and
// returns whether it hit any output pixel.
template <class Body>
__device__ inline void for_each_input_pixel(const double* pixmap, i64 nx, i64 ny, const i64* x1, const i64* x2,
                                            i64 xmin, i64 xmax, i64 ymin, i64 ymax,
                                            unsigned long long* nmiss, Body body) {
    const i64 n = nx * ny;
    for (i64 k = grid_index(); k < n; k += grid_stride()) {
        const i64 j = row_of(k, nx, n);
        const i64 i = k - j * nx;
        if (x1 != 0 ? (i < x1[j] || i > x2[j]) : (i < xmin || i > xmax || j < ymin || j > ymax)) continue;
        const double ox = pixmap[2 * k], oy = pixmap[2 * k + 1];
        if (isnan(ox) || isnan(oy) || !body(k, i, j, ox, oy)) atomicAdd(nmiss, 1ULL);
    }
}

// Clip an inclusive index range to [0, n - 1].
__device__ __forceinline__ void clip_range(i64& lo, i64& hi, i64 n) {
    if (lo < 0) lo = 0;
    if (hi > n - 1) hi = n - 1;
}

// C round(): half away from zero.  The front end turns coordinates beyond
// 2^26 px into NaN (pixmap_checks.MAX_PIXMAP_COORD); the clamp keeps the
// conversion defined anyway (a double beyond the i64 range saturates on the
// GPU but is undefined on the host, so the emulator could disagree).
__device__ __forceinline__ i64 c_round(double x) {
    return (i64)round(fmin(fmax(x, -4.0e18), 4.0e18));
}

// The part of the output grid whose sums a launch keeps: output pixels
// x0 <= ii < x0 + nx, y0 <= jj < y0 + ny, stored row-major (ny, nx).  A tile
// of a tiled run on a kernel backend, else the whole grid.  Which input pixels
// are visited, the footprint clipping and drizzle's miss count always use the
// whole grid (so a tile's pixels get exactly the untiled contributions); a
// contribution outside the window is only dropped.
struct OutWindow {
    i64 x0, y0, nx, ny;
};

// One contribution of value d with weight w64 (drizzle's float dow, computed
// in double here) to output pixel (ii, jj) of the grid, when it lies in the
// window: sum_wd += w * d, sum_w += w (float64
// accumulators); the context bit when the weight is positive and the DQ bits
// when it is non-zero.
//
// drizzle rounds the weight to float and skips it when that gives 0.  The GPU
// code is compiled with -ftz=true, which would flush float denormals to 0, so
// the decision is made in double: |w64| <= 2^-150 is exactly the set of values
// that round to a float zero.  Normal weights are rounded to float as drizzle
// does; denormal-range ones are kept in double (no float can hold them under ftz).
// Extra arrays drizzled in the same pass as the data: "data2" co-added with
// squared weights (drizzle's data2, already scaled by iscale**2) and "linear"
// ones co-added with the data's own weights (jwst's sqrt(variance) arrays).
// Planes of the input have stride n_in, planes of the sums stride n_out (the
// window's pixels).
struct Data2 {
    const float* values;  // (n2, ny, nx) or null
    i64 n2, n_in, n_out;
    double* sum_w2d2;     // (n2, win.ny, win.nx)
    const float* lin;     // (nlin, ny, nx) or null
    i64 nlin;
    double* sum_wlin;     // (nlin, win.ny, win.nx)
};

__device__ __forceinline__ void contribute(const OutWindow& win, i64 ii, i64 jj, float d, double w64,
                                           double* sum_wd, double* sum_w, int* ctx, int bit,
                                           const unsigned int* dq_in, i64 src, unsigned int* dq_acc,
                                           const Data2& d2) {
    const double tiny = 7.006492321624085e-46;  // 2^-150
    const double aw = fabs(w64);
    if (aw <= tiny) return;
    const i64 wx = ii - win.x0, wy = jj - win.y0;
    if (wx < 0 || wx >= win.nx || wy < 0 || wy >= win.ny) return;  // outside the kept window
    const i64 idx = wy * win.nx + wx;
    const double w = aw >= 1.1754943508222875e-38 ? (double)(float)w64 : w64;  // FLT_MIN
    atomicAdd(&sum_wd[idx], w * (double)d);
    atomicAdd(&sum_w[idx], w);
    if (ctx != 0 && w > 0.0) atomicOr(&ctx[idx], bit);
    if (dq_acc != 0) {
        // most input pixels have DQ 0 (the good ones): OR-ing 0 changes nothing, so skip the atomic
        const unsigned int q = dq_in[src];
        if (q != 0u) atomicOr(&dq_acc[idx], q);
    }
    for (i64 m = 0; m < d2.n2; ++m)
        atomicAdd(&d2.sum_w2d2[m * d2.n_out + idx], w * w * (double)d2.values[m * d2.n_in + src]);
    for (i64 m = 0; m < d2.nlin; ++m)
        atomicAdd(&d2.sum_wlin[m * d2.n_out + idx], w * (double)d2.lin[m * d2.n_in + src]);
}

// The parameters every drizzle entry point (drizzle_point, drizzle_square,
// drizzle_turbo, drizzle_gaussian, drizzle_lanczos, drizzle_tophat) takes, in
// this order; the launch code (gpuresample/gpu/launch.py) packs them
// positionally with exactly these C types.
//
// DRIZZLE_INPUT_PARAMS: the input image, row-major (ny, nx)
//   pixmap          (ny, nx, 2) output x, y of the input pixel centres (NaN: a miss)
//   data, weight    (ny, nx) values and weights
//   dq              (ny, nx) DQ bits, or null (then dq_acc is null too)
// Which input pixels are visited, decided on the host as drizzle decides it:
//   DRIZZLE_ROW_PARAMS: x1, x2 (ny,), row j visits x1[j] <= i <= x2[j]
//   (x2 < x1: row skipped); drizzle_tophat takes its inclusive input box
//   xmin, xmax, ymin, ymax instead.
// DRIZZLE_GRID_PARAMS
//   nx, ny          the input size
//   nx_out, ny_out  the whole output grid: footprint clipping and miss counts
//   win_x0, win_y0, win_nx, win_ny
//                   the output window whose sums are kept (OutWindow)
//   iscale, wht_scale
//                   d = data * iscale and dow = weight * wht_scale, in float as drizzle
// then the kernel's own shape parameters (pixfrac, pfo, ...), then
// DRIZZLE_OUTPUT_PARAMS: the window's accumulators, row-major (win_ny, win_nx)
//   sum_wd, sum_w   float64 sums of w * d and of w
//   ctx_plane, bit  context plane or null, and the bit value OR-ed in
//   ctx_mode        one flag on the device: 1 when the image's weights can be
//                   negative (lanczos, or a negative input weight, flagged by
//                   prepare_inputs): each contribution with w > 0 sets the bit
//                   here; 0: merge_image sets it where the image's sum of
//                   weights is > 0 (the same pixels when no weight is negative,
//                   one plain OR per pixel instead of an atomicOr per contribution)
//   dq_acc          OR of the contributions' DQ bits, or null
//   data2, n2, sum_w2d2
//                   n2 planes (n2, ny, nx) co-added with squared weights (drizzle's data2)
//   lin, nlin, sum_wlin
//                   nlin planes co-added with the data's own weights (same-pass linear co-adds)
//   nmiss           one counter: visited pixels that did not land
// DRIZZLE_SETUP (the first statement of every body) builds `ctx` (the plane
// when the contributions set the bits, else null), the window `win` and the
// extra co-adds `d2` that contribute() takes.
//
// gpuresample.gpu.signatures expands these macros to read the parameter types;
// keep comments out of their bodies.
#define DRIZZLE_INPUT_PARAMS \
    const double* __restrict__ pixmap, const float* __restrict__ data, const float* __restrict__ weight, \
    const unsigned int* __restrict__ dq
#define DRIZZLE_ROW_PARAMS const i64* __restrict__ x1, const i64* __restrict__ x2
#define DRIZZLE_GRID_PARAMS \
    i64 nx, i64 ny, i64 nx_out, i64 ny_out, i64 win_x0, i64 win_y0, i64 win_nx, i64 win_ny, \
    float iscale, float wht_scale
#define DRIZZLE_OUTPUT_PARAMS \
    double* sum_wd, double* sum_w, int* ctx_plane, int bit, const unsigned int* ctx_mode, unsigned int* dq_acc, \
    const float* __restrict__ data2, i64 n2, double* sum_w2d2, \
    const float* __restrict__ lin, i64 nlin, double* sum_wlin, \
    unsigned long long* nmiss
#define DRIZZLE_SETUP \
    int* const ctx = (ctx_plane != 0 && *ctx_mode != 0u) ? ctx_plane : nullptr; \
    const OutWindow win = {win_x0, win_y0, win_nx, win_ny}; \
    const Data2 d2 = {data2, n2, nx * ny, win_nx * win_ny, sum_w2d2, lin, nlin, sum_wlin}

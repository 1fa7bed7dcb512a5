// Point and tophat kernels: one thread per input pixel (grid-stride).
//
// Which input pixels are visited is decided on the host, exactly as drizzle
// decides it (gpuresample.scanner.row_limits): row j is visited for
// x1[j] <= i <= x2[j] (point kernel).  The tophat kernel visits every pixel
// of the input box with a finite pixel map (its own semantics, see
// gpuresample/backends/tophat.py).
#include "drizzle_common.cuh"

// Point kernel: the whole weight goes to the output pixel nearest to the
// mapped centre of the input pixel.
extern "C" __global__ void drizzle_point(
    const double* __restrict__ pixmap,   // (ny, nx, 2) output x, y of input pixel centres
    const float* __restrict__ data,      // (ny, nx)
    const float* __restrict__ weight,    // (ny, nx)
    const unsigned int* __restrict__ dq, // (ny, nx) or null
    const i64* __restrict__ x1,          // (ny,) first visited column of each row
    const i64* __restrict__ x2,          // (ny,) last visited column (x2 < x1: row skipped)
    i64 nx, i64 ny, i64 nx_out, i64 ny_out,
    float iscale, float wht_scale,
    double* sum_wd, double* sum_w,       // (ny_out, nx_out) float64 accumulators
    int* ctx, int bit,                   // context plane or null, bit value
    unsigned int* dq_acc,                // (ny_out, nx_out) or null
    const float* __restrict__ data2, i64 n2, double* sum_w2d2,
    const float* __restrict__ lin, i64 nlin, double* sum_wlin,  // same-pass linear co-adds  // squared-weight co-adds (n2 planes)
    unsigned long long* nmiss)           // visited pixels that did not land (one counter)
{
    const i64 n = nx * ny;
    const Data2 d2 = {data2, n2, n, nx_out * ny_out, sum_w2d2, lin, nlin, sum_wlin};
    for (i64 k = grid_index(); k < n; k += grid_stride()) {
        const i64 j = k / nx;
        const i64 i = k - j * nx;
        if (i < x1[j] || i > x2[j]) continue;
        const double ox = pixmap[2 * k];
        const double oy = pixmap[2 * k + 1];
        if (isnan(ox) || isnan(oy)) { atomicAdd(nmiss, 1ULL); continue; }
        const i64 ii = c_round(ox);
        const i64 jj = c_round(oy);
        if (ii < 0 || ii >= nx_out || jj < 0 || jj >= ny_out) { atomicAdd(nmiss, 1ULL); continue; }
        const float d = data[k] * iscale;
        const float w = weight[k] * wht_scale;
        contribute(jj * nx_out + ii, d, (double)w, sum_wd, sum_w, ctx, bit, dq, k, dq_acc, d2);
    }
}

// Tophat kernel: every output pixel whose centre is within pfo output pixels
// of the mapped centre receives the value with the full weight.
extern "C" __global__ void drizzle_tophat(
    const double* __restrict__ pixmap, const float* __restrict__ data, const float* __restrict__ weight,
    const unsigned int* __restrict__ dq,
    i64 xmin, i64 xmax, i64 ymin, i64 ymax,  // inclusive input box
    i64 nx, i64 ny, i64 nx_out, i64 ny_out,
    float iscale, float wht_scale, double pfo,
    double* sum_wd, double* sum_w, int* ctx, int bit, unsigned int* dq_acc,
    const float* __restrict__ data2, i64 n2, double* sum_w2d2,
    const float* __restrict__ lin, i64 nlin, double* sum_wlin,  // same-pass linear co-adds
    unsigned long long* nmiss)
{
    const i64 n = nx * ny;
    const Data2 d2 = {data2, n2, n, nx_out * ny_out, sum_w2d2, lin, nlin, sum_wlin};
    const double pfo2 = pfo * pfo;
    for (i64 k = grid_index(); k < n; k += grid_stride()) {
        const i64 j = k / nx;
        const i64 i = k - j * nx;
        if (i < xmin || i > xmax || j < ymin || j > ymax) continue;
        const double ox = pixmap[2 * k];
        const double oy = pixmap[2 * k + 1];
        if (isnan(ox) || isnan(oy)) { atomicAdd(nmiss, 1ULL); continue; }
        const float d = data[k] * iscale;
        const float w = weight[k] * wht_scale;
        const i64 i0 = (i64)ceil(ox - pfo), i1 = (i64)floor(ox + pfo);
        const i64 j0 = (i64)ceil(oy - pfo), j1 = (i64)floor(oy + pfo);
        bool hit = false;
        for (i64 jj = (j0 < 0 ? 0 : j0); jj <= j1 && jj < ny_out; ++jj) {
            const double dy = oy - (double)jj;
            for (i64 ii = (i0 < 0 ? 0 : i0); ii <= i1 && ii < nx_out; ++ii) {
                const double dx = ox - (double)ii;
                if (dx * dx + dy * dy <= pfo2) {
                    hit = true;
                    contribute(jj * nx_out + ii, d, (double)w, sum_wd, sum_w, ctx, bit, dq, k, dq_acc, d2);
                }
            }
        }
        if (!hit) atomicAdd(nmiss, 1ULL);
    }
}

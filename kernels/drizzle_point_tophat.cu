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
    i64 win_x0, i64 win_y0, i64 win_nx, i64 win_ny,  // the kept output window (OutWindow)
    float iscale, float wht_scale,
    double* sum_wd, double* sum_w,       // (win_ny, win_nx) float64 accumulators
    int* ctx, int bit,                   // context plane or null, bit value
    unsigned int* dq_acc,                // (win_ny, win_nx) or null
    const float* __restrict__ data2, i64 n2, double* sum_w2d2,  // squared-weight co-adds (n2 planes)
    const float* __restrict__ lin, i64 nlin, double* sum_wlin,  // same-pass linear co-adds
    unsigned long long* nmiss)           // visited pixels that did not land (one counter)
{
    const OutWindow win = {win_x0, win_y0, win_nx, win_ny};
    const Data2 d2 = {data2, n2, nx * ny, win_nx * win_ny, sum_w2d2, lin, nlin, sum_wlin};
    for_each_input_pixel(pixmap, nx, ny, x1, x2, 0, 0, 0, 0, nmiss, [&](i64 k, i64, i64, double ox, double oy) {
        const i64 ii = c_round(ox);
        const i64 jj = c_round(oy);
        if (ii < 0 || ii >= nx_out || jj < 0 || jj >= ny_out) return false;
        const float w = weight[k] * wht_scale;
        contribute(win, ii, jj, data[k] * iscale, (double)w, sum_wd, sum_w, ctx, bit, dq, k, dq_acc, d2);
        return true;
    });
}

// Tophat kernel: every output pixel whose centre is within pfo output pixels
// of the mapped centre receives the value with the full weight.
extern "C" __global__ void drizzle_tophat(
    const double* __restrict__ pixmap, const float* __restrict__ data, const float* __restrict__ weight,
    const unsigned int* __restrict__ dq,
    i64 xmin, i64 xmax, i64 ymin, i64 ymax,  // inclusive input box
    i64 nx, i64 ny, i64 nx_out, i64 ny_out,
    i64 win_x0, i64 win_y0, i64 win_nx, i64 win_ny,  // the kept output window (OutWindow)
    float iscale, float wht_scale, double pfo,
    double* sum_wd, double* sum_w, int* ctx, int bit, unsigned int* dq_acc,
    const float* __restrict__ data2, i64 n2, double* sum_w2d2,
    const float* __restrict__ lin, i64 nlin, double* sum_wlin,  // same-pass linear co-adds
    unsigned long long* nmiss)
{
    const OutWindow win = {win_x0, win_y0, win_nx, win_ny};
    const Data2 d2 = {data2, n2, nx * ny, win_nx * win_ny, sum_w2d2, lin, nlin, sum_wlin};
    const double pfo2 = pfo * pfo;
    for_each_input_pixel(pixmap, nx, ny, 0, 0, xmin, xmax, ymin, ymax, nmiss,
                         [&](i64 k, i64, i64, double ox, double oy) {
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
                    contribute(win, ii, jj, d, (double)w, sum_wd, sum_w, ctx, bit, dq, k, dq_acc, d2);
                }
            }
        }
        return hit;
    });
}

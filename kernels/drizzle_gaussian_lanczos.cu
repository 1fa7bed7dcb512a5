// Gaussian and Lanczos kernels (not flux conserving): every output pixel in
// the kernel's footprint around the mapped centre gets the data with weight
// kernel(distance) * weight.  The Lanczos profile comes from a lookup table
// built on the host (drizzle's: spacing 0.003 input pixels, value at 0 = 1).
#include "drizzle_common.cuh"

extern "C" __global__ void drizzle_gaussian(
    const double* __restrict__ pixmap, const float* __restrict__ data, const float* __restrict__ weight,
    const unsigned int* __restrict__ dq,
    const i64* __restrict__ x1, const i64* __restrict__ x2,
    i64 nx, i64 ny, i64 nx_out, i64 ny_out,
    i64 win_x0, i64 win_y0, i64 win_nx, i64 win_ny,  // the kept output window (OutWindow)
    float iscale, float wht_scale,
    double pfo,   // half-width of the footprint in output pixels
    double efac,  // exponent factor: weight = es * exp(-r2 * efac)
    double es,
    double* sum_wd, double* sum_w, int* ctx, int bit, unsigned int* dq_acc,
    const float* __restrict__ data2, i64 n2, double* sum_w2d2,
    const float* __restrict__ lin, i64 nlin, double* sum_wlin,  // same-pass linear co-adds
    unsigned long long* nmiss)
{
    const OutWindow win = {win_x0, win_y0, win_nx, win_ny};
    const Data2 d2 = {data2, n2, nx * ny, win_nx * win_ny, sum_w2d2, lin, nlin, sum_wlin};
    for_each_input_pixel(pixmap, nx, ny, x1, x2, 0, 0, 0, 0, nmiss, [&](i64 k, i64, i64, double ox, double oy) {
        i64 nxi = c_round(ox - pfo), nxa = c_round(ox + pfo), nyi = c_round(oy - pfo), nya = c_round(oy + pfo);
        clip_range(nxi, nxa, nx_out);
        clip_range(nyi, nya, ny_out);
        const float d = data[k] * iscale;
        const double w = (double)(weight[k] * wht_scale);
        bool hit = false;
        for (i64 jj = nyi; jj <= nya; ++jj) {
            const double ddy = oy - (double)jj;
            for (i64 ii = nxi; ii <= nxa; ++ii) {
                const double ddx = ox - (double)ii;
                const double r2 = ddx * ddx + ddy * ddy;
                hit = true;  // drizzle counts a hit even when the weight underflows to 0
                contribute(win, ii, jj, d, es * exp(-r2 * efac) * w, sum_wd, sum_w, ctx, bit, dq, k, dq_acc,
                           d2);
            }
        }
        return hit;
    });
}

extern "C" __global__ void drizzle_lanczos(
    const double* __restrict__ pixmap, const float* __restrict__ data, const float* __restrict__ weight,
    const unsigned int* __restrict__ dq,
    const i64* __restrict__ x1, const i64* __restrict__ x2,
    i64 nx, i64 ny, i64 nx_out, i64 ny_out,
    i64 win_x0, i64 win_y0, i64 win_nx, i64 win_ny,  // the kept output window (OutWindow)
    float iscale, float wht_scale,
    double pfo,                     // kernel order / pscale_ratio
    double sdp,                     // pscale_ratio / LUT spacing
    const double* __restrict__ lut, i64 nlut,
    double* sum_wd, double* sum_w, int* ctx, int bit, unsigned int* dq_acc,
    const float* __restrict__ data2, i64 n2, double* sum_w2d2,
    const float* __restrict__ lin, i64 nlin, double* sum_wlin,  // same-pass linear co-adds
    unsigned long long* nmiss)
{
    const OutWindow win = {win_x0, win_y0, win_nx, win_ny};
    const Data2 d2 = {data2, n2, nx * ny, win_nx * win_ny, sum_w2d2, lin, nlin, sum_wlin};
    for_each_input_pixel(pixmap, nx, ny, x1, x2, 0, 0, 0, 0, nmiss, [&](i64 k, i64, i64, double xx, double yy) {
        i64 nxi = (i64)floor(xx - pfo) + 1, nxa = (i64)floor(xx + pfo);
        i64 nyi = (i64)floor(yy - pfo) + 1, nya = (i64)floor(yy + pfo);
        clip_range(nxi, nxa, nx_out);
        clip_range(nyi, nya, ny_out);
        const float d = data[k] * iscale;
        const double w = (double)(weight[k] * wht_scale);
        bool hit = false;
        for (i64 jj = nyi; jj <= nya; ++jj) {
            const i64 iy = c_round(fabs((yy - (double)jj) * sdp));
            for (i64 ii = nxi; ii <= nxa; ++ii) {
                const i64 ix = c_round(fabs((xx - (double)ii) * sdp));
                if (ix >= nlut || iy >= nlut) continue;
                hit = true;
                contribute(win, ii, jj, d, lut[ix] * lut[iy] * w, sum_wd, sum_w, ctx, bit, dq, k, dq_acc, d2);
            }
        }
        return hit;
    });
}

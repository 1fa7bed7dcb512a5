// Gaussian and Lanczos kernels (not flux conserving): every output pixel in
// the kernel's footprint around the mapped centre gets the data with weight
// kernel(distance) * weight.  The Lanczos profile comes from a lookup table
// built on the host (drizzle's: spacing 0.003 input pixels, value at 0 = 1).
#include "drizzle_common.cuh"

extern "C" __global__ void drizzle_gaussian(
    DRIZZLE_INPUT_PARAMS, DRIZZLE_ROW_PARAMS, DRIZZLE_GRID_PARAMS,
    double pfo,   // half-width of the footprint in output pixels
    double efac,  // exponent factor: weight = es * exp(-r2 * efac)
    double es,
    DRIZZLE_OUTPUT_PARAMS)
{
    DRIZZLE_SETUP;
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
    DRIZZLE_INPUT_PARAMS, DRIZZLE_ROW_PARAMS, DRIZZLE_GRID_PARAMS,
    double pfo,                                // kernel order / pscale_ratio
    double sdp,                                // pscale_ratio / LUT spacing
    const double* __restrict__ lut, i64 nlut,  // the profile, sampled every LUT spacing from 0
    DRIZZLE_OUTPUT_PARAMS)
{
    DRIZZLE_SETUP;
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

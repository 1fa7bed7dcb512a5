// Turbo kernel: an axis-aligned square of side pixfrac / pixel_scale_ratio
// output pixels centred on the mapped pixel centre; weights are the exact
// overlap areas scaled so that each input pixel's weight sums to its weight.
#include "drizzle_common.cuh"

__device__ inline double aligned_overlap(i64 i, i64 j, double xmin, double xmax, double ymin, double ymax) {
    const double dx = fmin(xmax, (double)i + 0.5) - fmax(xmin, (double)i - 0.5);
    const double dy = fmin(ymax, (double)j + 0.5) - fmax(ymin, (double)j - 0.5);
    return (dx > 0.0 && dy > 0.0) ? dx * dy : 0.0;
}

extern "C" __global__ void drizzle_turbo(
    DRIZZLE_INPUT_PARAMS, DRIZZLE_ROW_PARAMS, DRIZZLE_GRID_PARAMS,
    double pfo,          // pixfrac / pscale_ratio / 2 (pscale_ratio as float, as drizzle)
    double dover_scale,  // pscale_ratio**2 / pixfrac**2
    DRIZZLE_OUTPUT_PARAMS)
{
    DRIZZLE_SETUP;
    for_each_input_pixel(pixmap, nx, ny, x1, x2, 0, 0, 0, 0, nmiss, [&](i64 k, i64, i64, double ox, double oy) {
        const double xxi = ox - pfo, xxa = ox + pfo, yyi = oy - pfo, yya = oy + pfo;
        i64 iis = c_round(xxi), iie = c_round(xxa), jjs = c_round(yyi), jje = c_round(yya);
        clip_range(iis, iie, nx_out);
        clip_range(jjs, jje, ny_out);
        const float d = data[k] * iscale;
        const double w = (double)(weight[k] * wht_scale);
        bool hit = false;
        for (i64 jj = jjs; jj <= jje; ++jj) {
            for (i64 ii = iis; ii <= iie; ++ii) {
                double over = aligned_overlap(ii, jj, xxi, xxa, yyi, yya);
                if (over > 0.0) {
                    over *= dover_scale;
                    hit = true;
                    contribute(win, ii, jj, d, over * w, sum_wd, sum_w, ctx, bit, dq, k, dq_acc, d2);
                }
            }
        }
        return hit;
    });
}

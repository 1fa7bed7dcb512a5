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
    const double* __restrict__ pixmap, const float* __restrict__ data, const float* __restrict__ weight,
    const unsigned int* __restrict__ dq,
    const i64* __restrict__ x1, const i64* __restrict__ x2,
    i64 nx, i64 ny, i64 nx_out, i64 ny_out,
    i64 win_x0, i64 win_y0, i64 win_nx, i64 win_ny,  // the kept output window (OutWindow)
    float iscale, float wht_scale,
    double pfo,          // pixfrac / pscale_ratio / 2 (pscale_ratio as float, as drizzle)
    double dover_scale,  // pscale_ratio**2 / pixfrac**2
    double* sum_wd, double* sum_w, int* ctx, int bit, unsigned int* dq_acc,
    const float* __restrict__ data2, i64 n2, double* sum_w2d2,
    const float* __restrict__ lin, i64 nlin, double* sum_wlin,  // same-pass linear co-adds
    unsigned long long* nmiss)
{
    const OutWindow win = {win_x0, win_y0, win_nx, win_ny};
    const Data2 d2 = {data2, n2, nx * ny, win_nx * win_ny, sum_w2d2, lin, nlin, sum_wlin};
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

// Square kernel: each input pixel, shrunk by pixfrac, is a quadrilateral on
// the output whose corners come from the pixel map; every output pixel gets
// the data with weight overlap_area * weight / jacobian.  One thread per input
// pixel; rows limited to drizzle's scan (host-computed x1[j]..x2[j]).
#include "drizzle_geometry.cuh"

extern "C" __global__ void drizzle_square(DRIZZLE_INPUT_PARAMS, DRIZZLE_ROW_PARAMS, DRIZZLE_GRID_PARAMS,
                                          double pixfrac, DRIZZLE_OUTPUT_PARAMS)
{
    DRIZZLE_SETUP;
    const double dh = 0.5 * pixfrac;
    // a NaN centre also makes every corner NaN (each corner's 2x2 cell contains
    // the centre), so the loop's NaN check gives drizzle's miss count
    for_each_input_pixel(pixmap, nx, ny, x1, x2, 0, 0, 0, 0, nmiss, [&](i64 k, i64 i, i64 j, double, double) {
        double xo[4], yo[4];
        bool ok;
        if (i > 0 && i < nx - 2 && j > 0 && j < ny - 2) {
            ok = interpolate_four_points(pixmap, nx, i, j, dh, xo, yo);
        } else {
            const double xin[4] = {(double)i - dh, (double)i + dh, (double)i + dh, (double)i - dh};
            const double yin[4] = {(double)j + dh, (double)j + dh, (double)j - dh, (double)j - dh};
            ok = true;
            for (int c = 0; c < 4 && ok; ++c) ok = interpolate_point(pixmap, nx, ny, xin[c], yin[c], xo + c, yo + c);
        }
        if (!ok) return false;
        const double jaco = 0.5 * ((xo[1] - xo[3]) * (yo[0] - yo[2]) - (xo[0] - xo[2]) * (yo[1] - yo[3]));
        const float d = data[k] * iscale;
        const double w = (double)(weight[k] * wht_scale) / jaco;
        double xlo = xo[0], xhi = xo[0], ylo = yo[0], yhi = yo[0];
        for (int c = 1; c < 4; ++c) {
            xlo = xo[c] < xlo ? xo[c] : xlo; xhi = xo[c] > xhi ? xo[c] : xhi;
            ylo = yo[c] < ylo ? yo[c] : ylo; yhi = yo[c] > yhi ? yo[c] : yhi;
        }
        i64 jj0 = c_round(ylo), jj1 = c_round(yhi), ii0 = c_round(xlo), ii1 = c_round(xhi);
        clip_range(jj0, jj1, ny_out);
        clip_range(ii0, ii1, nx_out);
        bool hit = false;
        for (i64 jj = jj0; jj <= jj1; ++jj) {
            for (i64 ii = ii0; ii <= ii1; ++ii) {
                const double over = pixel_overlap((double)ii, (double)jj, xo, yo);
                if (over != 0.0) {
                    hit = true;
                    contribute(win, ii, jj, d, over * w, sum_wd, sum_w, ctx, bit, dq, k, dq_acc, d2);
                }
            }
        }
        return hit;
    });
}

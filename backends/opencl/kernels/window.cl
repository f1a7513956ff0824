/* im2col and col2im (torch's unfold and fold) on [N, C, H, W] images. g[]
 * holds the geometry: C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW.
 * col2im gathers (one work-item per image element sums the columns that
 * read it), so overlaps need no atomics and sum in a fixed order. */
__kernel void k_im2col(int n, __global const float *x, int xoff, __global float *o, int ooff,
                       float padv, int C, int H, int W, int KH, int KW, int SH, int SW, int PH,
                       int PW, int DH, int DW, int OH, int OW)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    int L = OH * OW;
    int l = i % L, r = i / L;              /* r = (n*C + c)*KH*KW + ki*KW + kj */
    int kj = r % KW, ki = (r / KW) % KH, pl = r / (KW * KH);
    int oi = l / OW, oj = l % OW;
    int ii = oi * SH - PH + ki * DH, jj = oj * SW - PW + kj * DW;
    o[ooff + i] = (ii >= 0 && ii < H && jj >= 0 && jj < W) ? x[xoff + (pl * H + ii) * W + jj] : padv;
}

__kernel void k_col2im(int n, __global const float *cols, int coff, __global float *o, int ooff,
                       int C, int H, int W, int KH, int KW, int SH, int SW, int PH, int PW, int DH,
                       int DW, int OH, int OW)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    int jj = i % W, ii = (i / W) % H, pl = i / (W * H);
    int L = OH * OW;
    float acc = 0.0f;
    for (int ki = 0; ki < KH; ki++) {
        int t = ii + PH - ki * DH;
        if (t < 0 || t % SH)
            continue;
        int oi = t / SH;
        if (oi >= OH)
            continue;
        for (int kj = 0; kj < KW; kj++) {
            int u = jj + PW - kj * DW;
            if (u < 0 || u % SW)
                continue;
            int oj = u / SW;
            if (oj >= OW)
                continue;
            acc += cols[coff + ((pl * KH + ki) * KW + kj) * L + oi * OW + oj];
        }
    }
    o[ooff + i] = acc;
}

/* Max pooling's choice (max_pool2d_index): per output, the index ii*W + jj
 * in its plane of the window's first maximum in window order, the first
 * NaN winning; a window of -inf only picks its first pixel. */
__kernel void k_pool_index(int n, __global const float *x, int xoff, __global int *o, int ooff,
                           int H, int W, int KH, int KW, int SH, int SW, int PH, int PW, int DH,
                           int DW, int OH, int OW)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    int L = OH * OW;
    int l = i % L, pl = i / L, oi = l / OW, oj = l % OW;
    float best = -INFINITY;
    int at = -1, first = -1;
    for (int ki = 0; ki < KH; ki++) {
        int ii = oi * SH - PH + ki * DH;
        if (ii < 0 || ii >= H)
            continue;
        for (int kj = 0; kj < KW; kj++) {
            int jj = oj * SW - PW + kj * DW;
            if (jj < 0 || jj >= W)
                continue;
            float v = x[xoff + (pl * H + ii) * W + jj];
            if (first < 0)
                first = ii * W + jj;
            if (v > best || (isnan(v) && !isnan(best))) {
                best = v;
                at = ii * W + jj;
            }
        }
    }
    o[ooff + i] = at >= 0 ? at : first;
}

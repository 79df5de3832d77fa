// Kernels of the CUDA DiT backend (f32), compiled at run time by NVRTC (no headers, no toolkit).
// Same math as engines/dit/src/ops.rs, rope.rs, prope.rs and attention.rs; every tensor is token-major
// [rows, cols] row-major. Row kernels run one block of ROW_THREADS threads per row; element-wise
// kernels use grid-stride loops. Every entry point is listed in kernels.rs (KERNEL_NAMES).

#define ROW_THREADS 256
#define ATT_THREADS 128
#define ATT_MAX_HEAD_DIM 256
#define ATT_ACC (ATT_MAX_HEAD_DIM / ATT_THREADS)
#define GEMM_TILE 16
#define NEG_INF __int_as_float(0xff800000)

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the total.
__device__ float block_sum(float v, float* scratch) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    __syncthreads();
    if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = v;
    __syncthreads();
    float total = 0.0f;
    for (int w = 0; w < (int)(blockDim.x >> 5); ++w) total += scratch[w];
    return total;
}

__device__ float block_max(float v, float* scratch) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    __syncthreads();
    if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = v;
    __syncthreads();
    float m = NEG_INF;
    for (int w = 0; w < (int)(blockDim.x >> 5); ++w) m = fmaxf(m, scratch[w]);
    return m;
}

#define GRID_STRIDE(i, n) for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long long)gridDim.x * blockDim.x)

// out[r, c] = bias[c]
extern "C" __global__ void fill_rows(float* out, const float* bias, int rows, int cols) {
    GRID_STRIDE(i, (long long)rows * cols) out[i] = bias[i % cols];
}

// x <- x * sigmoid(x)
extern "C" __global__ void silu_inplace(float* x, int n) {
    GRID_STRIDE(i, n) {
        float v = x[i];
        x[i] = v / (1.0f + expf(-v));
    }
}

// x <- 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))   (PyTorch GELU(approximate='tanh'))
extern "C" __global__ void gelu_tanh_inplace(float* x, int n) {
    GRID_STRIDE(i, n) {
        float v = x[i];
        float u = 0.7978845608f * (v + 0.044715f * v * v * v);
        x[i] = 0.5f * v * (1.0f + tanhf(u));
    }
}

// x <- x + y
extern "C" __global__ void add_inplace(float* x, const float* y, int n) {
    GRID_STRIDE(i, n) x[i] += y[i];
}

// e[r, c] += a[r, c] where mask[r] != 0 (action embedding of the frames that have a label)
extern "C" __global__ void add_rows_masked(float* e, const float* a, const int* mask, int rows, int cols) {
    GRID_STRIDE(i, (long long)rows * cols) {
        if (mask[i / cols]) e[i] += a[i];
    }
}

// out[f, j] = table[j] + e0[f, j]   (block modulation + per-frame time projection, width 6·dim)
extern "C" __global__ void frame_mod(float* out, const float* table, const float* e0, int frames, int width) {
    GRID_STRIDE(i, (long long)frames * width) out[i] = table[i % width] + e0[i];
}

// out[f, j] = table[j] + e[f, j mod d], j < 2d   (head modulation: shift, scale)
extern "C" __global__ void head_mod(float* out, const float* table, const float* e, int frames, int d) {
    GRID_STRIDE(i, (long long)frames * 2 * d) {
        long long f = i / (2 * d);
        int j = (int)(i % (2 * d));
        out[i] = table[j] + e[f * d + (j % d)];
    }
}

// out = LayerNorm(x) (1 + scale) + shift, per row; shift/scale of token t come from the modulation row
// of its frame t / tpf at offsets shift_off / scale_off (biased variance, eps inside the sqrt).
extern "C" __global__ void ln_modulate(const float* x, float* out, const float* mod, int mod_stride,
                                       int shift_off, int scale_off, int tpf, int d, float eps) {
    __shared__ float scratch[32];
    long long tok = blockIdx.x;
    const float* xr = x + tok * d;
    float s = 0.0f;
    for (int c = threadIdx.x; c < d; c += blockDim.x) s += xr[c];
    float mean = block_sum(s, scratch) / d;
    float q = 0.0f;
    for (int c = threadIdx.x; c < d; c += blockDim.x) {
        float z = xr[c] - mean;
        q += z * z;
    }
    float inv = 1.0f / sqrtf(block_sum(q, scratch) / d + eps);
    const float* m = mod + (tok / tpf) * mod_stride;
    for (int c = threadIdx.x; c < d; c += blockDim.x)
        out[tok * d + c] = (xr[c] - mean) * inv * (1.0f + m[scale_off + c]) + m[shift_off + c];
}

// out = LayerNorm(x) weight + bias, per row
extern "C" __global__ void ln_affine(const float* x, float* out, const float* weight, const float* bias, int d, float eps) {
    __shared__ float scratch[32];
    long long tok = blockIdx.x;
    const float* xr = x + tok * d;
    float s = 0.0f;
    for (int c = threadIdx.x; c < d; c += blockDim.x) s += xr[c];
    float mean = block_sum(s, scratch) / d;
    float q = 0.0f;
    for (int c = threadIdx.x; c < d; c += blockDim.x) {
        float z = xr[c] - mean;
        q += z * z;
    }
    float inv = 1.0f / sqrtf(block_sum(q, scratch) / d + eps);
    for (int c = threadIdx.x; c < d; c += blockDim.x) out[tok * d + c] = (xr[c] - mean) * inv * weight[c] + bias[c];
}

// x <- x rsqrt(mean(x^2) + eps) weight, per row (WanRMSNorm over the whole dim)
extern "C" __global__ void rmsnorm_inplace(float* x, const float* weight, int d, float eps) {
    __shared__ float scratch[32];
    float* xr = x + (long long)blockIdx.x * d;
    float q = 0.0f;
    for (int c = threadIdx.x; c < d; c += blockDim.x) q += xr[c] * xr[c];
    float inv = 1.0f / sqrtf(block_sum(q, scratch) / d + eps);
    for (int c = threadIdx.x; c < d; c += blockDim.x) xr[c] = xr[c] * inv * weight[c];
}

// x[t, c] += y[t, c] gate[c], gate = the modulation row of frame t / tpf at gate_off
extern "C" __global__ void add_gated(float* x, const float* y, const float* mod, int mod_stride, int gate_off, int tpf, int d, int n) {
    GRID_STRIDE(i, (long long)n * d) {
        long long tok = i / d;
        int c = (int)(i % d);
        x[i] += y[i] * mod[(tok / tpf) * mod_stride + gate_off + c];
    }
}

// 3D RoPE: x [n, heads·2·half]; pair j of every head of token t rotated by (cos, sin)[t, j]
extern "C" __global__ void rope_inplace(float* x, const float* cosv, const float* sinv, int n, int heads, int half) {
    GRID_STRIDE(i, (long long)n * heads * half) {
        long long tok = i / ((long long)heads * half);
        int j = (int)(i % half);
        long long base = 2 * i;  // (tok, head, j) pairs are contiguous
        float a = x[base], b = x[base + 1];
        float c = cosv[tok * half + j], s = sinv[tok * half + j];
        x[base] = a * c - b * s;
        x[base + 1] = a * s + b * c;
    }
}

// PRoPE: every 4-dim block of row t <- M v (or Mᵀ v with transpose), M = mats[t / tpf] (row-major 4x4)
extern "C" __global__ void prope_apply(float* x, const float* mats, int n, int d, int tpf, int transpose) {
    GRID_STRIDE(i, (long long)n * (d / 4)) {
        long long tok = i / (d / 4);
        float* b = x + 4 * i;
        const float* m = mats + (tok / tpf) * 16;
        float v[4] = {b[0], b[1], b[2], b[3]};
        for (int r = 0; r < 4; ++r) {
            float acc = 0.0f;
            for (int c = 0; c < 4; ++c) acc += (transpose ? m[c * 4 + r] : m[r * 4 + c]) * v[c];
            b[r] = acc;
        }
    }
}

// softmax(q kᵀ · scale) v per (query, head), keys 0..limit[query] only (prefix / block-causal mask).
// q/out [nq, heads·hd], k/v [nk, heads·hd]; grid (nq, heads), ATT_THREADS threads; hd <= ATT_MAX_HEAD_DIM.
// Keys in tiles of ATT_THREADS (one score per thread), online softmax across tiles.
extern "C" __global__ void attention(const float* q, const float* k, const float* v, float* out, const int* limit,
                                     int nq, int nk, int heads, int hd, float scale) {
    __shared__ float qs[ATT_MAX_HEAD_DIM];
    __shared__ float p[ATT_THREADS];
    __shared__ float scratch[32];
    long long i = blockIdx.x;
    int h = blockIdx.y, t = threadIdx.x;
    long long row = (long long)heads * hd;
    for (int c = t; c < hd; c += blockDim.x) qs[c] = q[i * row + h * hd + c];
    __syncthreads();
    int lim = min(limit[i], nk);
    float m = NEG_INF, l = 0.0f;
    float acc[ATT_ACC];
    for (int a = 0; a < ATT_ACC; ++a) acc[a] = 0.0f;
    for (int j0 = 0; j0 < lim; j0 += ATT_THREADS) {
        int j = j0 + t;
        float s = NEG_INF;
        if (j < lim) {
            const float* kj = k + (long long)j * row + h * hd;
            float dot = 0.0f;
            for (int c = 0; c < hd; ++c) dot += qs[c] * kj[c];
            s = dot * scale;
        }
        float m_new = fmaxf(m, block_max(s, scratch));
        float corr = expf(m - m_new);
        float pj = j < lim ? expf(s - m_new) : 0.0f;
        p[t] = pj;
        l = l * corr + block_sum(pj, scratch);
        m = m_new;
        __syncthreads();
        int count = min(ATT_THREADS, lim - j0);
        for (int a = 0; a < ATT_ACC; ++a) {
            int c = t + a * ATT_THREADS;
            if (c < hd) {
                float sum = acc[a] * corr;
                for (int jj = 0; jj < count; ++jj) sum += p[jj] * v[(long long)(j0 + jj) * row + h * hd + c];
                acc[a] = sum;
            }
        }
        __syncthreads();
    }
    for (int a = 0; a < ATT_ACC; ++a) {
        int c = t + a * ATT_THREADS;
        if (c < hd) out[i * row + h * hd + c] = acc[a] / l;
    }
}

// Fallback GEMM when libcublas is absent: out[m, n] (+)= x[m, k] · w[n, k]ᵀ (beta 0 or 1), 16x16 tiles.
extern "C" __global__ void gemm_wt(const float* x, const float* w, float* out, int m, int n, int k, int accumulate) {
    __shared__ float xs[GEMM_TILE][GEMM_TILE + 1];
    __shared__ float ws[GEMM_TILE][GEMM_TILE + 1];
    int r = blockIdx.y * GEMM_TILE + threadIdx.y;
    int c = blockIdx.x * GEMM_TILE + threadIdx.x;
    float acc = 0.0f;
    for (int k0 = 0; k0 < k; k0 += GEMM_TILE) {
        int kx = k0 + threadIdx.x;
        xs[threadIdx.y][threadIdx.x] = (r < m && kx < k) ? x[(long long)r * k + kx] : 0.0f;
        int wr = blockIdx.x * GEMM_TILE + threadIdx.y;
        ws[threadIdx.y][threadIdx.x] = (wr < n && kx < k) ? w[(long long)wr * k + kx] : 0.0f;
        __syncthreads();
        for (int kk = 0; kk < GEMM_TILE; ++kk) acc += xs[threadIdx.y][kk] * ws[threadIdx.x][kk];
        __syncthreads();
    }
    if (r < m && c < n) {
        long long o = (long long)r * n + c;
        out[o] = accumulate ? out[o] + acc : acc;
    }
}

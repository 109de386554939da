// Multi-scale deformable attention as one OpenVINO operation (``m2fp::MSDeformAttn``).
//
// Why hand-written: this sampling is the one part of M2FP that no runtime does well on the
// CPU. As stock OpenVINO operations it is an EmbeddingBag sum (a reference-only kernel) fed
// by index arithmetic over 15120 x 8 x 48 corner indices per encoder layer at 1080p: about
// 0.1 s per layer. Done here per (query, head), with the 32-channel accumulators in
// registers and the four bilinear corners read straight from the value table, a layer takes
// 0.02-0.03 s (2 threads; 0.019 s alone, 0.02-0.03 s inside the network).
//
// Semantics are mmcv's ``multi_scale_deformable_attn_pytorch`` (grid_sample, bilinear,
// zero padding, align_corners=False), with the sampling position computed as
// ``ref * size + offset - 0.5`` pixels (the Python network does the same).
//
// Inputs (float32 unless noted):
//   0 value    (B, S, H, D)      S = tokens of all levels, H heads, D channels per head
//   1 offsets  (B, Q, H, L*P*2)  sampling offsets in pixels of each level, (x, y) interleaved
//   2 weights  (B, Q, H, L*P)    attention weights (already softmax-ed)
//   3 ref      (1 or B, Q, 2)    reference points (x, y) in [0, 1]
//   4 shapes   (L, 2) int32/64   (height, width) of each level; level l starts at the
//                                sum of the earlier levels' h * w in S
// Output: (B, Q, H*D).
//
// Built by desktop/engine/native_kernel.py with the C++ compiler and OpenVINO's own headers
// (the openvino wheel ships them); loaded with ``Core.add_extension``. The PyTorch frontend
// maps the TorchScript op ``m2fp::ms_deform_attn`` (desktop/engine/network/pixel_decoder.py)
// onto it when converting.
#include <openvino/core/extension.hpp>
#include <openvino/core/op_extension.hpp>
#include <openvino/core/parallel.hpp>
#include <openvino/frontend/pytorch/extension/op.hpp>
#include <openvino/op/op.hpp>
#include <cmath>
#include <cstring>
#include <vector>

namespace m2fp {

class MSDeformAttn : public ov::op::Op {
public:
    OPENVINO_OP("MSDeformAttn", "m2fp");
    MSDeformAttn() = default;
    explicit MSDeformAttn(const ov::OutputVector& args) : Op(args) { constructor_validate_and_infer_types(); }

    void validate_and_infer_types() override {
        NODE_VALIDATION_CHECK(this, get_input_size() == 5, "MSDeformAttn takes 5 inputs, got ", get_input_size());
        const auto& v = get_input_partial_shape(0);  // B, S, H, D
        const auto& o = get_input_partial_shape(1);  // B, Q, H, L*P*2
        ov::PartialShape out{ov::Dimension::dynamic(), ov::Dimension::dynamic(), ov::Dimension::dynamic()};
        if (o.rank().is_static() && o.rank().get_length() == 4) {
            out[0] = o[0];
            out[1] = o[1];
        }
        if (v.rank().is_static() && v.rank().get_length() == 4) {
            out[2] = v[2] * v[3];
        }
        set_output_type(0, get_input_element_type(0), out);
    }

    std::shared_ptr<ov::Node> clone_with_new_inputs(const ov::OutputVector& args) const override {
        return std::make_shared<MSDeformAttn>(args);
    }
    bool visit_attributes(ov::AttributeVisitor&) override { return true; }
    bool has_evaluate() const override { return true; }
    bool evaluate(ov::TensorVector& outputs, const ov::TensorVector& inputs) const override;
};

template <typename I>
static void read_shapes(const ov::Tensor& t, size_t L, std::vector<long>& hs, std::vector<long>& ws) {
    const I* p = t.data<const I>();
    for (size_t l = 0; l < L; ++l) { hs[l] = (long)p[2 * l]; ws[l] = (long)p[2 * l + 1]; }
}

// Everything inlined into the per-instruction-set entry points below, so that each is
// compiled for its own instruction set (a call out would run the baseline's code).
#if defined(__GNUC__)
#    define M2FP_INLINE __attribute__((always_inline)) inline
#else
#    define M2FP_INLINE __forceinline
#endif

struct Job {
    size_t Q, S, H, D, L, P, ref_b;
    const long *hs, *ws, *starts;
    const float *value, *off, *attn, *ref;
    float* out;
};

// One (query, head): the attention-weighted bilinear samples of every level and point.
// ``Acc`` adds ``c * row`` into an accumulator; the four corners go into four accumulators,
// so consecutive corners do not wait for each other's additions (one chain would be bound
// by the add's latency, not by the loads).
template <class Acc>
M2FP_INLINE void sample_one(const Job& j, const float* o, const float* a, const float* vb, float rx, float ry, Acc& acc) {
    const size_t row_stride = j.H * j.D;
    for (size_t l = 0; l < j.L; ++l) {
        const long Hl = j.hs[l], Wl = j.ws[l];
        const float fw = (float)Wl, fh = (float)Hl;
        const float* vl = vb + (size_t)j.starts[l] * row_stride;
        for (size_t p = 0; p < j.P; ++p) {
            const size_t i = l * j.P + p;
            const float x = rx * fw + o[2 * i] - 0.5f;
            const float y = ry * fh + o[2 * i + 1] - 0.5f;
            if (!(x > -1.0f && x < fw && y > -1.0f && y < fh)) continue;  // also NaN
            const float x0f = std::floor(x), y0f = std::floor(y);
            const long x0 = (long)x0f, y0 = (long)y0f;
            const float fx = x - x0f, fy = y - y0f, w = a[i];
            const float wy0 = (1.0f - fy) * w, wy1 = fy * w;
            const bool x0in = x0 >= 0, x1in = x0 + 1 < Wl;
            const float* r00 = vl + (size_t)(y0 * Wl + x0) * row_stride;
            if (y0 >= 0) {
                if (x0in) acc.add(0, wy0 * (1.0f - fx), r00);
                if (x1in) acc.add(1, wy0 * fx, r00 + row_stride);
            }
            if (y0 + 1 < Hl) {
                const float* r10 = r00 + (size_t)Wl * row_stride;
                if (x0in) acc.add(2, wy1 * (1.0f - fx), r10);
                if (x1in) acc.add(3, wy1 * fx, r10 + row_stride);
            }
        }
    }
}

#if defined(__GNUC__)
// 32 channels (M2FP's heads): four accumulators of two 16-float vectors, in registers.
typedef float V16 __attribute__((vector_size(64)));
struct Acc32 {
    V16 lo[4], hi[4];
    Acc32() {
        for (int k = 0; k < 4; ++k) lo[k] = hi[k] = V16{};
    }
    M2FP_INLINE void add(int k, float c, const float* row) {
        V16 a, b;
        std::memcpy(&a, row, sizeof a);
        std::memcpy(&b, row + 16, sizeof b);
        lo[k] += c * a;
        hi[k] += c * b;
    }
    M2FP_INLINE void store(float* dst) const {
        const V16 l = (lo[0] + lo[1]) + (lo[2] + lo[3]), h = (hi[0] + hi[1]) + (hi[2] + hi[3]);
        std::memcpy(dst, &l, sizeof l);
        std::memcpy(dst + 16, &h, sizeof h);
    }
};
#endif

// Any number of channels.
struct AccAny {
    float* sum;
    size_t D;
    M2FP_INLINE void add(int, float c, const float* row) {
        for (size_t d = 0; d < D; ++d) sum[d] += c * row[d];
    }
};

template <bool Fixed32>
M2FP_INLINE void run_range(const Job& j, size_t begin, size_t end) {
    const size_t D = j.D, H = j.H, LP = j.L * j.P;
    for (size_t bq = begin; bq < end; ++bq) {
        const size_t b = bq / j.Q, q = bq % j.Q;
        const float* r = j.ref + ((j.ref_b == 1 ? 0 : b) * j.Q + q) * 2;
        for (size_t h = 0; h < H; ++h) {
            const float* o = j.off + (bq * H + h) * LP * 2;
            const float* a = j.attn + (bq * H + h) * LP;
            const float* vb = j.value + (b * j.S * H + h) * D;
            float* dst = j.out + (bq * H + h) * D;
#if defined(__GNUC__)
            if constexpr (Fixed32) {
                Acc32 acc;
                sample_one(j, o, a, vb, r[0], r[1], acc);
                acc.store(dst);
                continue;
            }
#endif
            for (size_t d = 0; d < D; ++d) dst[d] = 0.0f;
            AccAny acc{dst, D};
            sample_one(j, o, a, vb, r[0], r[1], acc);
        }
    }
}

#if defined(__GNUC__) && defined(__x86_64__)
#    define M2FP_TARGET(t) __attribute__((target(t)))
#    define M2FP_MULTI 1
#else
#    define M2FP_TARGET(t)
#    define M2FP_MULTI 0
#endif

static void run_default(const Job& j, size_t b, size_t e) {
    if (j.D == 32) run_range<true>(j, b, e); else run_range<false>(j, b, e);
}
#if M2FP_MULTI
M2FP_TARGET("avx2,fma") static void run_avx2(const Job& j, size_t b, size_t e) {
    if (j.D == 32) run_range<true>(j, b, e); else run_range<false>(j, b, e);
}
M2FP_TARGET("avx512f,fma") static void run_avx512(const Job& j, size_t b, size_t e) {
    if (j.D == 32) run_range<true>(j, b, e); else run_range<false>(j, b, e);
}
#endif

using RunFn = void (*)(const Job&, size_t, size_t);
static RunFn pick() {
#if M2FP_MULTI
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return run_avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return run_avx2;
#endif
    return run_default;
}

bool MSDeformAttn::evaluate(ov::TensorVector& outputs, const ov::TensorVector& inputs) const {
    static const RunFn run = pick();
    const auto vs = inputs[0].get_shape();
    Job j{};
    const size_t B = vs[0];
    j.S = vs[1]; j.H = vs[2]; j.D = vs[3];
    j.Q = inputs[1].get_shape()[1];
    j.L = inputs[4].get_shape()[0];
    j.P = inputs[2].get_shape()[3] / j.L;
    j.ref_b = inputs[3].get_shape()[0];
    std::vector<long> hs(j.L), ws(j.L), starts(j.L);
    if (inputs[4].get_element_type() == ov::element::i64) read_shapes<int64_t>(inputs[4], j.L, hs, ws);
    else read_shapes<int32_t>(inputs[4], j.L, hs, ws);
    long start = 0;
    for (size_t l = 0; l < j.L; ++l) { starts[l] = start; start += hs[l] * ws[l]; }
    j.hs = hs.data(); j.ws = ws.data(); j.starts = starts.data();
    outputs[0].set_shape({B, j.Q, j.H * j.D});
    j.value = inputs[0].data<const float>();
    j.off = inputs[1].data<const float>();
    j.attn = inputs[2].data<const float>();
    j.ref = inputs[3].data<const float>();
    j.out = outputs[0].data<float>();
    const size_t work = B * j.Q;
    ov::parallel_nt(0, [&](const int ithr, const int nthr) {
        size_t b = 0, e = 0;
        ov::splitter(work, nthr, ithr, b, e);
        if (b < e) run(j, b, e);
    });
    return true;
}

}  // namespace m2fp

OPENVINO_CREATE_EXTENSIONS(std::vector<ov::Extension::Ptr>({
    std::make_shared<ov::OpExtension<m2fp::MSDeformAttn>>(),
    std::make_shared<ov::frontend::pytorch::OpExtension<m2fp::MSDeformAttn>>("m2fp::ms_deform_attn"),
}));

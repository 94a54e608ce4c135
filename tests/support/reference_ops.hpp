//! @file Brute-force references, written from the spec's formulas with plain loops over contiguous
//! arrays and no shared code with the library. Used by the tests as an oracle and by the benchmarks as
//! the "straightforward loop" baseline (the per-channel scheme of the original CUDA kernels).
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace reference {

struct level {
  long h, w, z, start;
};

//! Bilinear MSDA, spec §4.1–4.2: one output channel at a time, every tap recomputed per channel.
//! value [B,S,H,D], loc [B,Q,H,L,P,2], attn [B,Q,H,L,P], out [B,Q,H*D]; contiguous.
template <class T, class Acc = T>
void msda_bilinear(const T* value, const std::vector<level>& levels, const T* loc, const T* attn, T* out, long B,
                   long S, long Q, long H, long D, long P) {
  const long L = static_cast<long>(levels.size());
  for (long b = 0; b < B; ++b)
    for (long q = 0; q < Q; ++q)
      for (long h = 0; h < H; ++h)
        for (long d = 0; d < D; ++d) {
          Acc acc = 0;
          for (long l = 0; l < L; ++l)
            for (long p = 0; p < P; ++p) {
              const long li = ((((b * Q + q) * H + h) * L + l) * P + p);
              const Acc u = Acc(loc[2 * li]) * Acc(levels[l].w) - Acc(0.5);
              const Acc v = Acc(loc[2 * li + 1]) * Acc(levels[l].h) - Acc(0.5);
              if (!(u > -1 && v > -1 && u < Acc(levels[l].w) && v < Acc(levels[l].h))) continue;
              const long u0 = static_cast<long>(std::floor(u)), v0 = static_cast<long>(std::floor(v));
              Acc sample = 0;
              for (long dv = 0; dv < 2; ++dv)
                for (long du = 0; du < 2; ++du) {
                  const long row = v0 + dv, col = u0 + du;
                  if (row < 0 || row >= levels[l].h || col < 0 || col >= levels[l].w) continue;
                  const Acc wu = du ? u - Acc(u0) : Acc(1) - (u - Acc(u0));
                  const Acc wv = dv ? v - Acc(v0) : Acc(1) - (v - Acc(v0));
                  const long s = levels[l].start + row * levels[l].w + col;
                  sample += wu * wv * Acc(value[((b * S + s) * H + h) * D + d]);
                }
              acc += Acc(attn[li]) * sample;
            }
          out[(b * Q + q) * H * D + h * D + d] = static_cast<T>(acc);
        }
}

//! Trilinear MSDA, spec §3.12: location (x→w, y→h, z→z), value row (ih·w + iw)·z + iz.
template <class T, class Acc = T>
void msda_trilinear(const T* value, const std::vector<level>& levels, const T* loc, const T* attn, T* out, long B,
                    long S, long Q, long H, long D, long P) {
  const long L = static_cast<long>(levels.size());
  for (long b = 0; b < B; ++b)
    for (long q = 0; q < Q; ++q)
      for (long h = 0; h < H; ++h)
        for (long d = 0; d < D; ++d) {
          Acc acc = 0;
          for (long l = 0; l < L; ++l)
            for (long p = 0; p < P; ++p) {
              const long li = ((((b * Q + q) * H + h) * L + l) * P + p);
              const level& g = levels[l];
              const Acc hi = Acc(loc[3 * li + 1]) * Acc(g.h) - Acc(0.5);
              const Acc wi = Acc(loc[3 * li]) * Acc(g.w) - Acc(0.5);
              const Acc zi = Acc(loc[3 * li + 2]) * Acc(g.z) - Acc(0.5);
              if (!(hi > -1 && wi > -1 && zi > -1 && hi < Acc(g.h) && wi < Acc(g.w) && zi < Acc(g.z))) continue;
              const long h0 = static_cast<long>(std::floor(hi)), w0 = static_cast<long>(std::floor(wi)),
                         z0 = static_cast<long>(std::floor(zi));
              Acc sample = 0;
              for (long a = 0; a < 2; ++a)
                for (long c = 0; c < 2; ++c)
                  for (long e = 0; e < 2; ++e) {
                    const long ih = h0 + a, iw = w0 + c, iz = z0 + e;
                    if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w || iz < 0 || iz >= g.z) continue;
                    const Acc weight = (a ? hi - Acc(h0) : Acc(1) - (hi - Acc(h0))) *
                                       (c ? wi - Acc(w0) : Acc(1) - (wi - Acc(w0))) *
                                       (e ? zi - Acc(z0) : Acc(1) - (zi - Acc(z0)));
                    const long s = g.start + (ih * g.w + iw) * g.z + iz;
                    sample += weight * Acc(value[((b * S + s) * H + h) * D + d]);
                  }
              acc += Acc(attn[li]) * sample;
            }
          out[(b * Q + q) * H * D + h * D + d] = static_cast<T>(acc);
        }
}

}  // namespace reference

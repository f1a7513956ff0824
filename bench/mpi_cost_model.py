#!/usr/bin/env python3
"""Cost model of one data-parallel training step (docs/distributed.md).

A step on N ranks with a global batch B is
    t(N) = t_compute(B / N) + t_allreduce(N)
    t_allreduce(N) = 2 (N - 1) / N * S / BW + 2 (N - 1) * alpha
(a ring allreduce: reduce-scatter then allgather, each rank sends and
receives 2 (N - 1) / N of the S gradient bytes, in 2 (N - 1) messages),
with t_compute(B / N) = t_compute(B) / N: the per-sample work splits evenly
(optimistic for small shards, whose GEMMs run less efficiently).

usage: mpi_cost_model.py PARAMS STEP_MS [--alpha-us A] [--bw GBIT ...]
  PARAMS   trainable f32 parameters (gradient bytes S = 4 * PARAMS)
  STEP_MS  measured time of one step of the global batch on one process
Prints predicted step time, speed-up and efficiency for 1..64 ranks.
"""
import argparse


def predict(params, step_ms, n, gbit, alpha_us):
    s = 4.0 * params
    bw = gbit * 1e9 / 8.0  # bytes per second
    comm = 0.0 if n == 1 else (2.0 * (n - 1) / n * s / bw + 2.0 * (n - 1) * alpha_us * 1e-6) * 1e3
    comp = step_ms / n
    return comp, comm


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("params", type=int)
    ap.add_argument("step_ms", type=float)
    ap.add_argument("--alpha-us", type=float, default=5.0,
                    help="per-message latency in microseconds (default 5)")
    ap.add_argument("--bw", type=float, nargs="+", default=[10.0, 100.0],
                    help="link bandwidths in Gbit/s (default 10 100)")
    a = ap.parse_args()
    print("gradient: %d parameters = %.3f MB per allreduce; one process: %.3f ms per step"
          % (a.params, 4 * a.params / 1e6, a.step_ms))
    for gbit in a.bw:
        print("\n%g Gbit/s, alpha %g us" % (gbit, a.alpha_us))
        print("%6s %12s %12s %12s %10s %10s" % ("ranks", "compute ms", "allreduce ms",
                                                "step ms", "speed-up", "efficiency"))
        for n in (1, 2, 4, 8, 16, 32, 64):
            comp, comm = predict(a.params, a.step_ms, n, gbit, a.alpha_us)
            t = comp + comm
            print("%6d %12.3f %12.3f %12.3f %10.2f %9.0f%%" % (n, comp, comm, t, a.step_ms / t,
                                                              100.0 * a.step_ms / t / n))


if __name__ == "__main__":
    main()

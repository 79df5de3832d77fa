"""The reference publisher of the ROS 2 bridge benchmark: the same frames, topics, QoS and handshake as
`examples/bridge_bench.rs`, published by an independent DDS implementation (Cyclone DDS through its Python
binding, the DDS under rmw_cyclonedds_cpp) instead of the bridge's RustDDS. Receiving side: `bench_peer.py`.

    bench_cyclone_publisher.py --mode lockstep|free [--cameras 1] [--width 640] [--height 360] [--ticks 200]
                               [--reliability reliable|best_effort] [--rate HZ] [--dt 0.1] [--wait-secs 30]
                               [--timeout-secs 5] [--drain-secs 20]

Per tick k: /clock, then per camera image_raw (the bench's frame: gradient + noise, tick in the first 8 bytes,
camera index in byte 8) and camera_info. Writers: Reliable (max blocking 1 s) or BestEffort, KeepLast 16,
Volatile, as the bridge's. Odometry and /tf are not published (the peer does not subscribe to them). The publish
time of a frame is building the two messages plus both writes; Cyclone's write of a reliable sample also waits
while the writer's unacknowledged data is above its high watermark (Internal/Watermarks/WhcHigh), so unlike
RustDDS's it includes flow control. Prints one JSON line with the bench's keys ("bench": "cyclone").
"""

import argparse
import json
import sys
import time
from pathlib import Path

from cyclonedds.core import Policy, Qos
from cyclonedds.domain import DomainParticipant
from cyclonedds.pub import DataWriter
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic
from cyclonedds.util import duration

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "python"))
sys.path.insert(0, str(HERE))
from bench_peer import DONE, READY, RIG, FastImage  # noqa: E402
from ros2_idl import CameraInfo, Clock, Header, RegionOfInterest, Time, Twist  # noqa: E402

DEPTH = 16


def make_image(width, height, camera):
    """The bench's frame: per-channel gradients plus xorshift noise, tinted per camera (same recipe, not the same
    noise sequence: only the size and the marker bytes are checked)."""
    import random

    rng = random.Random(camera + 1)
    noise = rng.randbytes(width * height)
    out = bytearray(3 * width * height)
    for y in range(height):
        g = (255 * y // height + 64 * camera) & 0xFF
        for x in range(width):
            n = noise[y * width + x] & 0x1F
            p = 3 * (y * width + x)
            out[p] = (255 * x // width + n) & 0xFF
            out[p + 1] = (g + n) & 0xFF
            out[p + 2] = (128 + 3 * n + 40 * camera) & 0xFF
    return out


def summary(ms):
    if not ms:
        return None
    ms = sorted(ms)
    q = lambda p: ms[round((len(ms) - 1) * p)]  # noqa: E731
    r = lambda v: round(v, 3)  # noqa: E731
    return {"n": len(ms), "p50": r(q(0.5)), "p99": r(q(0.99)), "max": r(ms[-1]), "mean": r(sum(ms) / len(ms))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["lockstep", "free"], required=True)
    ap.add_argument("--cameras", type=int, default=1)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=360)
    ap.add_argument("--ticks", type=int, default=200)
    ap.add_argument("--reliability", choices=["reliable", "best_effort"], default="reliable")
    ap.add_argument("--rate", type=float, default=0.0)
    ap.add_argument("--dt", type=float, default=0.1)
    ap.add_argument("--wait-secs", type=float, default=30.0)
    ap.add_argument("--timeout-secs", type=float, default=5.0)
    ap.add_argument("--drain-secs", type=float, default=20.0)
    args = ap.parse_args()
    dt_ns = round(args.dt * 1e9)
    cams = RIG[: args.cameras]
    w, h = args.width, args.height
    frames = [make_image(w, h, i) for i in range(len(cams))]

    dp = DomainParticipant(0)
    if args.reliability == "reliable":
        qos = Qos(Policy.Reliability.Reliable(duration(seconds=1)), Policy.History.KeepLast(DEPTH), Policy.Durability.Volatile)
    else:
        qos = Qos(Policy.Reliability.BestEffort, Policy.History.KeepLast(DEPTH), Policy.Durability.Volatile)
    clock = DataWriter(dp, Topic(dp, "rt/clock", Clock), qos=qos)
    images = {c: DataWriter(dp, Topic(dp, f"rt/agent0/camera/{c}/image_raw", FastImage), qos=qos) for c in cams}
    infos = {c: DataWriter(dp, Topic(dp, f"rt/agent0/camera/{c}/camera_info", CameraInfo), qos=qos) for c in cams}
    cmd = DataReader(
        dp,
        Topic(dp, "rt/agent0/cmd_vel", Twist),
        qos=Qos(Policy.Reliability.Reliable(duration(milliseconds=100)), Policy.History.KeepLast(DEPTH)),
    )

    def take():
        return [s for s in cmd.take(N=64) if isinstance(s, Twist)]

    deadline = time.monotonic() + args.wait_secs
    while not (cmd.get_matched_publications() and all(wr.get_matched_subscriptions() for wr in images.values())):
        if time.monotonic() > deadline:
            sys.exit("no peer within --wait-secs")
        time.sleep(0.02)
    while not any(s.linear.z == READY for s in take()):
        if time.monotonic() > deadline:
            sys.exit("the peer did not say ready within --wait-secs")
        time.sleep(0.005)
    time.sleep(0.2)
    take()

    fx = 0.5 * w  # 90° horizontal field of view, as the bench
    k = [fx, 0.0, w / 2 - 0.5, 0.0, fx, h / 2 - 0.5, 0.0, 0.0, 1.0]
    p = [k[0], 0.0, k[2], 0.0, 0.0, k[4], k[5], 0.0, 0.0, 0.0, 1.0, 0.0]
    r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    frame_ms, tick_ms, wait_ms = [], [], []
    timeouts = stale = 0
    done = False
    period = 1.0 / args.rate if args.rate > 0 else None
    start = time.monotonic()
    last_published = start
    for tick in range(args.ticks):
        if period:
            due = start + tick * period
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
        tick_start = time.monotonic()
        t_ns = tick * dt_ns
        stamp = Time(t_ns // 1_000_000_000, t_ns % 1_000_000_000)
        clock.write(Clock(stamp))
        for i, c in enumerate(cams):
            buf = frames[i]
            buf[:8] = tick.to_bytes(8, "little")
            buf[8] = i
            t0 = time.monotonic()
            header = Header(stamp, f"agent0/{c}_optical")
            images[c].write(FastImage(header, h, w, "rgb8", 0, 3 * w, bytes(buf)))
            infos[c].write(CameraInfo(header, h, w, "plumb_bob", [0.0] * 5, k, r, p, 0, 0, RegionOfInterest(0, 0, 0, 0, False)))
            frame_ms.append((time.monotonic() - t0) * 1e3)
        last_published = time.monotonic()
        tick_ms.append((last_published - tick_start) * 1e3)
        if args.mode == "lockstep":
            waited = time.monotonic()
            answered = False
            while not answered:
                for s in take():
                    if s.linear.z == DONE:
                        done = True
                    elif s.linear.z != READY:
                        if round(s.linear.y) == tick % 100:
                            answered = True
                        else:
                            stale += 1
                if not answered:
                    if time.monotonic() - waited >= args.timeout_secs:
                        timeouts += 1
                        break
                    time.sleep(0.0002)
            if answered:
                wait_ms.append((time.monotonic() - waited) * 1e3)
    wall = last_published - start
    drain_start = time.monotonic()
    while not done and time.monotonic() - drain_start < args.drain_secs:
        done = any(s.linear.z == DONE for s in take())
        time.sleep(0.002)
    drain = time.monotonic() - drain_start
    time.sleep(1.0)  # as the bridge's linger

    tps = args.ticks / wall if args.ticks > 1 and wall > 0 else 0.0
    print(
        json.dumps(
            {
                "bench": "cyclone",
                "mode": args.mode,
                "reliability": args.reliability,
                "cameras": len(cams),
                "width": w,
                "height": h,
                "frame_bytes": 3 * w * h,
                "ticks": args.ticks,
                "frames": args.ticks * len(cams),
                "rate_hz": args.rate,
                "wall_s": round(wall, 3),
                "ticks_per_s": round(tps, 3),
                "frames_per_s": round(tps * len(cams), 3),
                "publish_frame_ms": summary(frame_ms),
                "tick_publish_ms": summary(tick_ms),
                "lockstep_wait_ms": summary(wait_ms),
                "lockstep_timeouts": timeouts,
                "stale_answers": stale,
                "peer_done": done,
                "drain_s": round(drain, 3),
                "warnings": [],
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()

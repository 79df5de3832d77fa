"""The receiving side of the ROS 2 bridge benchmark: an independent Cyclone DDS peer (PyPI `cyclonedds`, the
DDS under rmw_cyclonedds_cpp; types in ../python/ros2_idl.py) that subscribes to a camera rig and /clock and
measures what arrives. Its publisher is `examples/bridge_bench.rs` (the bridge's library) or, for the reference,
`bench_cyclone_publisher.py`; `scripts/bench_ros2.sh` runs them in pairs inside a network namespace.

    bench_peer.py --mode lockstep|free --cameras N --width W --height H --ticks T
                  [--reliability reliable|best_effort] [--dt 0.1] [--idle 5] [--give-up 300]

Subscribes to /agent0/camera/CAM/image_raw for the first N of front, left, rear, right (Reliable with KeepAll,
or BestEffort with KeepLast 64 to match a best-effort publisher) and /clock. Talks back on /agent0/cmd_vel
(geometry_msgs/Twist): linear.z = -1 "ready" (every reader matched a writer; repeated every 100 ms until data
comes), in lock-step one answer per tick once all N images of the tick are in (linear.x = 1, linear.y = tick mod
100), and linear.z = -2 "done" at the end (every frame in, or nothing new for --idle seconds).

Checks each image: size, encoding, stamp = tick·dt, and the publisher's marker (the first 8 bytes are the tick,
little endian, byte 8 the camera index). Prints one JSON line: frames and ticks received per second (first to
last arrival), missing frames and ticks, duplicates, bad images, /clock gaps, Cyclone's sample-lost counts.
"""

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from cyclonedds.core import InstanceState, Policy, Qos, ReadCondition, SampleState, ViewState, WaitSet
from cyclonedds.domain import DomainParticipant
from cyclonedds.idl import IdlStruct
from cyclonedds.idl._machinery import BytesMachine, StructMachine
from cyclonedds.idl.types import sequence, uint8, uint32
from cyclonedds.pub import DataWriter
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic
from cyclonedds.util import duration

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))
from ros2_idl import Clock, Header, Twist, Vector3, ns  # noqa: E402

RIG = ["front", "left", "rear", "right"]


@dataclass
class FastImage(IdlStruct, typename="sensor_msgs::msg::dds_::Image_"):
    """sensor_msgs/Image as ros2_idl.Image (same type name, fields and type object), but `data` is read and written
    as Python `bytes`: the wire form of sequence<uint8> (a uint32 count, then the bytes) without a list of
    millions of ints, which would make the peer, not the publisher, the bottleneck (22 ms per 1280×720 frame)."""

    header: Header
    height: uint32
    width: uint32
    encoding: str
    is_bigendian: uint8
    step: uint32
    data: sequence[uint8]


def _data_as_bytes(cls):
    cls.__idl__.populate()
    for machine in (cls.__idl__.v1_machine, cls.__idl__.v2_machine):
        assert isinstance(machine, StructMachine), f"unexpected machine {machine!r}"
        machine.members_machines["data"] = BytesMachine()


_data_as_bytes(FastImage)

READY, DONE = -1.0, -2.0


def qos_for(reliability):
    if reliability == "reliable":
        return Qos(Policy.Reliability.Reliable(duration(seconds=1)), Policy.History.KeepAll)
    return Qos(Policy.Reliability.BestEffort, Policy.History.KeepLast(64))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["lockstep", "free"], required=True)
    ap.add_argument("--cameras", type=int, default=1)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=360)
    ap.add_argument("--ticks", type=int, required=True)
    ap.add_argument("--reliability", choices=["reliable", "best_effort"], default="reliable")
    ap.add_argument("--dt", type=float, default=0.1)
    ap.add_argument("--idle", type=float, default=5.0)
    ap.add_argument("--give-up", type=float, default=300.0)
    args = ap.parse_args()
    dt_ns = round(args.dt * 1e9)
    cams = RIG[: args.cameras]
    frame_bytes = 3 * args.width * args.height

    dp = DomainParticipant(0)
    qos = qos_for(args.reliability)
    images = {c: DataReader(dp, Topic(dp, f"rt/agent0/camera/{c}/image_raw", FastImage), qos=qos) for c in cams}
    clock = DataReader(dp, Topic(dp, "rt/clock", Clock), qos=qos)
    # Commands are Reliable whatever the images are (the bridge subscribes Reliable, as ROS 2 defaults to).
    cmd = DataWriter(
        dp,
        Topic(dp, "rt/agent0/cmd_vel", Twist),
        qos=Qos(Policy.Reliability.Reliable(duration(seconds=1)), Policy.History.KeepLast(64)),
    )
    ws = WaitSet(dp)
    mask = SampleState.Any | ViewState.Any | InstanceState.Any
    for r in [*images.values(), clock]:
        ws.attach(ReadCondition(r, mask))

    def send(x=0.0, y=0.0, z=0.0):
        cmd.write(Twist(Vector3(x, y, z), Vector3(0.0, 0.0, 0.0)))

    start = time.monotonic()
    while time.monotonic() - start < args.give_up:
        if all(r.get_matched_publications() for r in [*images.values(), clock]) and cmd.get_matched_subscriptions():
            break
        time.sleep(0.01)
    matched_after = time.monotonic() - start

    arrivals = {}  # (tick, camera) -> arrival time of the first copy
    duplicates, bad, unexpected = 0, [], 0
    complete = {}  # tick -> time its last camera arrived
    clocks = []
    first_data = None
    last_ready = 0.0
    last_new = time.monotonic()
    expected_frames = args.ticks * len(cams)
    while time.monotonic() - start < args.give_up:
        now = time.monotonic()
        if first_data is None and now - last_ready >= 0.1:
            send(z=READY)
            last_ready = now
        if first_data is not None and now - last_new > args.idle:
            break
        ws.wait(duration(milliseconds=50))
        got_any = False
        for c in cams:
            for s in images[c].take(N=64):
                if not isinstance(s, FastImage):
                    continue
                t = time.monotonic()
                got_any = True
                stamp = ns(s.header.stamp)
                tick, rem = divmod(stamp, dt_ns)
                if rem or not 0 <= tick < args.ticks:
                    unexpected += 1
                    continue
                key = (tick, c)
                if key in arrivals:
                    duplicates += 1
                    continue
                arrivals[key] = t
                ok = (s.width, s.height, s.encoding, s.step, len(s.data)) == (
                    args.width,
                    args.height,
                    "rgb8",
                    3 * args.width,
                    frame_bytes,
                ) and s.data[:9] == tick.to_bytes(8, "little") + bytes([cams.index(c)])
                if not ok and len(bad) < 5:
                    bad.append(f"{c} tick {tick}: {s.width}x{s.height} {s.encoding} {len(s.data)} B")
                if all((tick, cc) in arrivals for cc in cams):
                    complete[tick] = t
                    if args.mode == "lockstep":
                        send(x=1.0, y=float(tick % 100))
        for s in clock.take(N=256):
            if isinstance(s, Clock):
                got_any = True
                clocks.append(ns(s.clock))
        if got_any:
            last_new = time.monotonic()
            if first_data is None:
                first_data = last_new
        if len(arrivals) >= expected_frames:
            break
    send(z=DONE)
    time.sleep(0.3)  # let the reliable "done" go out before the participant goes
    for s in clock.take(N=4096):
        if isinstance(s, Clock):
            clocks.append(ns(s.clock))

    times = sorted(arrivals.values())
    done_times = sorted(complete.values())

    def rate(ts):
        return round((len(ts) - 1) / (ts[-1] - ts[0]), 3) if len(ts) > 1 and ts[-1] > ts[0] else None

    expected_clock = [k * dt_ns for k in range(args.ticks)]
    lost = {c: images[c].get_sample_lost_status().total_count for c in cams}
    summary = {
        "bench": "peer",
        "mode": args.mode,
        "reliability": args.reliability,
        "cameras": len(cams),
        "width": args.width,
        "height": args.height,
        "ticks": args.ticks,
        "frames_expected": expected_frames,
        "frames_received": len(arrivals),
        "missing_frames": expected_frames - len(arrivals),
        "ticks_complete": len(complete),
        "missing_ticks": args.ticks - len(complete),
        "duplicates": duplicates,
        "unexpected_stamps": unexpected,
        "bad_images": bad,
        "frames_per_s": rate(times),
        "ticks_per_s": rate(done_times),
        "span_s": round(times[-1] - times[0], 3) if len(times) > 1 else None,
        "mbytes_per_s": round(rate(times) * frame_bytes / 1e6, 2) if rate(times) else None,
        "clocks": len(clocks),
        "clock_missing": len(set(expected_clock) - set(clocks)),
        "clock_in_order": clocks == sorted(clocks),
        "sample_lost": lost,
        "matched_after_s": round(matched_after, 3),
    }
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()

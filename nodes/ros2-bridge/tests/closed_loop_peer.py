"""The controller side of the ros2-bridge closed-loop live test: an independent Cyclone DDS peer (PyPI
`cyclonedds`, the DDS under rmw_cyclonedds_cpp; types in ../python/ros2_idl.py) that drives agent0 in lock-step.

    closed_loop_peer.py --ticks N [--speed 4] [--yaw-rate -0.25] [--silence-after K --silence-secs 3]
                        [--timeout-secs 1] [--dt 0.1] [--bad-at K]

For every image of agent0's front camera it publishes one geometry_msgs/Twist on /agent0/cmd_vel (forward
--speed m/s, yaw rate --yaw-rate rad/s). With --silence-after K it stops commanding for --silence-secs after the
image of tick K, and does not answer the images that arrived meanwhile. With --bad-at K it sends a NaN command
before its answer to tick K, and a command for agent7 (not controlled). It checks:
  * one image per tick 0..N-1, stamps k·dt, image = camera_info stamps, every stamp a /clock value, /clock
    strictly increasing by exactly dt with no gap (the world never skips a tick);
  * lock-step: each image after the first arrives only after the command answering the previous one was sent
    (images and commands alternate one to one), except after unanswered ticks, where the world waited about
    the timeout (at least 0.9 × and at most the timeout + 0.8 s) before going on;
  * the ego turns the commanded way: with the car at speed, each tick changes the odometry yaw by yaw-rate · dt;
  * with a silence: the car slows down while its controller is silent (the held command brakes).
Prints `SUMMARY {json}` and exits 0 only when every check passed.
"""

import argparse
import json
import math
import sys
import time
from pathlib import Path

from cyclonedds.core import Policy, Qos
from cyclonedds.domain import DomainParticipant
from cyclonedds.idl import IdlStruct
from cyclonedds.pub import DataWriter
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic
from cyclonedds.util import duration

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))
from ros2_idl import CameraInfo, Clock, Image, Odometry, Twist, Vector3, ns, yaw_of  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ticks", type=int, required=True)
    ap.add_argument("--speed", type=float, default=4.0)
    ap.add_argument("--yaw-rate", type=float, default=-0.25)
    ap.add_argument("--silence-after", type=int, default=None)
    ap.add_argument("--silence-secs", type=float, default=3.0)
    ap.add_argument("--timeout-secs", type=float, default=1.0)
    ap.add_argument("--dt", type=float, default=0.1)
    ap.add_argument("--give-up", type=float, default=120.0)
    ap.add_argument("--bad-at", type=int, default=None, help="before answering this tick, send a NaN command")
    args = ap.parse_args()
    dt_ns = round(args.dt * 1e9)

    dp = DomainParticipant(0)
    reliable = Qos(Policy.Reliability.Reliable(duration(seconds=1)), Policy.History.KeepAll)
    readers = {
        "clock": DataReader(dp, Topic(dp, "rt/clock", Clock), qos=reliable),
        "image": DataReader(dp, Topic(dp, "rt/agent0/camera/front/image_raw", Image), qos=reliable),
        "info": DataReader(dp, Topic(dp, "rt/agent0/camera/front/camera_info", CameraInfo), qos=reliable),
        "odom": DataReader(dp, Topic(dp, "rt/agent0/odom", Odometry), qos=reliable),
    }
    cmd = DataWriter(dp, Topic(dp, "rt/agent0/cmd_vel", Twist), qos=reliable)
    # A controller for an agent the bridge does not control (reported once by the bridge).
    stray = DataWriter(dp, Topic(dp, "rt/agent7/cmd_vel", Twist), qos=reliable) if args.bad_at is not None else None
    got = {k: [] for k in readers}
    image_at = []  # wall time each image was read
    command_at = {}  # tick -> wall time its answer was sent
    unanswered = []
    silent_until = None
    print("peer: ready", flush=True)
    start = time.monotonic()
    while len(got["image"]) < args.ticks and time.monotonic() - start < args.give_up:
        new_images = []
        for k, r in readers.items():
            for s in r.take(N=256):
                if isinstance(s, IdlStruct):
                    got[k].append(s)
                    if k == "image":
                        new_images.append(s)
                        image_at.append(time.monotonic())
        for im in new_images:
            tick = round(ns(im.header.stamp) / dt_ns)
            now = time.monotonic()
            if silent_until is not None and now < silent_until:
                unanswered.append(tick)
                continue
            if tick == args.bad_at:
                cmd.write(Twist(Vector3(float("nan"), 0.0, 0.0), Vector3(0.0, 0.0, args.yaw_rate)))
                stray.write(Twist(Vector3(1.0, 0.0, 0.0), Vector3(0.0, 0.0, 0.0)))
            cmd.write(Twist(Vector3(args.speed, 0.0, 0.0), Vector3(0.0, 0.0, args.yaw_rate)))
            command_at[tick] = time.monotonic()
            if args.silence_after is not None and tick == args.silence_after and silent_until is None:
                silent_until = time.monotonic() + args.silence_secs
        if not new_images:
            time.sleep(0.0005)
    time.sleep(0.5)
    for k, r in readers.items():
        for s in r.take(N=256):
            if isinstance(s, IdlStruct) and k != "image":
                got[k].append(s)

    failures = []

    def check(ok, what):
        if not ok:
            failures.append(what)

    images, infos, clocks, odoms = got["image"], got["info"], got["clock"], got["odom"]
    image_ns = [ns(im.header.stamp) for im in images]
    info_ns = [ns(i.header.stamp) for i in infos]
    clock_ns = [ns(c.clock) for c in clocks]
    check(image_ns == [k * dt_ns for k in range(args.ticks)], f"image stamps {image_ns[:4]}... are not k·dt for k < {args.ticks}")
    check(info_ns[: len(image_ns)] == image_ns, "camera_info stamps differ from image stamps")
    check(clock_ns[: args.ticks] == [k * dt_ns for k in range(args.ticks)], f"/clock {clock_ns[:4]}... is not 0, dt, 2dt, ... (gap or skip)")
    check(set(image_ns) <= set(clock_ns), "an image stamp is not a /clock value")
    for im in images:
        if (im.encoding, im.step) != ("rgb8", 3 * im.width) or len(im.data) != 3 * im.width * im.height:
            failures.append(f"image {im.width}x{im.height} {im.encoding} step {im.step}")
            break
    # Lock-step: image k+1 comes after the answer to image k; after an unanswered tick, after about the timeout.
    waits = []
    for k in range(min(len(image_at), args.ticks) - 1):
        if k in command_at:
            check(image_at[k + 1] >= command_at[k], f"image {k + 1} arrived before the command answering image {k}")
        else:
            wait = image_at[k + 1] - image_at[k]
            waits.append(round(wait, 3))
            check(0.9 * args.timeout_secs <= wait <= args.timeout_secs + 0.8, f"after unanswered tick {k} the world waited {wait:.3f} s")
    # The ego turns the commanded way: once at speed, yaw changes by yaw_rate · dt per tick.
    yaws = [yaw_of(o.pose.pose.orientation) for o in odoms]
    speeds = [o.twist.twist.linear.x for o in odoms]
    dyaws = [math.remainder(b - a, 2 * math.pi) for a, b in zip(yaws, yaws[1:])]
    at_speed = [d for d, v0, v1 in zip(dyaws, speeds, speeds[1:]) if abs(v0 - args.speed) < 0.05 and abs(v1 - args.speed) < 0.05]
    check(len(at_speed) >= 3, f"the car never cruised at {args.speed} m/s: speeds {[round(v, 2) for v in speeds]}")
    check(all(abs(d - args.yaw_rate * args.dt) < 0.05 * abs(args.yaw_rate * args.dt) + 1e-4 for d in at_speed),
          f"yaw per tick at speed {at_speed[:5]} != yaw_rate·dt = {args.yaw_rate * args.dt}")
    total_turn = sum(dyaws)
    check(total_turn * args.yaw_rate > 0, f"the car turned {total_turn:.3f} rad, the command was {args.yaw_rate} rad/s")
    if args.silence_after is not None:
        s = args.silence_after
        check(len(unanswered) >= 2, f"only {len(unanswered)} ticks went unanswered in {args.silence_secs} s of silence")
        if unanswered:
            last = unanswered[-1]
            check(speeds[last + 1] < speeds[s + 1] - 0.5, f"the car did not brake while its controller was silent: {speeds[s + 1]:.2f} -> {speeds[last + 1]:.2f} m/s")
    summary = {
        "images": len(images),
        "camera_infos": len(infos),
        "clocks": len(clocks),
        "odoms": len(odoms),
        "commands": len(command_at),
        "unanswered": unanswered,
        "waits_after_unanswered_s": waits,
        "turn_rad": round(total_turn, 4),
        "yaw_per_tick_at_speed": [round(d, 5) for d in at_speed[:5]],
        "wall_secs": round(image_at[-1] - image_at[0], 3) if image_at else None,
        "failures": failures,
    }
    print("SUMMARY " + json.dumps(summary), flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

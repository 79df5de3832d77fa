"""Reads the ROS 2 bag a lock-step closed-loop run recorded (`<out>/rosbag2`, rosbag2 layout, MCAP) with an
independent implementation, the Python `rosbags` package (Jazzy typestore), and checks it as the live peer
checks the DDS traffic:

    check_bag.py BAG_DIR --ticks N [--dt 0.1] [--yaw-rate -0.25]

* topics and types: /clock, /agent0/odom, /tf, /tf_static, /agent0/camera/front/{image_raw,camera_info},
  /agent0/cmd_vel;
* /clock: exactly 0, dt, 2dt, ... (N values); one image, camera_info, odom per tick with the clock's stamps;
  log time = stamp;
* images rgb8, step = 3·width; /tf_static holds agent0/base_link -> agent0/front_optical;
* every command is logged at a /clock value, and the odometry yaw turns the way the commands say.
Prints `BAG {json}`; exits 0 only when every check passed.
"""

import argparse
import json
import math
import sys

from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore


def ns(t):
    return t.sec * 1_000_000_000 + t.nanosec


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bag")
    ap.add_argument("--ticks", type=int, required=True)
    ap.add_argument("--dt", type=float, default=0.1)
    ap.add_argument("--yaw-rate", type=float, default=-0.25)
    args = ap.parse_args()
    dt_ns = round(args.dt * 1e9)
    store = get_typestore(Stores.ROS2_JAZZY)
    msgs = {}
    types = {}
    with Reader(args.bag) as reader:
        for conn in reader.connections:
            types[conn.topic] = conn.msgtype
        for conn, log_ns, raw in reader.messages():
            msgs.setdefault(conn.topic, []).append((log_ns, store.deserialize_cdr(raw, conn.msgtype)))
    failures = []

    def check(ok, what):
        if not ok:
            failures.append(what)

    expected = {
        "/clock": "rosgraph_msgs/msg/Clock",
        "/agent0/odom": "nav_msgs/msg/Odometry",
        "/tf": "tf2_msgs/msg/TFMessage",
        "/tf_static": "tf2_msgs/msg/TFMessage",
        "/agent0/camera/front/image_raw": "sensor_msgs/msg/Image",
        "/agent0/camera/front/camera_info": "sensor_msgs/msg/CameraInfo",
        "/agent0/cmd_vel": "geometry_msgs/msg/Twist",
    }
    for topic, ty in expected.items():
        check(types.get(topic) == ty, f"{topic}: type {types.get(topic)}, expected {ty}")
    ticks = [k * dt_ns for k in range(args.ticks)]
    clock = [ns(m.clock) for _, m in msgs.get("/clock", [])]
    check(clock == ticks, f"/clock {clock[:4]}... != 0, dt, 2dt, ... ({len(clock)} values)")
    for topic in ["/agent0/odom", "/agent0/camera/front/image_raw", "/agent0/camera/front/camera_info"]:
        stamps = [ns(m.header.stamp) for _, m in msgs.get(topic, [])]
        check(stamps == ticks, f"{topic}: stamps {stamps[:4]}... ({len(stamps)}) are not one per tick")
        check(all(t == ns(m.header.stamp) for t, m in msgs.get(topic, [])), f"{topic}: log time != stamp")
    for _, im in msgs.get("/agent0/camera/front/image_raw", [])[:1]:
        check((im.encoding, im.step, len(im.data)) == ("rgb8", 3 * im.width, 3 * im.width * im.height),
              f"image {im.encoding} step {im.step}")
    statics = [t for _, m in msgs.get("/tf_static", []) for t in m.transforms]
    check(any((t.header.frame_id, t.child_frame_id) == ("agent0/base_link", "agent0/front_optical") for t in statics),
          "/tf_static: no agent0/base_link -> agent0/front_optical")
    commands = msgs.get("/agent0/cmd_vel", [])
    check(len(commands) >= args.ticks - 1, f"{len(commands)} commands recorded for {args.ticks} ticks")
    check(all(t in set(ticks) for t, _ in commands), "a command's log time is not a /clock value")
    check(all(abs(m.angular.z - args.yaw_rate) < 1e-9 for _, m in commands), "command yaw rates differ from what was sent")
    yaws = [
        math.atan2(2 * (o.pose.pose.orientation.w * o.pose.pose.orientation.z), 1 - 2 * o.pose.pose.orientation.z ** 2)
        for _, o in msgs.get("/agent0/odom", [])
    ]
    turn = sum(math.remainder(b - a, 2 * math.pi) for a, b in zip(yaws, yaws[1:]))
    check(turn * args.yaw_rate > 0, f"odometry turned {turn:.3f} rad for a yaw rate of {args.yaw_rate}")
    summary = {t: len(v) for t, v in sorted(msgs.items())}
    summary["turn_rad"] = round(turn, 4)
    summary["failures"] = failures
    print("BAG " + json.dumps(summary), flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

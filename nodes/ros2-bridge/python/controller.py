"""Example ROS 2 controller for worldflow's closed loop (graphs/closed-loop.yml), without a ROS install: Eclipse
Cyclone DDS through the PyPI `cyclonedds` package (`scripts/setup.sh` installs it into `.cache/py`).

    .cache/py/bin/python nodes/ros2-bridge/python/controller.py [--agent 0] [--speed 5] [--ackermann]

It follows a route through the built-in town by pure pursuit on `/agentN/odom`: for every odometry message (one
per tick) it publishes one command — a `geometry_msgs/Twist` on `/agentN/cmd_vel` (forward speed, yaw rate
positive = left, REP-103) or, with --ackermann, an `ackermann_msgs/AckermannDriveStamped` on
`/agentN/ackermann_cmd` (speed, wheel angle positive = left). At the end of the route it commands a stop.
The default route is agent0's lane in the built-in town: north from the spawn, a right turn of radius 7 m,
then east. Another route: --route "x,y;x,y;..." (map frame, metres).

Keep the traffic on this host: CYCLONEDDS_URI with a loopback interface, and the graph with
--set bridge.ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST.
"""

import argparse
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ros2_idl import (  # noqa: E402
    AckermannDrive,
    AckermannDriveStamped,
    Header,
    Odometry,
    Time,
    Twist,
    Vector3,
    yaw_of,
)

WHEELBASE_M = 2.7  # the built-in car's (worldflow_world::BicycleParams::default)


def default_route():
    """agent0's lane of the built-in town: north along x = 5.25, a right turn about (12.25, 36.55), east."""
    route = [(5.25, 20.0 + 2.0 * i) for i in range(9)]  # up to y = 36
    cx, cy, r = 12.25, 36.55, 7.0
    for i in range(1, 10):
        a = math.pi - (math.pi / 2) * i / 10  # from west of the centre round to north of it
        route.append((cx + r * math.cos(a), cy + r * math.sin(a)))
    route += [(12.25 + 2.0 * i, 43.55) for i in range(0, 25)]
    return route


def pure_pursuit(route, x, y, yaw, lookahead_m):
    """Curvature (1/m, positive = left) towards the first route point at least `lookahead_m` ahead, and whether
    the route is done. Points already passed are dropped from `route`."""
    while len(route) > 1 and math.hypot(route[0][0] - x, route[0][1] - y) < lookahead_m:
        route.pop(0)
    tx, ty = route[0]
    dx, dy = tx - x, ty - y
    dist = math.hypot(dx, dy)
    if len(route) == 1 and dist < 1.0:
        return 0.0, True
    alpha = math.atan2(dy, dx) - yaw
    return 2.0 * math.sin(alpha) / max(dist, 1e-3), False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agent", type=int, default=0)
    ap.add_argument("--speed", type=float, default=5.0, help="cruise speed, m/s")
    ap.add_argument("--lookahead", type=float, default=5.0, help="pure-pursuit look-ahead, m")
    ap.add_argument("--ackermann", action="store_true", help="send AckermannDriveStamped instead of Twist")
    ap.add_argument("--route", help='waypoints "x,y;x,y;..." in the map frame (default: the built-in route)')
    ap.add_argument("--domain", type=int, default=0, help="ROS_DOMAIN_ID")
    ap.add_argument("--idle", type=float, default=10.0, help="exit after this long without odometry, s")
    args = ap.parse_args()
    route = (
        [tuple(float(v) for v in p.split(",")) for p in args.route.split(";")] if args.route else default_route()
    )

    dp = DomainParticipant(args.domain)
    reliable = Qos(Policy.Reliability.Reliable(duration(seconds=1)), Policy.History.KeepLast(16))
    odom = DataReader(dp, Topic(dp, f"rt/agent{args.agent}/odom", Odometry), qos=reliable)
    if args.ackermann:
        writer = DataWriter(dp, Topic(dp, f"rt/agent{args.agent}/ackermann_cmd", AckermannDriveStamped), qos=reliable)
    else:
        writer = DataWriter(dp, Topic(dp, f"rt/agent{args.agent}/cmd_vel", Twist), qos=reliable)
    print(f"controller: following {len(route)} waypoints as agent{args.agent}", flush=True)

    last = time.monotonic()
    done = False
    while time.monotonic() - last < args.idle:
        samples = [s for s in odom.take(N=64) if isinstance(s, IdlStruct)]
        if not samples:
            time.sleep(0.001)
            continue
        last = time.monotonic()
        for o in samples:  # one command per tick
            p = o.pose.pose
            curvature, done = pure_pursuit(route, p.position.x, p.position.y, yaw_of(p.orientation), args.lookahead)
            speed = 0.0 if done else args.speed
            if args.ackermann:
                drive = AckermannDrive(math.atan(curvature * WHEELBASE_M), 0.0, speed, 0.0, 0.0)
                stamp = o.header.stamp
                writer.write(AckermannDriveStamped(Header(Time(stamp.sec, stamp.nanosec), f"agent{args.agent}/base_link"), drive))
            else:
                writer.write(Twist(Vector3(speed, 0.0, 0.0), Vector3(0.0, 0.0, speed * curvature)))
        if done:
            print("controller: end of the route; stopping", flush=True)
    print("controller: no odometry for a while; exiting", flush=True)


if __name__ == "__main__":
    main()

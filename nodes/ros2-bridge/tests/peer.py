"""An independent ROS 2 peer for the ros2-bridge live test: Eclipse Cyclone DDS (the DDS under
rmw_cyclonedds_cpp) through its Python binding, no ROS install. The ROS 2 message types are Cyclone IDL structs
with the DDS names ROS 2 uses (`rt/<topic>`, `<pkg>::msg::dds_::<Type>_`): ../python/ros2_idl.py.

    peer.py [--agent 0] [--camera front] [--timeout 120] [--idle 4]

Subscribes (reliable) to /clock, /agentN/camera/CAM/{image_raw,camera_info}, /agentN/odom, /tf, /tf_static;
stops when nothing arrived for --idle seconds after the first image, or at --timeout. Checks what arrived,
prints `SUMMARY {json}` and exits 0 only when every check passed.
"""

import argparse
import json
import sys
import time
from pathlib import Path

from cyclonedds.core import Policy, Qos
from cyclonedds.domain import DomainParticipant
from cyclonedds.idl import IdlStruct
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic
from cyclonedds.util import duration

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))
from ros2_idl import CameraInfo, Clock, Image, Odometry, TFMessage, ns  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--agent", type=int, default=0)
    ap.add_argument("--camera", default="front")
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--idle", type=float, default=4.0)
    args = ap.parse_args()
    a, cam = args.agent, args.camera

    dp = DomainParticipant(0)
    reliable = Qos(Policy.Reliability.Reliable(duration(seconds=1)), Policy.History.KeepAll)
    latched = Qos(
        Policy.Reliability.Reliable(duration(seconds=1)), Policy.Durability.TransientLocal, Policy.History.KeepLast(1)
    )
    readers = {
        "clock": DataReader(dp, Topic(dp, "rt/clock", Clock), qos=reliable),
        "image": DataReader(dp, Topic(dp, f"rt/agent{a}/camera/{cam}/image_raw", Image), qos=reliable),
        "info": DataReader(dp, Topic(dp, f"rt/agent{a}/camera/{cam}/camera_info", CameraInfo), qos=reliable),
        "odom": DataReader(dp, Topic(dp, f"rt/agent{a}/odom", Odometry), qos=reliable),
        "tf": DataReader(dp, Topic(dp, "rt/tf", TFMessage), qos=reliable),
        "tf_static": DataReader(dp, Topic(dp, "rt/tf_static", TFMessage), qos=latched),
    }
    got = {k: [] for k in readers}
    print("peer: subscribed", flush=True)
    start = time.monotonic()
    last = None
    while True:
        now = time.monotonic()
        if now - start > args.timeout or (last is not None and now - last > args.idle):
            break
        any_new = False
        for k, r in readers.items():
            for s in r.take(N=256):
                # Skip the invalid samples that tell of a writer going away (dispose / unregister).
                if isinstance(s, IdlStruct):
                    got[k].append(s)
                    any_new = True
        if any_new and got["image"]:
            last = time.monotonic()
        if not any_new:
            time.sleep(0.02)

    failures = []

    def check(ok, what):
        if not ok:
            failures.append(what)

    images, infos, clocks, odoms = got["image"], got["info"], got["clock"], got["odom"]
    check(len(images) > 0, "no image arrived")
    check(len(clocks) > 0, "no /clock arrived")
    check(len(odoms) > 0, "no odom arrived")
    for im in images:
        if (im.encoding, im.step, len(im.data), im.is_bigendian) != ("rgb8", 3 * im.width, 3 * im.width * im.height, 0):
            failures.append(f"image {im.width}x{im.height} {im.encoding} step {im.step} with {len(im.data)} bytes")
            break
        if im.header.frame_id != f"agent{a}/{cam}_optical":
            failures.append(f"image frame_id {im.header.frame_id}")
            break
    image_stamps = [ns(im.header.stamp) for im in images]
    info_stamps = [ns(i.header.stamp) for i in infos]
    # Each topic may miss its first samples (written before the DDS match completed); from the later of the two
    # first stamps on, every image has its camera_info with the same stamp.
    common = max(image_stamps[:1] + info_stamps[:1], default=0)
    check([t for t in image_stamps if t >= common] == [t for t in info_stamps if t >= common],
          f"camera_info stamps {info_stamps[:5]}... != image stamps {image_stamps[:5]}...")
    for i in infos:
        if i.distortion_model != "plumb_bob" or i.k[8] != 1.0 or i.k[0] <= 0 or (i.width, i.height) != (
            images[0].width if images else 0,
            images[0].height if images else 0,
        ):
            failures.append(f"camera_info {i.width}x{i.height} {i.distortion_model} K={list(i.k)}")
            break
    clock_ns = [ns(c.clock) for c in clocks]
    check(all(b > a_ for a_, b in zip(clock_ns, clock_ns[1:])), "/clock not strictly increasing")
    # Reliable delivery: once a stream has started it has no gaps (a missing tick shows as a larger step).
    steps = sorted({b - a_ for a_, b in zip(clock_ns, clock_ns[1:])})
    check(len(steps) <= 1, f"/clock has gaps: steps {steps[:5]} ns")
    image_steps = sorted({b - a_ for a_, b in zip(image_stamps, image_stamps[1:])})
    check(len(image_steps) <= 1, f"image_raw has gaps: steps {image_steps[:5]} ns")
    info_steps = sorted({b - a_ for a_, b in zip(info_stamps, info_stamps[1:])})
    check(len(info_steps) <= 1, f"camera_info has gaps: steps {info_steps[:5]} ns")
    odom_ns = [ns(o.header.stamp) for o in odoms]
    odom_steps = sorted({b - a_ for a_, b in zip(odom_ns, odom_ns[1:])})
    check(len(odom_steps) <= 1, f"odom has gaps: steps {odom_steps[:5]} ns")
    clock_set = set(clock_ns)
    check(all(s in clock_set for s in image_stamps if clock_ns and s >= clock_ns[0]), "an image stamp is not a /clock value")
    for o in odoms:
        if (o.header.frame_id, o.child_frame_id) != ("map", f"agent{a}/base_link"):
            failures.append(f"odom frames {o.header.frame_id} -> {o.child_frame_id}")
            break
    tfs = [t for m in got["tf"] for t in m.transforms]
    check(len(tfs) > 0 and all(t.header.frame_id == "map" and t.child_frame_id == f"agent{a}/base_link" for t in tfs),
          "/tf: expected map -> base_link transforms")
    statics = [t for m in got["tf_static"] for t in m.transforms]
    check(any(t.header.frame_id == f"agent{a}/base_link" and t.child_frame_id == f"agent{a}/{cam}_optical"
              for t in statics), "/tf_static: no base_link -> optical transform")
    first_odom_before_image = bool(odoms) and bool(images) and ns(odoms[0].header.stamp) <= image_stamps[0]
    summary = {
        "images": len(images),
        "camera_infos": len(infos),
        "clocks": len(clocks),
        "odoms": len(odoms),
        "tf": len(tfs),
        "tf_static": len(statics),
        "size": [images[0].width, images[0].height] if images else None,
        "first_stamp_ns": image_stamps[0] if images else None,
        "first_info_ns": info_stamps[0] if infos else None,
        "first_clock_ns": clock_ns[0] if clocks else None,
        "first_odom_ns": odom_ns[0] if odoms else None,
        "last_stamp_ns": image_stamps[-1] if images else None,
        "odom_distance_m": (
            ((odoms[-1].pose.pose.position.x - odoms[0].pose.pose.position.x) ** 2
             + (odoms[-1].pose.pose.position.y - odoms[0].pose.pose.position.y) ** 2) ** 0.5
            if odoms else 0.0
        ),
        "max_forward_mps": max((o.twist.twist.linear.x for o in odoms), default=0.0),
        "first_odom_before_image": first_odom_before_image,
        "failures": failures,
    }
    print("SUMMARY " + json.dumps(summary), flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

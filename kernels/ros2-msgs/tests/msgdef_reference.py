#!/usr/bin/env python3
"""Checks the `ros2msg` definitions of worldflow-ros2-msgs (`Message::DEFINITION`) against rosbags.

Usage: msgdef_reference.py DEFINITIONS.json

DEFINITIONS.json is a list of {"type": "nav_msgs/msg/Odometry", "definition": "<our text>"}. For each type:

1. the text must equal `typestore.generate_msgdef(type, ros_version=2)` of rosbags' ROS 2 Jazzy typestore
   (what rosbags writes into the MCAP schemas of the bags it records), character for character;
2. rosbags' own .msg parser must read our text back (as it reads a schema from a bag) into exactly the
   field definitions the typestore has, for the type and every nested type the text includes.

`ackermann_msgs` is not in the Jazzy store: it is registered from its .msg text (the same text
cdr_reference.py uses). Exits 1 on any difference, naming the type and the first differing line.
"""

import json
import os
import sys

from rosbags.typesys import Stores, get_types_from_msg, get_typestore

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cdr_reference import ACKERMANN  # noqa: E402 - the one copy of the ackermann_msgs .msg text


def first_line_difference(ours, theirs):
    a, b = ours.split("\n"), theirs.split("\n")
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"line {i + 1}: worldflow {x!r}, rosbags {y!r}"
    return f"line {min(len(a), len(b)) + 1}: one text ends ({len(a)} vs {len(b)} lines)"


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        cases = json.load(f)

    store = get_typestore(Stores.ROS2_JAZZY)
    extra = {}
    for name, text in ACKERMANN.items():
        extra.update(get_types_from_msg(text, name))
    store.register(extra)

    failures = 0
    for case in cases:
        typename, ours = case["type"], case["definition"]
        try:
            theirs, _md5 = store.generate_msgdef(typename, ros_version=2)
            parsed = get_types_from_msg(ours, typename)
        except Exception as e:  # noqa: BLE001 - any failure of rosbags on a case is that case's failure
            print(f"FAIL {typename}: {type(e).__name__}: {e}")
            failures += 1
            continue
        if ours != theirs:
            print(f"MISMATCH {typename}: text differs from generate_msgdef at {first_line_difference(ours, theirs)}")
            failures += 1
            continue
        differing = [
            name for name, (consts, fields) in parsed.items() if (consts, fields) != tuple(store.fielddefs[name])
        ]
        if differing:
            print(f"MISMATCH {typename}: parsed back, these types' fields differ from the typestore: {differing}")
            failures += 1
            continue
        print(f"ok {typename}: identical to generate_msgdef, {len(parsed)} types parse to the typestore's fields")
    print(f"{len(cases) - failures}/{len(cases)} definitions identical to rosbags (Jazzy typestore)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

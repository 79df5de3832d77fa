#!/usr/bin/env python3
"""Checks CDR bytes made by worldflow-ros2-msgs against rosbags' ROS 2 Jazzy typestore (an independent CDR
implementation).

Usage: cdr_reference.py CASES.json

CASES.json is a list of {"type": "sensor_msgs/msg/Image", "value": <the message as JSON>, "cdr_hex": "..."}.
Each value is rebuilt as a rosbags message, field by field from the typestore's definitions (so a field name
missing on either side fails), serialized with typestore.serialize_cdr and compared with cdr_hex. The rosbags
bytes are also decoded again and re-serialized as a self-check. Exits 1 on any mismatch, naming the type and
the first differing byte offset (counted from the start of the payload, encapsulation header included).
"""

import json
import sys

import numpy as np
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Nodetype

# ackermann_msgs is not part of the Jazzy store: its definitions, as in ros-drivers/ackermann_msgs (ros2).
ACKERMANN = {
    "ackermann_msgs/msg/AckermannDrive": """
float32 steering_angle
float32 steering_angle_velocity
float32 speed
float32 acceleration
float32 jerk
""",
    "ackermann_msgs/msg/AckermannDriveStamped": """
std_msgs/Header header
ackermann_msgs/AckermannDrive drive
""",
}

NUMPY_TYPES = {
    "bool": np.bool_,
    "byte": np.uint8,
    "char": np.uint8,
    "int8": np.int8,
    "uint8": np.uint8,
    "int16": np.int16,
    "uint16": np.uint16,
    "int32": np.int32,
    "uint32": np.uint32,
    "int64": np.int64,
    "uint64": np.uint64,
    "float32": np.float32,
    "float64": np.float64,
}


def build(store, typename, value, path):
    """Builds a rosbags message of `typename` from its JSON form, checking the field names on both sides."""
    _, fields = store.fielddefs[typename]
    names = [name for name, _ in fields]
    if not isinstance(value, dict):
        raise ValueError(f"{path}: expected an object for {typename}, got {type(value).__name__}")
    if sorted(names) != sorted(value):
        raise ValueError(f"{path}: {typename} has fields {names}, the JSON has {list(value)}")
    args = {}
    for name, desc in fields:
        args[name] = build_field(store, desc, value[name], f"{path}.{name}")
    return store.types[typename](**args)


def build_field(store, desc, value, path):
    kind, rest = desc
    if kind == Nodetype.BASE:
        base, _bound = rest
        if base == "string":
            return str(value)
        if base == "bool":
            return bool(value)
        if base.startswith("float"):
            return float(value)
        return int(value)
    if kind == Nodetype.NAME:
        return build(store, rest, value, path)
    if kind in (Nodetype.ARRAY, Nodetype.SEQUENCE):
        (elem_kind, elem_rest), count = rest
        if not isinstance(value, list):
            raise ValueError(f"{path}: expected a list, got {type(value).__name__}")
        if kind == Nodetype.ARRAY and len(value) != count:
            raise ValueError(f"{path}: fixed array of {count} elements, the JSON has {len(value)}")
        if elem_kind == Nodetype.BASE and elem_rest[0] in NUMPY_TYPES:
            return np.array(value, dtype=NUMPY_TYPES[elem_rest[0]])
        return [build_field(store, (elem_kind, elem_rest), v, f"{path}[{i}]") for i, v in enumerate(value)]
    raise ValueError(f"{path}: unsupported field kind {kind}")


def first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


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
    for i, case in enumerate(cases):
        typename = case["type"]
        expected = bytes.fromhex(case["cdr_hex"])
        try:
            msg = build(store, typename, case["value"], typename)
            ours = bytes(store.serialize_cdr(msg, typename))
            again = bytes(store.serialize_cdr(store.deserialize_cdr(ours, typename), typename))
        except Exception as e:  # noqa: BLE001 - any failure of rosbags on a case is reported as that case's failure
            print(f"FAIL case {i} {typename}: {type(e).__name__}: {e}")
            failures += 1
            continue
        if again != ours:
            print(f"FAIL case {i} {typename}: rosbags does not round-trip its own bytes")
            failures += 1
        elif ours != expected:
            at = first_difference(ours, expected)
            got = f"0x{expected[at]:02x}" if at < len(expected) else "end"
            want = f"0x{ours[at]:02x}" if at < len(ours) else "end"
            print(
                f"MISMATCH case {i} {typename}: first differing byte at offset {at} "
                f"(worldflow {got}, rosbags {want}); lengths worldflow {len(expected)}, rosbags {len(ours)}"
            )
            failures += 1
        else:
            print(f"ok case {i} {typename} ({len(ours)} bytes)")
    print(f"{len(cases) - failures}/{len(cases)} cases byte-identical to rosbags (Jazzy typestore)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

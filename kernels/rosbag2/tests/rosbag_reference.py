#!/usr/bin/env python3
"""Reads a bag written by worldflow-rosbag2 with two independent implementations and checks it against what
was written.

Usage: rosbag_reference.py EXPECTED.json

EXPECTED.json: {"bag_dir", "mcap_path", "topics": [{"topic", "type", "definition", "qos"}],
"messages": [{"topic", "type", "log_time_ns", "value": <message as JSON>, "cdr_hex"}] in write order}.

1. rosbags (`rosbags.rosbag2.Reader` on the bag directory: metadata.yaml, then the MCAP file): topics,
   types, message counts, QoS, the bag's ros2msg definitions (equal to the Jazzy typestore's
   generate_msgdef), every message's log time, bytes and field values, decoded with the Jazzy typestore and
   again with a typestore built only from the bag's own schemas, in log-time order.
2. mcap (the MCAP authors' reader): a streaming read with CRC validation (every chunk's CRC and the
   data-section CRC), the record sequence, the summary (profile, statistics, schemas, channels and their
   rosbag2 metadata keys, chunk indexes), the summary CRC, the rosbag2 Metadata record, and every message's
   channel, sequence, log/publish time and bytes, in file order (= write order) and in log-time order.

Exits 1 on the first failed check of each part, saying what differs.
"""

import json
import sys
import zlib
from pathlib import Path

import numpy as np
from mcap.reader import make_reader
from mcap.records import Channel, Chunk, DataEnd, Footer, Header, Message, MessageIndex, Schema
from mcap.stream_reader import StreamReader
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Nodetype
from ruamel.yaml import YAML

# ackermann_msgs is not in the Jazzy store: its .msg text as in ros-drivers/ackermann_msgs (ros2), the one copy
# kept beside the CDR check of worldflow-ros2-msgs.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "ros2-msgs" / "tests"))
from cdr_reference import ACKERMANN  # noqa: E402


class CheckError(Exception):
    pass


def check(cond, what):
    if not cond:
        raise CheckError(what)


def compare(store, typename, msg, expected, path):
    """Compares a decoded rosbags message with its JSON form, field by field (float32 rounded as stored)."""
    _, fields = store.fielddefs[typename]
    names = [name for name, _ in fields]
    check(sorted(names) == sorted(expected), f"{path}: {typename} has fields {names}, expected {list(expected)}")
    for name, desc in fields:
        compare_field(store, desc, getattr(msg, name), expected[name], f"{path}.{name}")


def compare_field(store, desc, actual, expected, path):
    kind, rest = desc
    if kind == Nodetype.BASE:
        base = rest[0]
        if base == "float32":
            ok = np.float32(actual) == np.float32(expected)
        elif base == "float64":
            ok = float(actual) == float(expected)
        elif base == "string":
            ok = actual == expected
        elif base == "bool":
            ok = bool(actual) == bool(expected)
        else:
            ok = int(actual) == int(expected)
        check(ok, f"{path}: rosbags read {actual!r}, we wrote {expected!r}")
    elif kind == Nodetype.NAME:
        compare(store, rest, actual, expected, path)
    else:
        elem, _count = rest
        check(len(actual) == len(expected), f"{path}: {len(actual)} elements read, {len(expected)} written")
        for i, (a, e) in enumerate(zip(actual, expected)):
            compare_field(store, elem, a, e, f"{path}[{i}]")


def jazzy_store():
    store = get_typestore(Stores.ROS2_JAZZY)
    extra = {}
    for name, text in ACKERMANN.items():
        extra.update(get_types_from_msg(text, name))
    store.register(extra)
    return store


def by_log_time(messages):
    """The written messages in log-time order, equal times in write order (a stable sort)."""
    return sorted(messages, key=lambda m: m["log_time_ns"])


def check_rosbags(exp):
    jazzy = jazzy_store()
    own = get_typestore(Stores.EMPTY)
    topics = {t["topic"]: t for t in exp["topics"]}
    counts = {}
    for m in exp["messages"]:
        counts[m["topic"]] = counts.get(m["topic"], 0) + 1
    with Reader(Path(exp["bag_dir"])) as reader:
        conns = {c.topic: c for c in reader.connections}
        check(sorted(conns) == sorted(topics), f"topics: rosbags sees {sorted(conns)}, we wrote {sorted(topics)}")
        own_types = {}
        for name, t in topics.items():
            c = conns[name]
            check(c.msgtype == t["type"], f"{name}: type {c.msgtype}, expected {t['type']}")
            check(c.msgcount == counts.get(name, 0), f"{name}: {c.msgcount} messages in metadata, {counts.get(name, 0)} written")
            check(c.ext.serialization_format == "cdr", f"{name}: serialization {c.ext.serialization_format}")
            check(len(c.ext.offered_qos_profiles) == 1, f"{name}: QoS {c.ext.offered_qos_profiles}")
            check(c.msgdef.data == t["definition"], f"{name}: the schema in the bag is not the definition we gave")
            reference, _ = jazzy.generate_msgdef(c.msgtype, ros_version=2)
            check(c.msgdef.data == reference, f"{name}: the bag's definition of {c.msgtype} differs from rosbags'")
            own_types.update(get_types_from_msg(c.msgdef.data, c.msgtype))
        own.register(own_types)
        qos = conns["/tf_static"].ext.offered_qos_profiles[0]
        check(qos.durability.name == "TRANSIENT_LOCAL", f"/tf_static durability {qos.durability.name}")
        check(qos.history.name == "KEEP_LAST" and qos.depth == 1, f"/tf_static history {qos.history.name} {qos.depth}")
        check(conns["/clock"].ext.offered_qos_profiles[0].reliability.name == "RELIABLE", "/clock reliability")
        got = list(reader.messages())
        want = by_log_time(exp["messages"])
        check(len(got) == len(want), f"{len(got)} messages read, {len(want)} written")
        check(reader.message_count == len(want), f"metadata message_count {reader.message_count}")
        check(reader.start_time == want[0]["log_time_ns"], f"start time {reader.start_time}")
        check(reader.end_time == want[-1]["log_time_ns"] + 1, f"end time {reader.end_time} (rosbags: last + 1)")
        for i, ((conn, timestamp, raw), w) in enumerate(zip(got, want)):
            where = f"message {i} ({w['topic']} at {w['log_time_ns']} ns)"
            check(conn.topic == w["topic"], f"{where}: rosbags read topic {conn.topic} there")
            check(timestamp == w["log_time_ns"], f"{where}: rosbags read log time {timestamp}")
            check(bytes(raw).hex() == w["cdr_hex"], f"{where}: the bytes differ")
            for name, store in (("Jazzy typestore", jazzy), ("bag's own schemas", own)):
                compare(store, conn.msgtype, store.deserialize_cdr(raw, conn.msgtype), w["value"], f"{where} [{name}]")
    return f"rosbags: {len(got)} messages on {len(topics)} topics, log times, bytes and every field as written"


def check_mcap(exp):
    path = Path(exp["mcap_path"])
    data = path.read_bytes()
    written = exp["messages"]
    topics = {t["topic"]: t for t in exp["topics"]}

    # Streaming read with CRC validation: every chunk's CRC and the data-section CRC (DataEnd).
    with path.open("rb") as f:
        records = list(StreamReader(f, validate_crcs=True, emit_chunks=True).records)
    kinds = [type(r).__name__ for r in records]
    check(isinstance(records[0], Header) and isinstance(records[-1], Footer), f"records {kinds[:3]} ... {kinds[-3:]}")
    check(records[0].profile == "ros2", f"profile {records[0].profile!r}")
    chunks = [r for r in records if isinstance(r, Chunk)]
    check(len(chunks) > 3, f"only {len(chunks)} chunks")
    check(all(c.compression == "" and c.uncompressed_crc != 0 for c in chunks), "chunks: uncompressed, with CRC")
    check(any(isinstance(r, MessageIndex) for r in records), "no MessageIndex records")
    check(sum(isinstance(r, DataEnd) for r in records) == 1, "one DataEnd")
    with path.open("rb") as f:
        inner = list(StreamReader(f, validate_crcs=True).records)
    inner = inner[: next(i for i, r in enumerate(inner) if isinstance(r, DataEnd))]  # the data section
    check(sum(isinstance(r, Message) for r in inner) == len(written), "messages in the chunks")
    check(sum(isinstance(r, Schema) for r in inner) == len({t["type"] for t in topics.values()}), "one Schema per type")
    check(sum(isinstance(r, Channel) for r in inner) == len(topics), "one Channel per topic")

    footer = records[-1]
    summary_crc = zlib.crc32(data[footer.summary_start : len(data) - 8 - 4])
    check(footer.summary_crc == summary_crc, f"summary CRC {footer.summary_crc:#x}, bytes hash to {summary_crc:#x}")

    with path.open("rb") as f:
        reader = make_reader(f, validate_crcs=True)
        check(reader.get_header().profile == "ros2", "header profile")
        summary = reader.get_summary()
        stats = summary.statistics
        check(stats.message_count == len(written), f"statistics: {stats.message_count} messages")
        check(stats.chunk_count == len(chunks) == len(summary.chunk_indexes), "chunk count and chunk indexes")
        check(stats.message_start_time == min(m["log_time_ns"] for m in written), "statistics start time")
        check(stats.message_end_time == max(m["log_time_ns"] for m in written), "statistics end time")
        channels = {c.topic: c for c in summary.channels.values()}
        check(sorted(channels) == sorted(topics), f"summary channels {sorted(channels)}")
        for name, t in topics.items():
            c = channels[name]
            schema = summary.schemas[c.schema_id]
            check(schema.name == t["type"] and schema.encoding == "ros2msg", f"{name}: schema {schema.name} {schema.encoding}")
            check(schema.data.decode() == t["definition"], f"{name}: schema data")
            check(c.message_encoding == "cdr", f"{name}: message encoding {c.message_encoding}")
            check(c.metadata.get("offered_qos_profiles") == t["qos"], f"{name}: offered_qos_profiles metadata")
            check("topic_type_hash" in c.metadata, f"{name}: no topic_type_hash metadata")
            n = sum(m["topic"] == name for m in written)
            check(stats.channel_message_counts.get(c.id) == n, f"{name}: statistics count {stats.channel_message_counts.get(c.id)}")
        for ci in summary.chunk_indexes:
            check(ci.compression == "" and ci.compressed_size == ci.uncompressed_size, "chunk index sizes")
            check(data[ci.chunk_start_offset] == 0x06, f"chunk index offset {ci.chunk_start_offset} is not a Chunk")
            for offset in ci.message_index_offsets.values():
                check(data[offset] == 0x07, f"message index offset {offset} is not a MessageIndex")
        metadata = [m for m in reader.iter_metadata() if m.name == "rosbag2"]
        check(len(metadata) == 1, "one rosbag2 Metadata record")
        serialized = YAML(typ="safe").load(metadata[0].metadata["serialized_metadata"])
        check(serialized["message_count"] == len(written) and serialized["version"] == 9, "serialized_metadata")

        for order, want in (("file order", written), ("log-time order", by_log_time(written))):
            got = list(reader.iter_messages(log_time_order=order != "file order"))
            check(len(got) == len(want), f"{order}: {len(got)} messages")
            sequences = {}
            for i, ((_schema, channel, message), w) in enumerate(zip(got, want)):
                where = f"{order}: message {i} ({w['topic']} at {w['log_time_ns']} ns)"
                check(channel.topic == w["topic"], f"{where}: topic {channel.topic}")
                check(message.log_time == w["log_time_ns"] == message.publish_time, f"{where}: times {message.log_time}")
                check(message.data.hex() == w["cdr_hex"], f"{where}: bytes differ")
                if order == "file order":
                    expected_sequence = sequences.get(channel.id, 0)
                    check(message.sequence == expected_sequence, f"{where}: sequence {message.sequence}")
                    sequences[channel.id] = expected_sequence + 1
    return (
        f"mcap: CRCs valid (data section, {len(chunks)} chunks, summary), summary and {len(written)} messages "
        "as written, in file and log-time order"
    )


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    exp = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    failures = 0
    for part in (check_rosbags, check_mcap):
        try:
            print("ok", part(exp))
        except CheckError as e:
            print(f"FAIL {part.__name__}: {e}")
            failures += 1
        except Exception as e:  # noqa: BLE001 - a reader refusing the bag is that part's failure
            print(f"FAIL {part.__name__}: {type(e).__name__}: {e}")
            failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

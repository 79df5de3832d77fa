"""An independent Zenoh peer for worldflow's zenoh bridge (PyPI `eclipse-zenoh` 1.10.x; `import zenoh`).

Connects to the bridge's endpoint (mode peer, multicast scouting and gossip off), then:
* watches the agents' liveliness tokens with history (a PUT when an agent joins, a DELETE when it leaves);
* receives the frames of one agent and checks each header (the JSON attachment) against the payload size;
* receives its poses, drives it forward with velocity commands for --drive seconds and checks that it moved
  forward (along its heading at the start);
* with --bad, first sends actions the bridge must refuse (malformed JSON, NaN, out of range, an unknown
  agent), then drives: the run must go on;
* waits for the agent to leave (the run's end), prints `SUMMARY {json}` and exits 0 if every check passed.

    .cache/py/bin/python nodes/zenoh-bridge/python/peer.py --endpoint tcp/127.0.0.1:7447 --drive 20
"""

import argparse
import json
import math
import sys
import threading
import time

import zenoh


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--endpoint", default="tcp/127.0.0.1:7447", help="the bridge's LISTEN endpoint")
    p.add_argument("--world", default="town", help="the bridge's WORLD")
    p.add_argument("--agent", type=int, default=0)
    p.add_argument("--drive", type=float, default=8.0, help="seconds of driving forward")
    p.add_argument("--speed", type=float, default=5.0, help="forward speed asked, m/s")
    p.add_argument("--bad", action="store_true", help="send invalid actions first")
    p.add_argument("--timeout", type=float, default=120.0, help="give up after this many seconds")
    p.add_argument("--min-forward", type=float, default=3.0, help="metres the car must move forward")
    return p.parse_args()


def open_session(endpoint):
    conf = zenoh.Config()
    conf.insert_json5("mode", '"peer"')
    conf.insert_json5("connect/endpoints", json.dumps([endpoint]))
    conf.insert_json5("listen/endpoints", "[]")
    conf.insert_json5("scouting/multicast/enabled", "false")
    conf.insert_json5("scouting/gossip/enabled", "false")
    return zenoh.open(conf)


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.events = []  # (kind, key, t)
        self.frames = 0
        self.frames_shm = 0
        self.frame_errors = []
        self.last_frame_tick = -1
        self.size = None
        self.poses = []  # (tick, world_from_frame)


def main():
    a = parse_args()
    prefix = f"worldflow/@v1/{a.world}"
    agent_token = f"{prefix}/agents/{a.agent}"
    s = State()
    t_start = time.monotonic()

    def on_token(sample):
        with s.lock:
            s.events.append((str(sample.kind).split(".")[-1], str(sample.key_expr), time.monotonic() - t_start))

    def on_frame(sample):
        payload = sample.payload
        n = len(payload)
        with s.lock:
            try:
                h = json.loads(sample.attachment.to_string())
                expected = h["height"] * h["step"]
                checks = [
                    (h["version"] == 1, f"version {h['version']}"),
                    (h["encoding"] == "rgb8", f"encoding {h['encoding']}"),
                    (h["step"] == h["width"] * 3, f"step {h['step']} for width {h['width']}"),
                    (n == expected, f"payload {n} bytes, header says {expected}"),
                    (h["agent"] == a.agent, f"agent {h['agent']}"),
                    (str(sample.key_expr).endswith("/frame/" + h["camera"]), f"camera {h['camera']} vs key"),
                    (len(h["intrinsics"]) == 4 and h["intrinsics"][0] > 0, "intrinsics"),
                    (len(h["camera_from_world"]) == 4, "camera_from_world"),
                    (h["tick"] >= s.last_frame_tick, f"tick {h['tick']} after {s.last_frame_tick}"),
                ]
                for ok, what in checks:
                    if not ok:
                        s.frame_errors.append(what)
                s.last_frame_tick = h["tick"]
                s.size = [h["width"], h["height"]]
            except Exception as e:  # noqa: BLE001 - every failure is a check failure
                s.frame_errors.append(f"bad header: {e!r}")
            s.frames += 1
            s.frames_shm += payload.as_shm() is not None

    def on_pose(sample):
        p = json.loads(sample.payload.to_string())
        with s.lock:
            s.poses.append((p["meta"]["tick"], p["world_from_frame"]))

    session = open_session(a.endpoint)
    subs = [
        session.liveliness().declare_subscriber(f"{prefix}/agents/*", on_token, history=True),
        session.declare_subscriber(f"{prefix}/agent/{a.agent}/frame/*", on_frame),
        session.declare_subscriber(f"{prefix}/agent/{a.agent}/pose", on_pose),
    ]
    deadline = t_start + a.timeout
    failures = []

    def wait_for(what, cond):
        while time.monotonic() < deadline:
            with s.lock:
                if cond():
                    return True
            time.sleep(0.05)
        failures.append(f"timed out waiting for {what}")
        return False

    joined = lambda: any(k == "PUT" and key == agent_token for k, key, _ in s.events)  # noqa: E731
    if wait_for("the agent's token", joined) and wait_for("a frame and a pose", lambda: s.frames > 0 and s.poses):
        action_key = f"{prefix}/agent/{a.agent}/action"
        if a.bad:
            for key, payload in [
                (action_key, b"{not json"),
                (action_key, b'{"control": {"throttle": NaN, "steer": 0, "brake": 0}}'),
                (action_key, json.dumps({"control": {"throttle": 2.0, "steer": 0, "brake": 0}})),
                (action_key, json.dumps({"throttle": 0.5})),
                (f"{prefix}/agent/7/action", json.dumps({"ackermann": {"speed_mps": 1, "steering_angle_rad": 0}})),
            ]:
                session.put(key, payload)
        time.sleep(0.3)
        with s.lock:
            tick0, m0 = s.poses[-1]
        go = {"velocity": {"forward_mps": a.speed, "left_mps": 0.0, "up_mps": 0.0, "yaw_rate_rps": 0.0}}
        end = time.monotonic() + a.drive
        while time.monotonic() < min(end, deadline):
            session.put(action_key, json.dumps(go))
            time.sleep(0.1)
        with s.lock:
            tick1, m1 = s.poses[-1]
        fwd = [m0[0][0], m0[1][0], m0[2][0]]
        d = [m1[i][3] - m0[i][3] for i in range(3)]
        forward_m = sum(f * x for f, x in zip(fwd, d))
        if not forward_m > a.min_forward:
            failures.append(f"the car moved {forward_m:.2f} m forward in ticks {tick0}..{tick1}")
        left = lambda: any(k == "DELETE" and key == agent_token for k, key, _ in s.events)  # noqa: E731
        wait_for("the agent to leave (its token deleted)", left)
    else:
        tick0 = tick1 = 0
        forward_m = math.nan
    with s.lock:
        if s.frame_errors:
            failures.append(f"{len(s.frame_errors)} frame header errors, first: {s.frame_errors[:3]}")
        if s.frames < 10:
            failures.append(f"only {s.frames} frames")
        summary = {
            "frames": s.frames,
            "frames_shm": s.frames_shm,
            "size": s.size,
            "poses": len(s.poses),
            "forward_m": round(forward_m, 3) if not math.isnan(forward_m) else None,
            "ticks": [tick0, tick1],
            "liveliness": [[k, key, round(t, 2)] for k, key, t in s.events],
            "failures": failures,
        }
    for sub in subs:
        sub.undeclare()
    session.close()
    print("SUMMARY " + json.dumps(summary), flush=True)
    for f in failures:
        print("FAIL " + f, flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

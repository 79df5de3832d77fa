//! The bridge's zenoh side against a second session on loopback (explicit endpoints, no scouting): frames
//! arrive with their header attachment, in shared memory with `SHM=true` and as plain bytes without it;
//! liveliness tokens are seen to come and go; actions put by the peer reach the bridge.

use std::time::{Duration, Instant};

use worldflow_zenoh_bridge::keys::KeySpace;
use worldflow_zenoh_bridge::session::{Network, Sent, Zenoh};
use zenoh::sample::SampleKind;
use zenoh::Wait;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A peer session connected to `endpoint`, scouting off, shared memory as asked.
fn peer(endpoint: &str, shm: bool) -> zenoh::Session {
    let mut c = zenoh::Config::default();
    for (k, v) in [
        ("mode", "\"peer\"".to_owned()),
        ("listen/endpoints", "[]".to_owned()),
        ("connect/endpoints", format!("[\"{endpoint}\"]")),
        ("scouting/multicast/enabled", "false".to_owned()),
        ("scouting/gossip/enabled", "false".to_owned()),
        ("transport/shared_memory/enabled", shm.to_string()),
    ] {
        c.insert_json5(k, &v).unwrap();
    }
    zenoh::open(c).wait().unwrap()
}

fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn round_trip(shm: bool) {
    let port = free_port();
    let endpoint = format!("tcp/127.0.0.1:{port}");
    let keys = KeySpace::new("test").unwrap();
    let net = Network { listen: vec![endpoint.clone()], connect: vec![], scouting: false, shm };
    let mut bridge = Zenoh::open(&net, keys.clone()).unwrap();
    let p = peer(&endpoint, shm);
    let frames = p.declare_subscriber("worldflow/@v1/test/agent/*/frame/*").wait().unwrap();
    let tokens = p.liveliness().declare_subscriber("worldflow/@v1/test/agents/*").history(true).wait().unwrap();
    bridge.declare_token(0).unwrap();
    let join = until("the join", || tokens.try_recv().unwrap());
    assert_eq!((join.key_expr().as_str(), join.kind()), ("worldflow/@v1/test/agents/0", SampleKind::Put));

    // Frames: publish until the subscription has propagated, then check one.
    let pixels: Vec<u8> = (0..64 * 48 * 3).map(|i| (i % 251) as u8).collect();
    let key = keys.frame(0, "front").unwrap();
    let mut sent = Vec::new();
    let sample = until("a frame", || {
        sent.push(bridge.put_frame(&key, &pixels, r#"{"tick":1}"#.to_owned()).unwrap());
        frames.try_recv().unwrap()
    });
    assert_eq!(sample.key_expr().as_str(), "worldflow/@v1/test/agent/0/frame/front");
    assert_eq!(sample.payload().to_bytes().as_ref(), pixels.as_slice());
    assert_eq!(sample.attachment().unwrap().try_to_string().unwrap(), r#"{"tick":1}"#);
    let expected = if shm { Sent::Shm } else { Sent::Bytes };
    assert!(sent.iter().all(|s| *s == expected), "{sent:?}");
    assert_eq!(sample.payload().as_shm().is_some(), shm, "received in shared memory iff SHM is on both sides");

    // Actions from the peer.
    let action = keys.action(0);
    let got = until("an action", || {
        p.put(&action, r#"{"velocity":{"forward_mps":1,"left_mps":0,"up_mps":0,"yaw_rate_rps":0}}"#).wait().unwrap();
        bridge.try_action()
    });
    assert_eq!(got.0, action);
    assert!(String::from_utf8(got.1).unwrap().contains("forward_mps"));

    bridge.undeclare_token(0).unwrap();
    let leave = until("the leave", || tokens.try_recv().unwrap());
    assert_eq!((leave.key_expr().as_str(), leave.kind()), ("worldflow/@v1/test/agents/0", SampleKind::Delete));
    bridge.close().unwrap();
    p.close().wait().unwrap();
}

#[test]
fn frames_go_in_shared_memory_tokens_come_and_go_and_actions_arrive() {
    round_trip(true);
}

#[test]
fn without_shm_frames_go_as_plain_bytes() {
    round_trip(false);
}

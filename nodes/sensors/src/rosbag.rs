//! `SOURCE=rosbag`: replays the commands of a rosbag2 recording made by the ROS 2 bridge (`RECORDING` = the bag
//! directory or its `.mcap` file), one action per tick.
//!
//! The ticks are the bag's `/clock` messages: clock value i is tick i, so the stream has as many ticks as
//! `/clock` has values (they must increase). The commands are agent `AGENT_ID`'s `/agentN/cmd_vel`
//! (`geometry_msgs/Twist` → a velocity set-point) and `/agentN/ackermann_cmd` (`AckermannDriveStamped` → a
//! speed and wheel-angle set-point).
//!
//! The recording convention (the bridge follows it): a command is logged with log time = the simulation time of
//! the latest tick the bridge had published when it arrived, and takes effect at the next tick. So tick 0 stops
//! (`velocity: 0`), and tick i ≥ 1 carries the latest command — of either kind — whose log time is at most
//! clock value i − 1 (the later log time wins; on equal times, the later in the file); ticks before the first
//! command keep the stop command.

use std::path::Path;

use worldflow_protocol::{AckermannCommand, Action, CommandError, VelocityCommand};
use worldflow_ros2_msgs::ackermann_msgs::AckermannDriveStamped;
use worldflow_ros2_msgs::geometry_msgs::Twist;
use worldflow_ros2_msgs::rosgraph_msgs::Clock;
use worldflow_ros2_msgs::{convert, from_cdr, Message, Ros2MsgError};
use worldflow_rosbag2::{BagMessage, Rosbag2Error, Rosbag2Reader};

/// The topic whose messages are the ticks.
const CLOCK_TOPIC: &str = "/clock";

/// A bag that cannot be replayed; names the file, and the topic and log time of a bad message.
#[derive(Debug, thiserror::Error)]
pub enum RosbagSourceError {
    /// The bag cannot be read (the error names the file and byte offset).
    #[error(transparent)]
    Bag(#[from] Rosbag2Error),
    /// No `/clock` message: there are no ticks.
    #[error("{file}: no {CLOCK_TOPIC} messages: expected one per tick (the bag's topics: {topics})")]
    NoClock { file: String, topics: String },
    /// A topic read here has another type than expected.
    #[error("{file}: topic {topic} has type {found}, expected {expected}")]
    WrongType { file: String, topic: String, found: String, expected: &'static str },
    /// A message's CDR payload does not decode as its type.
    #[error("{file}: {topic} at log time {log_time_ns} ns: cannot decode the message")]
    Decode {
        file: String,
        topic: String,
        log_time_ns: u64,
        #[source]
        source: Ros2MsgError,
    },
    /// A command out of range (or not finite); the command error is the message.
    #[error("{file}: {topic} at log time {log_time_ns} ns: not a valid command: {error}")]
    Command { file: String, topic: String, log_time_ns: u64, error: CommandError },
    /// A clock value that is negative or does not increase.
    #[error("{file}: {CLOCK_TOPIC} at log time {log_time_ns} ns: {what}")]
    Clock { file: String, log_time_ns: u64, what: String },
}

/// A command of the bag.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Command {
    Velocity(VelocityCommand),
    Ackermann(AckermannCommand),
}

/// The actions of the bag at `path` for agent `agent_id`: one per `/clock` message (module header). Only the
/// command fields are set; the caller stamps each with its tick.
pub fn read_rosbag_actions(path: &Path, agent_id: u32) -> Result<Vec<Action>, RosbagSourceError> {
    let file = path.display().to_string();
    let cmd_vel = format!("/agent{agent_id}/cmd_vel");
    let ackermann_cmd = format!("/agent{agent_id}/ackermann_cmd");
    let bag = Rosbag2Reader::open(path)?.read(|t| t == CLOCK_TOPIC || t == cmd_vel || t == ackermann_cmd)?;
    for (topic, expected) in [
        (CLOCK_TOPIC, Clock::TYPE_NAME),
        (&cmd_vel, Twist::TYPE_NAME),
        (&ackermann_cmd, AckermannDriveStamped::TYPE_NAME),
    ] {
        if let Some(t) = bag.topics.iter().find(|t| t.name == topic && t.type_name != expected) {
            let (topic, found) = (topic.to_owned(), t.type_name.clone());
            return Err(RosbagSourceError::WrongType { file, topic, found, expected });
        }
    }
    let mut clock_ns: Vec<u64> = Vec::new();
    let mut commands: Vec<(u64, Command)> = Vec::new();
    for m in &bag.messages {
        if m.topic == CLOCK_TOPIC {
            let clock: Clock = decode(&file, m)?;
            let clock_error =
                |what: String| RosbagSourceError::Clock { file: file.clone(), log_time_ns: m.log_time_ns, what };
            let sec = u64::try_from(clock.clock.sec).map_err(|_| {
                clock_error(format!("negative time {} s: expected simulation time ≥ 0", clock.clock.sec))
            })?;
            let ns = sec * 1_000_000_000 + u64::from(clock.clock.nanosec);
            if let Some(&previous) = clock_ns.last() {
                if ns <= previous {
                    return Err(clock_error(format!(
                        "clock {ns} ns does not follow the previous {previous} ns: expected increasing ticks"
                    )));
                }
            }
            clock_ns.push(ns);
        } else {
            let checked = if m.topic == cmd_vel {
                convert::velocity_command(&decode::<Twist>(&file, m)?).map(Command::Velocity)
            } else {
                convert::ackermann_command(&decode::<AckermannDriveStamped>(&file, m)?.drive).map(Command::Ackermann)
            };
            let command = checked.map_err(|error| RosbagSourceError::Command {
                file: file.clone(),
                topic: m.topic.clone(),
                log_time_ns: m.log_time_ns,
                error,
            })?;
            commands.push((m.log_time_ns, command));
        }
    }
    if clock_ns.is_empty() {
        let topics: Vec<String> = bag.topics.iter().map(|t| t.name.clone()).collect();
        let topics = if topics.is_empty() { "none".to_owned() } else { topics.join(", ") };
        return Err(RosbagSourceError::NoClock { file, topics });
    }
    Ok(actions_for_ticks(&clock_ns, &commands))
}

fn decode<T: Message>(file: &str, m: &BagMessage) -> Result<T, RosbagSourceError> {
    from_cdr(&m.cdr).map_err(|source| RosbagSourceError::Decode {
        file: file.to_owned(),
        topic: m.topic.clone(),
        log_time_ns: m.log_time_ns,
        source,
    })
}

/// The action of each tick, given the ticks' clock values and the commands `(log time, command)` in log-time
/// order (equal times in file order): tick 0 stops, tick i ≥ 1 carries the last command logged at or before
/// clock value i − 1.
fn actions_for_ticks(clock_ns: &[u64], commands: &[(u64, Command)]) -> Vec<Action> {
    let mut actions = Vec::with_capacity(clock_ns.len());
    let mut latest: Option<Command> = None;
    let mut next = 0;
    for tick in 0..clock_ns.len() {
        if let Some(&previous_clock_ns) = tick.checked_sub(1).and_then(|i| clock_ns.get(i)) {
            while let Some(&(log_time_ns, command)) = commands.get(next) {
                if log_time_ns > previous_clock_ns {
                    break;
                }
                latest = Some(command);
                next += 1;
            }
        }
        actions.push(match latest {
            None => Action { velocity: Some(VelocityCommand::default()), ..Default::default() },
            Some(Command::Velocity(v)) => Action { velocity: Some(v), ..Default::default() },
            Some(Command::Ackermann(a)) => Action { ackermann: Some(a), ..Default::default() },
        });
    }
    actions
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use worldflow_ros2_msgs::ackermann_msgs::AckermannDrive;
    use worldflow_ros2_msgs::builtin_interfaces::Time;
    use worldflow_ros2_msgs::geometry_msgs::Vector3;
    use worldflow_ros2_msgs::std_msgs::Header;
    use worldflow_ros2_msgs::to_cdr;
    use worldflow_rosbag2::{Rosbag2Writer, TopicId};

    use super::*;

    const START_NS: u64 = 1_000_000_000;
    const DT_NS: u64 = 100_000_000;

    fn fresh_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("worldflow-sensors-rosbag-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn time(ns: u64) -> Time {
        Time { sec: (ns / 1_000_000_000) as i32, nanosec: (ns % 1_000_000_000) as u32 }
    }

    fn twist(forward_mps: f64) -> Twist {
        Twist { linear: Vector3 { x: forward_mps, y: 0.0, z: 0.0 }, angular: Vector3 { x: 0.0, y: 0.0, z: 0.25 } }
    }

    fn drive(speed_mps: f32) -> AckermannDriveStamped {
        AckermannDriveStamped {
            header: Header { stamp: time(START_NS), frame_id: "agent0/base_link".to_owned() },
            drive: AckermannDrive { steering_angle: -0.2, speed: speed_mps, ..Default::default() },
        }
    }

    fn topic<T: Message>(w: &mut Rosbag2Writer, name: &str) -> TopicId {
        w.add_topic(name, T::TYPE_NAME, T::DEFINITION, "").unwrap()
    }

    fn write<T: Message>(w: &mut Rosbag2Writer, id: TopicId, log_time_ns: u64, msg: &T) {
        w.write(id, log_time_ns, &to_cdr(msg).unwrap()).unwrap();
    }

    /// Six ticks at 1.0, 1.1, … 1.5 s and agent 0's commands, written as the bridge would log them.
    fn bridge_bag(name: &str) -> PathBuf {
        let dir = fresh_dir(name);
        let mut w = Rosbag2Writer::create(&dir).unwrap();
        let clock = topic::<Clock>(&mut w, CLOCK_TOPIC);
        let cmd_vel = topic::<Twist>(&mut w, "/agent0/cmd_vel");
        let other_agent = topic::<Twist>(&mut w, "/agent1/cmd_vel");
        let ackermann = topic::<AckermannDriveStamped>(&mut w, "/agent0/ackermann_cmd");
        let tick = |i: u64| START_NS + i * DT_NS;
        for i in 0..6 {
            write(&mut w, clock, tick(i), &Clock { clock: time(tick(i)) });
            match i {
                // Arrived after tick 0 was published: logged at tick 0's time, effective at tick 1.
                0 => {
                    write(&mut w, cmd_vel, tick(0), &twist(1.0));
                    write(&mut w, other_agent, tick(0), &twist(9.0));
                }
                // Logged between ticks (a later clock than tick 1's): effective after the first tick at or past it.
                1 => write(&mut w, cmd_vel, tick(1) + DT_NS / 2, &twist(2.0)),
                // Two commands at tick 2's time: the later in the file (the Ackermann one) wins at tick 3.
                2 => {
                    write(&mut w, cmd_vel, tick(2), &twist(3.0));
                    write(&mut w, ackermann, tick(2), &drive(4.0));
                }
                _ => {}
            }
        }
        w.finish().unwrap();
        dir
    }

    fn velocity(forward_mps: f32) -> Option<VelocityCommand> {
        Some(VelocityCommand { forward_mps, yaw_rate_rps: 0.25, ..Default::default() })
    }

    #[test]
    fn each_tick_carries_the_latest_command_logged_by_the_previous_tick() {
        let dir = bridge_bag("replay");
        let actions = read_rosbag_actions(&dir, 0).unwrap();
        assert_eq!(actions.len(), 6, "one action per /clock message");
        let stop = Some(VelocityCommand::default());
        let ackermann = Some(AckermannCommand { speed_mps: 4.0, steering_angle_rad: -0.2 });
        let got: Vec<_> = actions.iter().map(|a| (a.velocity, a.ackermann)).collect();
        let want = [
            (stop, None),          // tick 0: stop
            (velocity(1.0), None), // logged at clock 0
            (velocity(1.0), None), // 2.0 was logged after clock 1
            (None, ackermann),     // 2.0 and 3.0 then the Ackermann command, all by clock 2: the last wins
            (None, ackermann),
            (None, ackermann),
        ];
        assert_eq!(got, want);
        assert!(actions.iter().all(|a| !a.held && a.control.is_none() && a.world_from_camera.is_none()));

        // Agent 1 only has its cmd_vel, logged at clock 0.
        let agent1: Vec<_> = read_rosbag_actions(&dir, 1).unwrap().iter().map(|a| a.velocity).collect();
        assert_eq!(agent1, [stop, velocity(9.0), velocity(9.0), velocity(9.0), velocity(9.0), velocity(9.0)]);
        // Agent 2 has no command: every tick stops.
        assert!(read_rosbag_actions(&dir, 2).unwrap().iter().all(|a| a.velocity == stop));
    }

    #[test]
    fn source_rosbag_replays_agent_id_s_commands_on_the_run_s_clock() {
        let dir = bridge_bag("source");
        let recording = dir.to_str().unwrap();
        let pairs = [("SOURCE", "rosbag"), ("RECORDING", recording), ("AGENT_ID", "1"), ("DT_SECS", "0.05")];
        let env = worldflow_node_kit::Env::from_pairs(crate::SETTINGS, &pairs);
        let settings = crate::Settings::from_settings(&env).unwrap();
        let mut source = crate::Source::from_settings(&env).unwrap();
        let a = source.action(2, &settings).unwrap();
        assert_eq!(a.meta, worldflow_protocol::ChunkMeta { agent_id: 1, tick: 2, sim_time_ns: 100_000_000 });
        assert_eq!(a.velocity, velocity(9.0));
        assert!(source.action(5, &settings).is_some());
        assert!(source.action(6, &settings).is_none(), "as many ticks as /clock values");

        let env = worldflow_node_kit::Env::from_pairs(
            crate::SETTINGS,
            &[("SOURCE", "rosbag"), ("RECORDING", "/nonexistent")],
        );
        let e = crate::Source::from_settings(&env).err().unwrap();
        let e = format!("{e:#}");
        assert!(e.starts_with("setting RECORDING: /nonexistent: does not exist"), "{e}");
    }

    #[test]
    fn ticks_without_any_command_stop_and_the_stream_has_one_tick_per_clock() {
        let commands = [(150, Command::Velocity(VelocityCommand { forward_mps: 2.0, ..Default::default() }))];
        let actions = actions_for_ticks(&[100, 200, 300], &commands);
        let v: Vec<_> = actions.iter().map(|a| a.velocity.map(|v| v.forward_mps)).collect();
        assert_eq!(v, [Some(0.0), Some(0.0), Some(2.0)]);
        assert!(actions_for_ticks(&[], &commands).is_empty());
    }

    #[test]
    fn bad_messages_name_the_file_topic_and_log_time() {
        let dir = fresh_dir("bad-cdr");
        let mut w = Rosbag2Writer::create(&dir).unwrap();
        let clock = topic::<Clock>(&mut w, CLOCK_TOPIC);
        let cmd_vel = topic::<Twist>(&mut w, "/agent0/cmd_vel");
        write(&mut w, clock, 0, &Clock::default());
        w.write(cmd_vel, 7, &[0, 1, 0, 0, 1, 2]).unwrap(); // too short for a Twist
        w.finish().unwrap();
        let e = read_rosbag_actions(&dir, 0).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{}: /agent0/cmd_vel at log time 7 ns: cannot decode the message", dir.display())
        );

        let dir = fresh_dir("out-of-range");
        let mut w = Rosbag2Writer::create(&dir).unwrap();
        let clock = topic::<Clock>(&mut w, CLOCK_TOPIC);
        let ackermann = topic::<AckermannDriveStamped>(&mut w, "/agent3/ackermann_cmd");
        write(&mut w, clock, 0, &Clock::default());
        write(&mut w, ackermann, 5, &drive(1000.0));
        w.finish().unwrap();
        let e = read_rosbag_actions(&dir, 3).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{}: /agent3/ackermann_cmd at log time 5 ns: not a valid command: speed_mps: expected -100..=100 m/s, \
                 found 1000",
                dir.display()
            )
        );

        let dir = fresh_dir("clock-order");
        let mut w = Rosbag2Writer::create(&dir).unwrap();
        let clock = topic::<Clock>(&mut w, CLOCK_TOPIC);
        write(&mut w, clock, 0, &Clock { clock: time(START_NS) });
        write(&mut w, clock, 1, &Clock { clock: time(START_NS) });
        w.finish().unwrap();
        let e = read_rosbag_actions(&dir, 0).unwrap_err().to_string();
        assert!(e.ends_with("/clock at log time 1 ns: clock 1000000000 ns does not follow the previous 1000000000 ns: expected increasing ticks"), "{e}");
    }

    #[test]
    fn a_bag_without_clock_or_with_wrong_types_is_refused() {
        let dir = fresh_dir("no-clock");
        let mut w = Rosbag2Writer::create(&dir).unwrap();
        let cmd_vel = topic::<Twist>(&mut w, "/agent0/cmd_vel");
        write(&mut w, cmd_vel, 0, &twist(1.0));
        w.finish().unwrap();
        let e = read_rosbag_actions(&dir, 0).unwrap_err().to_string();
        assert_eq!(
            e,
            format!("{}: no /clock messages: expected one per tick (the bag's topics: /agent0/cmd_vel)", dir.display())
        );

        let dir = fresh_dir("wrong-type");
        let mut w = Rosbag2Writer::create(&dir).unwrap();
        let clock = topic::<Twist>(&mut w, CLOCK_TOPIC);
        write(&mut w, clock, 0, &twist(1.0));
        w.finish().unwrap();
        let e = read_rosbag_actions(&dir, 0).unwrap_err().to_string();
        assert!(e.ends_with("topic /clock has type geometry_msgs/msg/Twist, expected rosgraph_msgs/msg/Clock"), "{e}");

        let e = read_rosbag_actions(&fresh_dir("absent"), 0).unwrap_err().to_string();
        assert!(e.contains("does not exist: expected a rosbag2 bag directory or an .mcap file"), "{e}");
    }
}

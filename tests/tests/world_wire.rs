//! The Director's world deltas leave the flow out: the Actor node computes it from two ticks' bodies. This checks
//! that what crosses the wire (the Arrow message) rebuilds exactly the Director's own flow, tick after tick of the
//! default town with traffic, walkers and a driving car, and that a delta stays small.

use dora_node_api::arrow_v59::array::Array as _;
use worldflow_protocol::arrow_io::world as world_io;
use worldflow_protocol::ChunkMeta;
use worldflow_world::{BicycleEgo, BicycleParams, Director as _, ProceduralDirector, Scenario, VehicleControl};

#[test]
fn the_flow_rebuilt_from_the_wire_equals_the_directors() {
    let scenario = Scenario::default();
    let mut director = ProceduralDirector::new(&scenario).unwrap();
    let grid = director.static_grid().clone();
    let spawn = &scenario.egos[0];
    let mut car = BicycleEgo::new(BicycleParams::default(), spawn.x_m, spawn.y_m, spawn.yaw_deg.to_radians()).unwrap();
    let reset = director.reset(director.seed()).unwrap();
    let mut previous = reset.bodies.clone();
    let (mut moved_cells, mut largest) = (0, 0);
    for tick in 1..=30u64 {
        car.step(&VehicleControl { throttle: 0.6, steer: 0.1, brake: 0.0 }, 0.1).unwrap();
        let out = director.step(0.1, &[car.state(0)]).unwrap();
        let meta = ChunkMeta { agent_id: 0, tick, sim_time_ns: tick * 100_000_000 };
        let wire = world_io::encode(&worldflow_director::to_delta(&out, meta));
        let bytes = wire.get_array_memory_size();
        let delta = world_io::decode(&wire).unwrap();
        let rebuilt = worldflow_actor::from_delta(&delta, &grid, Some(&previous)).unwrap();
        let (got, want) = (rebuilt.flow.cells(), out.flow.cells());
        let first = got.iter().zip(want).position(|(a, b)| a != b);
        assert!(
            got.len() == want.len() && first.is_none(),
            "tick {tick}: the flow differs: {} cells rebuilt, {} from the Director; first difference {:?}",
            got.len(),
            want.len(),
            first.map(|i| (got[i], want[i]))
        );
        assert_eq!(rebuilt.bodies, out.bodies, "tick {tick}");
        assert!(bytes < 32 * 1024, "tick {tick}: a delta of {bytes} bytes");
        moved_cells += out.flow.cells().len();
        largest = largest.max(bytes);
        previous = out.bodies;
    }
    eprintln!("largest delta: {largest} bytes; flow cells rebuilt: {moved_cells} in 30 ticks");
    assert!(moved_cells > 1000, "the town moved: {moved_cells} flow cells in 30 ticks");
}

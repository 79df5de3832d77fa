//! Right of way at intersections, and the swept-path check traffic uses to stop for whatever is ahead.
//!
//! **Reservations.** A vehicle approaching node `N` *arrives* when its distance to the stop line (1.5 m
//! before the crosswalk) drops to its comfortable braking distance + 4 m; from then on it may not pass the
//! stop line without a *grant* for `N`. Each tick, arrived vehicles are considered first come first served
//! (arrival tick, then lower id): one gets a grant when its movement (entry direction, exit direction) does
//! not conflict with the movement of a vehicle holding `N`, nor with an earlier arrival refused for such a
//! conflict (no overtaking of a waiting conflicting car: no starvation), and when its exit lane has room for
//! it beyond the box ("don't block the box": a granted vehicle can always leave, so grants never form a
//! cycle). A grant is released once the holder's rear has left the box. Two movements conflict when the
//! swept footprints of the largest vehicle along them come within [`CONFLICT_MARGIN_M`] (precomputed once per
//! town; all nodes share the same geometry); movements from the same entry conflict unless identical.
//!
//! **Swept path.** Independently of grants, a vehicle looks along its own path (current piece, the turn,
//! the next lane) in steps of [`SWEEP_STEP_M`] and stops before the first pose where its footprint would
//! touch another body (vehicle, pedestrian, ego), so it never drives into something standing on its way.

use glam::Vec2;

use crate::footprint::Footprint;
use crate::roads::{Dir, PathPose, Piece, Roads};
use crate::vehicle::VehicleKind;

/// Two movements conflict when their swept footprints come this close, metres.
pub const CONFLICT_MARGIN_M: f32 = 0.3;
/// Sampling step of swept paths, metres.
pub const SWEEP_STEP_M: f32 = 0.5;
/// Margin of the swept-path check, metres (each side).
pub const SWEEP_MARGIN_M: f32 = 0.2;

fn movement_index(dir_in: Dir, dir_out: Dir) -> usize {
    dir_in as usize * 4 + dir_out as usize
}

/// Which movements through an intersection may be granted at the same time.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflicts {
    table: [[bool; 16]; 16],
}

impl Conflicts {
    /// Computes the table from the road geometry (a node with all four arms; geometry is the same at every node).
    pub fn new(roads: &Roads) -> Self {
        let half = VehicleKind::Van.half_extent_m().truncate();
        let sweep = |dir_in: Dir, dir_out: Dir| -> Vec<Footprint> {
            let turn = Piece::Turn { node: (1, 1), dir_in, dir_out };
            let len = roads.length_m(&turn);
            let first = roads.pose(&turn, 0.0);
            let last = roads.pose(&turn, len);
            let mut poses = Vec::new();
            let mut t = -half.x;
            while t <= len + half.x + CONFLICT_MARGIN_M {
                poses.push(if t < 0.0 {
                    PathPose { position_m: first.position_m + first.heading * t, ..first }
                } else if t > len {
                    PathPose { position_m: last.position_m + last.heading * (t - len), ..last }
                } else {
                    roads.pose(&turn, t)
                });
                t += 0.5 * SWEEP_STEP_M;
            }
            poses.iter().map(|p| Footprint { centre_m: p.position_m, axis: p.heading, half_m: half }).collect()
        };
        let moves: Vec<(Dir, Dir)> =
            Dir::ALL.iter().flat_map(|&a| [a, a.left_turn(), a.right_turn()].map(|b| (a, b))).collect();
        let sweeps: Vec<Vec<Footprint>> = moves.iter().map(|&(a, b)| sweep(a, b)).collect();
        let mut table = [[true; 16]; 16];
        for (x, &(a_in, a_out)) in moves.iter().enumerate() {
            for (y, &(b_in, b_out)) in moves.iter().enumerate() {
                let conflict = if a_in == b_in {
                    a_out != b_out
                } else {
                    sweeps[x].iter().any(|f| sweeps[y].iter().any(|g| f.overlaps(g, 0.5 * CONFLICT_MARGIN_M)))
                };
                table[movement_index(a_in, a_out)][movement_index(b_in, b_out)] = conflict;
            }
        }
        Self { table }
    }

    /// Whether two movements `(dir_in, dir_out)` may not share the intersection.
    pub fn conflict(&self, a: (Dir, Dir), b: (Dir, Dir)) -> bool {
        self.table[movement_index(a.0, a.1)][movement_index(b.0, b.1)]
    }
}

/// Distance along a path (starting at `pose_at(0)`, sampled every [`SWEEP_STEP_M`] up to `horizon_m`) to
/// the last pose before the footprint `half_m` touches one of `others` (but `others[skip]`, the body itself),
/// and that obstacle's index; `None` when the path is clear. Obstacles behind the start (centre more than a
/// body length back) are ignored.
pub fn first_contact(
    pose_at: impl Fn(f32) -> PathPose,
    half_m: Vec2,
    horizon_m: f32,
    others: &[Footprint],
    skip: usize,
) -> Option<(f32, usize)> {
    let start = pose_at(0.0);
    let me_r = half_m.length();
    let near: Vec<usize> = (0..others.len())
        .filter(|&k| k != skip)
        .filter(|&k| {
            let o = &others[k];
            let rel = o.centre_m - start.position_m;
            rel.length() < horizon_m + me_r + o.bound_radius_m() + 1.0 && rel.dot(start.heading) > -2.0 * half_m.x
        })
        .collect();
    if near.is_empty() {
        return None;
    }
    let steps = (horizon_m / SWEEP_STEP_M).ceil() as usize;
    for k in 1..=steps {
        let s = k as f32 * SWEEP_STEP_M;
        let p = pose_at(s);
        let me = Footprint { centre_m: p.position_m, axis: p.heading, half_m };
        if let Some(&hit) = near.iter().find(|&&o| me.overlaps(&others[o], SWEEP_MARGIN_M)) {
            return Some((s - SWEEP_STEP_M, hit));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;
    use crate::town::Town;

    #[test]
    fn opposite_straights_share_the_box_and_crossing_straights_do_not() {
        let s = Scenario::default();
        let c = Conflicts::new(&Roads::new(&Town::generate(&s, 1).unwrap()));
        use Dir::*;
        assert!(!c.conflict((North, North), (South, South)));
        assert!(c.conflict((North, North), (East, East)));
        assert!(c.conflict((North, West), (South, South)), "a left turn crosses oncoming traffic");
        assert!(c.conflict((North, North), (North, East)), "same entry, different exits");
        assert!(!c.conflict((North, North), (North, North)));
        for a in Dir::ALL {
            for b in Dir::ALL {
                for (x, y) in [((a, a), (b, b)), ((a, a.left_turn()), (b, b.right_turn()))] {
                    assert_eq!(c.conflict(x, y), c.conflict(y, x), "symmetric");
                }
            }
        }
    }
}

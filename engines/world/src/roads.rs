//! The road network of the town as vehicles drive it: road centre lines on a grid, their crossings
//! (*nodes* `(i, j)`, see [`crate::Town`]) and directed lanes between neighbouring nodes.
//!
//! A path is made of *pieces*: the straight lane of a road edge (intersections excluded), then a manoeuvre
//! inside the next intersection (straight across, or a quarter circle for a left/right turn), then the next
//! lane… [`Roads::pose`] gives the position, heading and curvature at arc length `s_m` along a piece.
//!
//! Invariants: right-hand traffic, lane centres `road_width/4` right of the centre line; consecutive pieces
//! join continuously in position and heading.

use glam::Vec2;

use crate::town::Town;

/// Axis directions of the road grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dir {
    East,
    North,
    West,
    South,
}

impl Dir {
    pub const ALL: [Dir; 4] = [Dir::East, Dir::North, Dir::West, Dir::South];

    pub fn vec(self) -> Vec2 {
        match self {
            Dir::East => Vec2::X,
            Dir::North => Vec2::Y,
            Dir::West => -Vec2::X,
            Dir::South => -Vec2::Y,
        }
    }

    /// Unit vector to the right of travel (z up).
    pub fn right(self) -> Vec2 {
        let d = self.vec();
        Vec2::new(d.y, -d.x)
    }

    pub fn left_turn(self) -> Dir {
        Dir::ALL[(self as usize + 1) % 4]
    }

    pub fn right_turn(self) -> Dir {
        Dir::ALL[(self as usize + 3) % 4]
    }

    pub fn reverse(self) -> Dir {
        Dir::ALL[(self as usize + 2) % 4]
    }
}

/// A piece of a vehicle's path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Piece {
    /// The straight lane of the road edge leaving node `from` in direction `dir` (intersections excluded).
    Lane { from: (u32, u32), dir: Dir },
    /// Crossing node `node`, entering heading `dir_in`, leaving heading `dir_out`.
    Turn { node: (u32, u32), dir_in: Dir, dir_out: Dir },
}

/// Pose of a point on a piece.
#[derive(Debug, Clone, Copy)]
pub struct PathPose {
    pub position_m: Vec2,
    /// Unit heading.
    pub heading: Vec2,
    /// Signed curvature (1/m, positive = turning left).
    pub curvature_per_m: f32,
}

/// Road geometry needed to follow lanes.
#[derive(Debug, Clone, Copy)]
pub struct Roads {
    blocks: (u32, u32),
    half_road_m: f32,
    lane_offset_m: f32,
    pitch_m: f32,
}

impl Roads {
    pub fn new(town: &Town) -> Self {
        Self {
            blocks: town.blocks,
            half_road_m: 0.5 * town.road_width_m,
            lane_offset_m: town.lane_offset_m(),
            pitch_m: town.pitch_m,
        }
    }

    fn node_m(&self, n: (u32, u32)) -> Vec2 {
        Vec2::new(self.half_road_m + n.0 as f32 * self.pitch_m, self.half_road_m + n.1 as f32 * self.pitch_m)
    }

    /// The neighbour of node `n` in direction `d`, if on the map.
    pub fn neighbour(&self, n: (u32, u32), d: Dir) -> Option<(u32, u32)> {
        let (i, j) = (n.0 as i64, n.1 as i64);
        let (i, j) = match d {
            Dir::East => (i + 1, j),
            Dir::North => (i, j + 1),
            Dir::West => (i - 1, j),
            Dir::South => (i, j - 1),
        };
        (i >= 0 && j >= 0 && i <= self.blocks.0 as i64 && j <= self.blocks.1 as i64).then_some((i as u32, j as u32))
    }

    /// All directed lanes, in a fixed order (node row-major, then direction).
    pub fn lanes(&self) -> Vec<Piece> {
        let mut out = Vec::new();
        for j in 0..=self.blocks.1 {
            for i in 0..=self.blocks.0 {
                for d in Dir::ALL {
                    if self.neighbour((i, j), d).is_some() {
                        out.push(Piece::Lane { from: (i, j), dir: d });
                    }
                }
            }
        }
        out
    }

    fn turn_geometry(&self, node: (u32, u32), dir_in: Dir, dir_out: Dir) -> (Vec2, Vec2, Vec2) {
        let c = self.node_m(node);
        let p_in = c + dir_in.right() * self.lane_offset_m - dir_in.vec() * self.half_road_m;
        let p_out = c + dir_out.right() * self.lane_offset_m + dir_out.vec() * self.half_road_m;
        (p_in, p_out, p_in + dir_out.vec() * (p_out - p_in).dot(dir_out.vec()))
    }

    pub fn length_m(&self, piece: &Piece) -> f32 {
        match *piece {
            Piece::Lane { .. } => self.pitch_m - 2.0 * self.half_road_m,
            Piece::Turn { node, dir_in, dir_out } => {
                if dir_in == dir_out {
                    2.0 * self.half_road_m
                } else {
                    let (p_in, _, centre) = self.turn_geometry(node, dir_in, dir_out);
                    (p_in - centre).length() * std::f32::consts::FRAC_PI_2
                }
            }
        }
    }

    pub fn pose(&self, piece: &Piece, s_m: f32) -> PathPose {
        match *piece {
            Piece::Lane { from, dir } => {
                let start = self.node_m(from) + dir.vec() * self.half_road_m + dir.right() * self.lane_offset_m;
                PathPose { position_m: start + dir.vec() * s_m, heading: dir.vec(), curvature_per_m: 0.0 }
            }
            Piece::Turn { node, dir_in, dir_out } => {
                let (p_in, p_out, centre) = self.turn_geometry(node, dir_in, dir_out);
                if dir_in == dir_out {
                    return PathPose {
                        position_m: p_in + dir_in.vec() * s_m,
                        heading: dir_in.vec(),
                        curvature_per_m: 0.0,
                    };
                }
                let a = p_in - centre;
                let b = p_out - centre;
                let r = a.length();
                let theta = (s_m / r).clamp(0.0, std::f32::consts::FRAC_PI_2);
                let (sin, cos) = theta.sin_cos();
                let left = dir_in.vec().perp_dot(dir_out.vec()) > 0.0;
                PathPose {
                    position_m: centre + a * cos + b * sin,
                    heading: ((b * cos - a * sin) / r).normalize(),
                    curvature_per_m: if left { 1.0 / r } else { -1.0 / r },
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    fn roads() -> Roads {
        let s = Scenario::default();
        Roads::new(&Town::generate(&s, 1).unwrap())
    }

    #[test]
    fn pieces_are_continuous_in_position_and_heading() {
        let r = roads();
        for d_in in Dir::ALL {
            for d_out in [d_in, d_in.left_turn(), d_in.right_turn()] {
                let node = (1, 1);
                let from = r.neighbour(node, Dir::ALL[(d_in as usize + 2) % 4]).unwrap();
                let lane_in = Piece::Lane { from, dir: d_in };
                let turn = Piece::Turn { node, dir_in: d_in, dir_out: d_out };
                let lane_out = Piece::Lane { from: node, dir: d_out };
                let a = r.pose(&lane_in, r.length_m(&lane_in));
                let b = r.pose(&turn, 0.0);
                let c = r.pose(&turn, r.length_m(&turn));
                let e = r.pose(&lane_out, 0.0);
                assert!(a.position_m.distance(b.position_m) < 1e-4, "{d_in:?}->{d_out:?}");
                assert!(a.heading.distance(b.heading) < 1e-4);
                assert!(c.position_m.distance(e.position_m) < 1e-4, "{d_in:?}->{d_out:?}");
                assert!(c.heading.distance(e.heading) < 1e-4);
            }
        }
    }

    #[test]
    fn right_turns_are_tighter_than_left_turns() {
        let r = roads();
        let right = r.pose(&Piece::Turn { node: (1, 1), dir_in: Dir::East, dir_out: Dir::South }, 0.1);
        let left = r.pose(&Piece::Turn { node: (1, 1), dir_in: Dir::East, dir_out: Dir::North }, 0.1);
        assert!(right.curvature_per_m < 0.0 && left.curvature_per_m > 0.0);
        assert!(right.curvature_per_m.abs() > left.curvature_per_m.abs());
    }
}

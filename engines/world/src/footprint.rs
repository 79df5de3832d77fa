//! Ground footprints of bodies: oriented rectangles in the world xy plane, with a separating-axis overlap
//! test, and [`Obstacle`]s (a body as traffic and walkers see it: footprint, heading and speed). Traffic and
//! pedestrians use them to ask "would my body at that pose touch that one?".

use glam::Vec2;

/// An oriented rectangle on the ground (world xy, metres).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Footprint {
    pub centre_m: Vec2,
    /// Unit vector of the body's x axis (forward).
    pub axis: Vec2,
    /// Half of (length, width), metres.
    pub half_m: Vec2,
}

impl Footprint {
    /// Half-width of the rectangle's projection on the unit vector `a`.
    #[inline]
    fn reach_along(&self, a: Vec2) -> f32 {
        self.half_m.x * self.axis.dot(a).abs() + self.half_m.y * self.axis.perp().dot(a).abs()
    }

    /// Radius of the circle around the centre that contains the rectangle.
    pub fn bound_radius_m(&self) -> f32 {
        self.half_m.length()
    }

    /// Whether the two rectangles, each grown by `margin_m` on every side, overlap (separating axis theorem).
    pub fn overlaps(&self, other: &Footprint, margin_m: f32) -> bool {
        let d = other.centre_m - self.centre_m;
        let reach = self.bound_radius_m() + other.bound_radius_m() + 2.0 * margin_m;
        if d.length_squared() > reach * reach {
            return false;
        }
        for a in [self.axis, self.axis.perp(), other.axis, other.axis.perp()] {
            if d.dot(a).abs() > self.reach_along(a) + other.reach_along(a) + 2.0 * margin_m {
                return false;
            }
        }
        true
    }
}

/// An obstacle as traffic sees it (a vehicle, a pedestrian or an ego body).
#[derive(Debug, Clone, Copy)]
pub struct Obstacle {
    pub position_m: Vec2,
    pub heading: Vec2,
    pub speed_mps: f32,
    pub half_length_m: f32,
    pub half_width_m: f32,
}

impl Obstacle {
    pub fn footprint(&self) -> Footprint {
        Footprint {
            centre_m: self.position_m,
            axis: self.heading,
            half_m: Vec2::new(self.half_length_m, self.half_width_m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separating_axes_decide_overlap() {
        let car = Footprint { centre_m: Vec2::ZERO, axis: Vec2::X, half_m: Vec2::new(2.25, 0.9) };
        let beside = Footprint { centre_m: Vec2::new(0.0, 2.0), ..car };
        assert!(!car.overlaps(&beside, 0.0));
        assert!(car.overlaps(&beside, 0.15));
        // Rotated 45° near the corner: the bounding circles overlap but a separating axis exists.
        let diag = Footprint {
            centre_m: Vec2::new(3.2, 1.9),
            axis: Vec2::new(1.0, 1.0).normalize(),
            half_m: Vec2::new(0.5, 0.5),
        };
        assert!(!car.overlaps(&diag, 0.0));
        assert!(car.overlaps(&Footprint { centre_m: Vec2::new(2.5, 1.0), ..diag }, 0.0));
    }
}

//! Set-point tracking: how each ego kind follows a [`VelocityCommand`] or an [`AckermannCommand`] for one tick.
//!
//! A car gets the [`VehicleControl`] that brings it to the commanded speed by the end of the tick (as far as
//! its throttle and brake limits allow: the bicycle model's speed is linear in the pedals, so one tick
//! suffices when the limits do) on the wheel angle that gives the commanded yaw rate at the tick's mean
//! speed, `δ = atan(ω · L / v̄)`. When the car reaches the speed, its yaw changes by exactly `ω · dt`. Cars have no
//! reverse: a negative speed is a stop. Yaw rates and wheel angles are positive to the left (REP-103);
//! `VehicleControl::steer` is positive to the right (CARLA), so the mapping flips the sign.
//!
//! A free camera moves by the velocity times the tick; a drone tracks the velocity under its own limits
//! ([`crate::drone`]).

use worldflow_protocol::{AckermannCommand, VelocityCommand};

use crate::ego::{BicycleEgo, PoseDelta, VehicleControl};

/// Below this mean speed (m/s) a yaw-rate command cannot be turned into a wheel angle; the wheels stay straight.
const MIN_STEERING_SPEED_MPS: f32 = 0.05;

/// The pedals that bring `car` from its speed to `target_mps` (clamped to `0..=max_speed`) over `dt_secs`.
fn pedals_for_speed(car: &BicycleEgo, target_mps: f32, dt_secs: f32) -> (f32, f32) {
    let p = car.params();
    let (v0, v1) = (car.speed_mps(), target_mps.clamp(0.0, p.max_speed_mps));
    // v1 = v0 + (throttle · a_max − brake · b_max − drag · v0) · dt, solved for the pedals.
    let accel = (v1 - v0) / dt_secs + p.drag_per_sec * v0;
    if accel >= 0.0 {
        ((accel / p.max_accel_mps2).min(1.0), 0.0)
    } else {
        (0.0, (-accel / p.max_brake_mps2).min(1.0))
    }
}

/// `steer` (CARLA, positive right) for a wheel angle `delta_rad` (positive left), clamped to the car's limit.
fn steer_for_wheel_angle(car: &BicycleEgo, delta_rad: f32) -> f32 {
    (-delta_rad / car.params().max_steer_deg.to_radians()).clamp(-1.0, 1.0)
}

/// The control that makes `car` follow `cmd` (forward speed and yaw rate; the sideways and vertical speeds do not
/// apply to a car) for one tick of `dt_secs`.
pub fn car_control_for_velocity(car: &BicycleEgo, cmd: &VelocityCommand, dt_secs: f32) -> VehicleControl {
    let (throttle, brake) = pedals_for_speed(car, cmd.forward_mps, dt_secs);
    // The speed reached may fall short of the target by the pedal limits: predict it (as the bicycle model
    // integrates it) for the tick's mean speed.
    let p = car.params();
    let v0 = car.speed_mps();
    let v1 = (v0 + (throttle * p.max_accel_mps2 - brake * p.max_brake_mps2 - p.drag_per_sec * v0) * dt_secs)
        .clamp(0.0, p.max_speed_mps);
    let mean_mps = 0.5 * (v0 + v1);
    let delta =
        if mean_mps < MIN_STEERING_SPEED_MPS { 0.0 } else { (cmd.yaw_rate_rps * p.wheelbase_m / mean_mps).atan() };
    VehicleControl { throttle, steer: steer_for_wheel_angle(car, delta), brake }
}

/// The control that makes `car` follow an Ackermann set-point (speed, wheel angle) for one tick of `dt_secs`.
pub fn car_control_for_ackermann(car: &BicycleEgo, cmd: &AckermannCommand, dt_secs: f32) -> VehicleControl {
    let (throttle, brake) = pedals_for_speed(car, cmd.speed_mps, dt_secs);
    VehicleControl { throttle, steer: steer_for_wheel_angle(car, cmd.steering_angle_rad), brake }
}

/// A free camera's motion over one tick of `dt_secs` at the body-frame velocity `cmd`.
pub fn free_camera_delta_for_velocity(cmd: &VelocityCommand, dt_secs: f32) -> PoseDelta {
    PoseDelta {
        forward_m: cmd.forward_mps * dt_secs,
        left_m: cmd.left_mps * dt_secs,
        up_m: cmd.up_mps * dt_secs,
        yaw_deg: (cmd.yaw_rate_rps * dt_secs).to_degrees(),
        pitch_deg: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ego::{BicycleParams, FreeCameraEgo};

    const DT: f32 = 0.1;

    fn car_at(speed_mps: f32) -> BicycleEgo {
        let mut car = BicycleEgo::new(BicycleParams::default(), 0.0, 0.0, 0.0).unwrap();
        car.set_speed_mps(speed_mps).unwrap();
        car
    }

    #[test]
    fn a_reachable_speed_is_reached_in_one_tick_and_the_yaw_rate_is_exact() {
        let mut car = car_at(5.0);
        let cmd = VelocityCommand { forward_mps: 5.2, yaw_rate_rps: -0.3, ..Default::default() };
        let c = car_control_for_velocity(&car, &cmd, DT);
        assert!(c.steer > 0.0, "a negative (right-hand) yaw rate steers right: {c:?}");
        let yaw0 = car.yaw_rad();
        car.step(&c, DT).unwrap();
        assert!((car.speed_mps() - 5.2).abs() < 1e-4, "{}", car.speed_mps());
        assert!((car.yaw_rad() - yaw0 - (-0.3 * DT)).abs() < 1e-5, "yaw change {}", car.yaw_rad() - yaw0);
    }

    #[test]
    fn speed_follows_within_the_pedal_limits_and_a_stop_or_reverse_brakes() {
        let mut car = car_at(0.0);
        let go = VelocityCommand { forward_mps: 10.0, ..Default::default() };
        for _ in 0..60 {
            let c = car_control_for_velocity(&car, &go, DT);
            assert!(c.validate().is_ok() && c.brake == 0.0);
            car.step(&c, DT).unwrap();
        }
        assert!((car.speed_mps() - 10.0).abs() < 1e-3, "{}", car.speed_mps());
        for forward_mps in [0.0, -3.0] {
            let mut c2 = car.clone();
            let stop = VelocityCommand { forward_mps, yaw_rate_rps: 1.0, ..Default::default() };
            let c = car_control_for_velocity(&c2, &stop, DT);
            assert_eq!((c.throttle, c.brake), (0.0, 1.0), "{c:?}");
            for _ in 0..20 {
                let c = car_control_for_velocity(&c2, &stop, DT);
                c2.step(&c, DT).unwrap();
            }
            assert_eq!(c2.speed_mps(), 0.0);
        }
    }

    #[test]
    fn a_car_at_rest_keeps_still_and_straight() {
        let car = car_at(0.0);
        let c = car_control_for_velocity(&car, &VelocityCommand { yaw_rate_rps: 0.5, ..Default::default() }, DT);
        assert_eq!(c, VehicleControl { throttle: 0.0, steer: 0.0, brake: 0.0 });
    }

    #[test]
    fn ackermann_angles_are_left_positive_and_clamped() {
        let mut car = car_at(4.0);
        let c = car_control_for_ackermann(&car, &AckermannCommand { speed_mps: 4.0, steering_angle_rad: 0.2 }, DT);
        assert!(c.steer < 0.0, "a left wheel angle is a negative (left) steer: {c:?}");
        let yaw0 = car.yaw_rad();
        car.step(&c, DT).unwrap();
        let expected = 4.0 * DT * 0.2f32.tan() / BicycleParams::default().wheelbase_m;
        assert!((car.yaw_rad() - yaw0 - expected).abs() < 1e-5);
        let c = car_control_for_ackermann(&car, &AckermannCommand { speed_mps: 4.0, steering_angle_rad: -1.4 }, DT);
        assert_eq!(c.steer, 1.0);
    }

    #[test]
    fn a_free_camera_moves_by_velocity_times_dt() {
        let mut cam = FreeCameraEgo::new(glam::Vec3::new(1.0, 2.0, 3.0), 0.0).unwrap();
        let cmd = VelocityCommand { forward_mps: 2.0, left_mps: 1.0, up_mps: -0.5, yaw_rate_rps: 0.0 };
        let pose = cam.apply(&free_camera_delta_for_velocity(&cmd, DT)).unwrap();
        let p = pose.w_axis.truncate();
        assert!((p - glam::Vec3::new(1.2, 2.1, 2.95)).length() < 1e-5, "{p}");
        let d = free_camera_delta_for_velocity(&VelocityCommand { yaw_rate_rps: -1.0, ..Default::default() }, DT);
        assert!((d.yaw_deg + 0.1f32.to_degrees()).abs() < 1e-5, "negative yaw rate turns right");
    }
}

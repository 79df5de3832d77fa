//! `sensor_msgs`: camera images and calibration.

use serde::{Deserialize, Serialize};

use crate::msgdef::{ros2msg_definition, MsgText};
use crate::std_msgs::{Header, HEADER_MSG};
use crate::Message;

/// `sensor_msgs/msg/Image`: an uncompressed image.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Image {
    /// `stamp`: acquisition time; `frame_id`: the camera's optical frame (z forward, x right, y down).
    pub header: Header,
    /// Number of rows, pixels.
    pub height: u32,
    /// Number of columns, pixels.
    pub width: u32,
    /// Pixel encoding, e.g. `rgb8`, `bgr8`, `mono8`, `32FC1`.
    pub encoding: String,
    /// 1 when multi-byte pixel values are big-endian.
    pub is_bigendian: u8,
    /// Row length in bytes (`3·width` for packed `rgb8`).
    pub step: u32,
    /// Pixel data, `step·height` bytes, rows top to bottom.
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

impl Message for Image {
    const TYPE_NAME: &'static str = "sensor_msgs/msg/Image";
    const DEFINITION: &'static str = ros2msg_definition!(IMAGE_MSG);
}

/// The `.msg` fields of [`Image`].
pub(crate) const IMAGE_MSG: MsgText = MsgText {
    name: "sensor_msgs/Image",
    fields: concat!(
        "std_msgs/Header header\n",
        "uint32 height\n",
        "uint32 width\n",
        "string encoding\n",
        "uint8 is_bigendian\n",
        "uint32 step\n",
        "uint8[] data\n"
    ),
    uses: &[&HEADER_MSG],
};

/// `sensor_msgs/msg/RegionOfInterest`: a sub-window of an image (all zero = the full image).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RegionOfInterest {
    /// Leftmost column, pixels.
    pub x_offset: u32,
    /// Topmost row, pixels.
    pub y_offset: u32,
    /// Height, pixels.
    pub height: u32,
    /// Width, pixels.
    pub width: u32,
    /// Whether a rectified image should be computed for this region.
    pub do_rectify: bool,
}

impl Message for RegionOfInterest {
    const TYPE_NAME: &'static str = "sensor_msgs/msg/RegionOfInterest";
    const DEFINITION: &'static str = ros2msg_definition!(REGION_OF_INTEREST_MSG);
}

/// The `.msg` fields of [`RegionOfInterest`].
pub(crate) const REGION_OF_INTEREST_MSG: MsgText = MsgText {
    name: "sensor_msgs/RegionOfInterest",
    fields: concat!("uint32 x_offset\n", "uint32 y_offset\n", "uint32 height\n", "uint32 width\n", "bool do_rectify\n"),
    uses: &[],
};

/// `sensor_msgs/msg/CameraInfo`: the calibration of a pinhole camera, published with each image.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CameraInfo {
    /// Same stamp and optical `frame_id` as the image it describes.
    pub header: Header,
    /// Image height of the calibration, pixels.
    pub height: u32,
    /// Image width of the calibration, pixels.
    pub width: u32,
    /// Distortion model, e.g. `plumb_bob` (k1, k2, t1, t2, k3).
    pub distortion_model: String,
    /// Distortion coefficients (a sequence: length-prefixed in CDR).
    pub d: Vec<f64>,
    /// Intrinsic matrix K, 3×3 row-major: `[fx 0 cx; 0 fy cy; 0 0 1]`, pixels.
    pub k: [f64; 9],
    /// Rectification rotation R, 3×3 row-major (identity for a monocular camera).
    pub r: [f64; 9],
    /// Projection matrix P, 3×4 row-major: `[fx' 0 cx' Tx; 0 fy' cy' Ty; 0 0 1 0]`.
    pub p: [f64; 12],
    /// Horizontal binning (0 or 1 = none).
    pub binning_x: u32,
    /// Vertical binning (0 or 1 = none).
    pub binning_y: u32,
    /// Region of interest (all zero = the full image).
    pub roi: RegionOfInterest,
}

impl Message for CameraInfo {
    const TYPE_NAME: &'static str = "sensor_msgs/msg/CameraInfo";
    const DEFINITION: &'static str = ros2msg_definition!(CAMERA_INFO_MSG);
}

/// The `.msg` fields of [`CameraInfo`].
pub(crate) const CAMERA_INFO_MSG: MsgText = MsgText {
    name: "sensor_msgs/CameraInfo",
    fields: concat!(
        "std_msgs/Header header\n",
        "uint32 height\n",
        "uint32 width\n",
        "string distortion_model\n",
        "float64[] d\n",
        "float64[9] k\n",
        "float64[9] r\n",
        "float64[12] p\n",
        "uint32 binning_x\n",
        "uint32 binning_y\n",
        "sensor_msgs/RegionOfInterest roi\n"
    ),
    uses: &[&HEADER_MSG, &REGION_OF_INTEREST_MSG],
};

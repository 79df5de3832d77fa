//! Settings several nodes take, with one meaning, default and message everywhere.

use std::path::{Path, PathBuf};

use crate::{BoxError, Env, SettingError};

/// The run directory the launcher gives every node: the fallback of `OUT_DIR` (not a setting).
pub const LAUNCHER_OUT_DIR: &str = "WORLDFLOW_OUT_DIR";

/// A `CONFIG` setting resolved: the config, the name it was given by, and whether it is a preset.
#[derive(Debug, Clone)]
pub struct ConfigChoice<C> {
    pub config: C,
    /// `CONFIG` as given (preset name or file), or the default.
    pub name: String,
    /// A preset name, not a file.
    pub preset: bool,
}

impl Env {
    /// `SEED`: the seed of random weights and sampling; a non-negative integer, default 0.
    pub fn seed(&self) -> Result<u64, SettingError> {
        self.parse_or("SEED", 0, "a non-negative integer")
    }

    /// `FOV_X_DEG`: the horizontal field of view of a camera in degrees, 1..179, default 90.
    pub fn fov_x_deg(&self) -> Result<f32, SettingError> {
        self.parse_valid("FOV_X_DEG", 90.0, "1..179 degrees", |f: &f32| (1.0..179.0).contains(f))
    }

    /// `WEIGHTS`: a checkpoint file, or `None` (seeded random weights). A path that is not a file is
    /// [`SettingError::NoSuchFile`]; `expected` says what the file should be.
    pub fn weights(&self, expected: &str) -> Result<Option<PathBuf>, SettingError> {
        let Some(value) = self.get("WEIGHTS")? else { return Ok(None) };
        let path = PathBuf::from(&value);
        if !path.is_file() {
            return Err(SettingError::NoSuchFile { name: "WEIGHTS".into(), value, expected: expected.into() });
        }
        Ok(Some(path))
    }

    /// `CONFIG`: a preset name (`preset` knows them; `presets` lists them for the error) or a config file
    /// that `load` reads; `default` when unset. A name that is neither is [`SettingError::Invalid`]; a file
    /// that `load` refuses is [`SettingError::Rejected`] with `load`'s error as its source.
    pub fn config<C>(
        &self,
        default: &str,
        preset: impl Fn(&str) -> Option<C>,
        presets: &str,
        load: impl FnOnce(&Path) -> Result<C, BoxError>,
    ) -> Result<ConfigChoice<C>, SettingError> {
        let name = self.get_or("CONFIG", default)?;
        if let Some(config) = preset(&name) {
            return Ok(ConfigChoice { config, name, preset: true });
        }
        let path = PathBuf::from(&name);
        if !path.is_file() {
            return Err(SettingError::invalid(
                "CONFIG",
                name,
                format!("a preset ({presets}) or an existing config file"),
            ));
        }
        match load(&path) {
            Ok(config) => Ok(ConfigChoice { config, name, preset: false }),
            Err(e) => Err(SettingError::rejected("CONFIG", name, e)),
        }
    }

    /// `OUT_DIR`: where a node writes (timings, weights notices, recordings); else the launcher's
    /// [`LAUNCHER_OUT_DIR`]; else `out`.
    pub fn out_dir(&self) -> Result<PathBuf, SettingError> {
        let dir = match self.get("OUT_DIR")? {
            Some(dir) => dir,
            None => self.lookup(LAUNCHER_OUT_DIR)?.unwrap_or_else(|| "out".to_owned()),
        };
        Ok(PathBuf::from(dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: &[&str] = &["SEED", "FOV_X_DEG", "WEIGHTS", "CONFIG", "OUT_DIR"];

    #[test]
    fn shared_settings_defaults_and_errors() {
        let env = Env::from_pairs(NAMES, &[]);
        assert_eq!(env.seed().unwrap(), 0);
        assert_eq!(env.fov_x_deg().unwrap(), 90.0);
        assert_eq!(env.weights("a checkpoint").unwrap(), None);
        let env = Env::from_pairs(
            NAMES,
            &[("SEED", "-1"), ("FOV_X_DEG", "200"), ("WEIGHTS", "/nonexistent/w.safetensors"), ("CONFIG", "nope")],
        );
        assert_eq!(env.seed().unwrap_err().to_string(), "setting SEED=`-1`: expected a non-negative integer");
        assert_eq!(env.fov_x_deg().unwrap_err().to_string(), "setting FOV_X_DEG=`200`: expected 1..179 degrees");
        assert_eq!(
            env.weights("a checkpoint").unwrap_err().to_string(),
            "setting WEIGHTS=`/nonexistent/w.safetensors`: no such file (expected a checkpoint)"
        );
        let e = env.config("tiny", |_| None::<()>, "tiny, small", |_| Ok(())).unwrap_err();
        assert_eq!(e.to_string(), "setting CONFIG=`nope`: expected a preset (tiny, small) or an existing config file");
    }

    #[test]
    fn config_presets_files_and_load_errors() {
        let preset = |n: &str| (n == "tiny").then_some(1);
        let c = Env::from_pairs(NAMES, &[]).config("tiny", preset, "tiny", |_| Ok(2)).unwrap();
        assert_eq!((c.config, c.name.as_str(), c.preset), (1, "tiny", true));
        let file = std::env::temp_dir().join(format!("worldflow-node-kit-{}.json", std::process::id()));
        std::fs::write(&file, "{}").unwrap();
        let shown = file.display().to_string();
        let env = Env::from_pairs(NAMES, &[("CONFIG", &shown)]);
        assert_eq!(env.config("tiny", preset, "tiny", |_| Ok(2)).unwrap().config, 2);
        let e = env.config("tiny", preset, "tiny", |_| Err::<i32, _>("bad field `dim`".into())).unwrap_err();
        std::fs::remove_file(&file).unwrap();
        assert_eq!(e.to_string(), format!("setting CONFIG=`{shown}`"));
        assert_eq!(std::error::Error::source(&e).unwrap().to_string(), "bad field `dim`");
    }

    #[test]
    fn out_dir_falls_back_to_the_launchers_run_directory() {
        assert_eq!(Env::from_pairs(NAMES, &[]).out_dir().unwrap(), PathBuf::from("out"));
        let env = Env::from_pairs(NAMES, &[(LAUNCHER_OUT_DIR, "/runs/1")]);
        assert_eq!(env.out_dir().unwrap(), PathBuf::from("/runs/1"));
        let env = Env::from_pairs(NAMES, &[(LAUNCHER_OUT_DIR, "/runs/1"), ("OUT_DIR", " /mine ")]);
        assert_eq!(env.out_dir().unwrap(), PathBuf::from("/mine"));
        assert_eq!(env.names_read(), ["OUT_DIR"]);
    }
}

//! Helpers for tests that run the example programs over a real TUN
//! device: build the examples, find one, a lab whose device outlives it,
//! wait for a child with a limit, compare large outputs.

use ringtcp::lab::{Lab, LabConfig};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use super::lab::lab_or_skip_with;

/// Builds the example programs once per test run, in the profile of this
/// test binary, so they are never missing or stale: `cargo test
/// --all-targets` compiles examples only as test harnesses, and `cargo test
/// --test programs` not at all. Everything but the examples themselves is
/// built already, so this takes seconds.
pub fn build_examples() -> Result<(), String> {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().map_err(|e| e.to_string())?;
            let profile_dir = exe
                .parent()
                .and_then(Path::parent)
                .and_then(Path::file_name)
                .and_then(|d| d.to_str())
                .ok_or("the test binary is not in target/<profile>/deps")?
                .to_owned();
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
            let mut cmd = Command::new(cargo);
            cmd.args(["build", "--offline", "--examples", "--manifest-path"])
                .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"));
            match profile_dir.as_str() {
                "debug" => cmd.args(["--profile", "test"]),
                "release" => cmd.arg("--release"),
                other => cmd.args(["--profile", other]),
            };
            let out = cmd
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("cannot run cargo: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "cargo build --examples failed:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            Ok(())
        })
        .clone()
}

/// The path of example `name`, built beside this test binary.
#[track_caller]
pub fn example(name: &str) -> PathBuf {
    if let Err(e) = build_examples() {
        panic!("{e}");
    }
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/programs-HASH -> target/<profile>/examples/NAME
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary in target/<profile>/deps");
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing after building the examples",
        path.display()
    );
    path
}

/// A lab whose TUN device outlives the lab's descriptor, so a child can
/// attach to it by name.
pub fn lab(test: &str) -> Option<Lab> {
    let cfg = LabConfig {
        persistent: true,
        ..LabConfig::default()
    };
    // Build before moving into the lab, outside its namespace.
    if let Err(e) = build_examples() {
        panic!("{test}: {e}");
    }
    let mut lab = lab_or_skip_with(test, cfg)?;
    drop(lab.take_tun());
    Some(lab)
}

/// Waits for `child` up to `limit`; kills it and fails the test on timeout.
#[track_caller]
pub fn wait_for(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {limit:?}; killed");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Compares without printing megabytes on failure.
#[track_caller]
pub fn assert_same(got: &[u8], want: &[u8], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    if let Some(at) = got.iter().zip(want).position(|(a, b)| a != b) {
        panic!("{what}: byte {at} differs");
    }
}

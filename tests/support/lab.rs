//! Helpers for tests that run over a real TUN device in a [`Lab`]: build a
//! lab or skip the test where this environment cannot, and run a simulator
//! [`App`] on the real device.

use std::io::{self, Write};
use std::time::Duration;

use ringtcp::lab::{Lab, LabConfig, LabError};
use ringtcp::runtime::{Context, Handler, StopMode};
use ringtcp::sim::App;
use ringtcp::stack::Event;

/// [`Lab::enter`] with the default configuration for a test: `None` with a
/// visible `SKIPPED <test>: <why>` line on stderr when this environment
/// cannot build a lab. When the `CI` environment variable is set (to
/// anything but empty, `0` or `false`) a missing privilege is a failure and
/// this panics instead. Any other error panics.
#[track_caller]
pub fn lab_or_skip(test_name: &str) -> Option<Lab> {
    lab_or_skip_with(test_name, LabConfig::default())
}

/// [`lab_or_skip`] with a configuration.
#[track_caller]
pub fn lab_or_skip_with(test_name: &str, cfg: LabConfig) -> Option<Lab> {
    match Lab::enter(cfg) {
        Ok(lab) => Some(lab),
        Err(LabError::Unsupported(why)) => {
            if in_ci() {
                panic!("{test_name}: {why} (CI is set, so a missing privilege fails the test)");
            }
            // Straight to the stderr handle: the test harness captures
            // `eprintln!`, and a skip must be seen.
            let _ = writeln!(io::stderr(), "SKIPPED {test_name}: {why}");
            None
        }
        Err(e @ LabError::Io(_)) => panic!("{test_name}: {e}"),
    }
}

fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// Runs a simulator [`App`] on the real device: the same application code
/// drives the stack in simulation and over the TUN. The loop stops
/// (gracefully) when the application says it is done.
#[derive(Debug)]
pub struct RunApp<A> {
    /// The application, called with every event and once per loop turn.
    pub app: A,
    /// How long the graceful stop may take once the app is done.
    pub linger: Duration,
}

impl<A: App> RunApp<A> {
    /// Wraps `app` with a linger of 2 s.
    pub fn new(app: A) -> RunApp<A> {
        RunApp {
            app,
            linger: Duration::from_secs(2),
        }
    }
}

impl<A: App> Handler for RunApp<A> {
    fn on_event(&mut self, cx: &mut Context<'_>, event: Event) {
        let now = cx.now();
        self.app.on_event(now, cx.stack(), event);
    }

    fn on_turn(&mut self, cx: &mut Context<'_>) {
        let now = cx.now();
        self.app.poll(now, cx.stack());
        if self.app.done() {
            cx.stop(StopMode::Graceful(self.linger));
        }
    }
}

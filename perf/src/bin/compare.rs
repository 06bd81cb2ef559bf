//! Run every workload for ringtcp (in up to four variants: TUN offloads
//! on, offloads off, no bulk spin, busy polling), smoltcp and the kernel over veth, and
//! print one table of medians [min-max] with each ringtcp variant's ratios
//! to the other two. Writes `perf/results/NAME.{md,json}` (`--name`,
//! default `latest`) and a dated copy of each.
//!
//! Builds first: ringtcp's `examples/bench` at the repository root and this
//! package's `smol-bench` and `kernel-bench`. A program that fails to build
//! or to run shows as "n/a" with its error; the others still run.

use std::fmt::Write as _;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use ringtcp_perf::Mode;
use serde_json::{Map, Value, json};

#[derive(Parser, Debug)]
#[command(about = "ringtcp vs smoltcp vs kernel-over-veth: one table, same peer, same workloads")]
struct Cli {
    /// Seconds per run.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Runs per program and workload (the table shows the median).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// 1 s × 1 run: a smoke test, not a measurement.
    #[arg(long)]
    quick: bool,
    /// Interface MTU for every program.
    #[arg(long, default_value_t = 1500)]
    mtu: usize,
    /// Pingpong request size, bytes.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Workloads to run, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "download,upload,pingpong,connect"
    )]
    modes: Vec<Mode>,
    /// Programs to run, comma-separated (ringtcp, ringtcp-no-offloads,
    /// ringtcp-no-spin, ringtcp-busy-poll, smoltcp, kernel-veth).
    /// ringtcp-no-spin runs the download only (the bulk spin it turns off
    /// follows bulk reads), ringtcp-busy-poll download and pingpong.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "ringtcp,ringtcp-no-offloads,ringtcp-no-spin,ringtcp-busy-poll,smoltcp,kernel-veth"
    )]
    tools: Vec<String>,
    /// Pin every program to CPU 0 (its affinity is set before exec, so all
    /// its threads, the kernel peer's included, share one core): same-core
    /// latency figures, free of cross-CPU wake-up costs.
    #[arg(long)]
    pin1cpu: bool,
    /// Use the binaries as they are; do not run cargo build.
    #[arg(long)]
    no_build: bool,
    /// Where NAME.md / NAME.json go (default perf/results).
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// Base name of the result files: NAME.md, NAME.json, and the dated
    /// copies STAMP-NAME.{md,json} (plain STAMP.{md,json} for `latest`).
    /// E.g. `--pin1cpu --name latest-pinned` keeps the pinned run apart.
    #[arg(long, default_value = "latest")]
    name: String,
}

/// Every run of one program on one workload: its JSON, or why there is none.
type Runs = Vec<Result<Value, String>>;
/// Per workload, per program, its runs.
type Results = Vec<(Mode, Vec<(&'static str, Runs)>)>;

/// One program, or one way of running ringtcp's bench.
struct Tool {
    name: &'static str,
    /// For ringtcp's variants, the label of the table's "ringtcp variant"
    /// column; None for smoltcp and kernel-veth.
    variant: Option<&'static str>,
    /// Flags added to the bench program's command line.
    args: &'static [&'static str],
    /// The workloads it runs; None: all of them.
    only: Option<&'static [Mode]>,
}

/// Busy-poll window of the ringtcp-busy-poll variant, µs.
const BUSY_POLL_US: &str = "200";

const TOOLS: [Tool; 6] = [
    Tool {
        name: "ringtcp",
        variant: Some("offloads"),
        args: &[],
        only: None,
    },
    Tool {
        name: "ringtcp-no-offloads",
        variant: Some("no offloads"),
        args: &["--no-offloads"],
        only: None,
    },
    Tool {
        name: "ringtcp-no-spin",
        variant: Some("no bulk spin"),
        args: &["--bulk-spin", "0"],
        only: Some(&[Mode::Download]),
    },
    Tool {
        name: "ringtcp-busy-poll",
        variant: Some("busy-poll"),
        args: &["--busy-poll", BUSY_POLL_US],
        only: Some(&[Mode::Download, Mode::Pingpong]),
    },
    Tool {
        name: "smoltcp",
        variant: None,
        args: &[],
        only: None,
    },
    Tool {
        name: "kernel-veth",
        variant: None,
        args: &[],
        only: None,
    },
];

fn tool(name: &str) -> Option<&'static Tool> {
    TOOLS.iter().find(|t| t.name == name)
}

/// Whether `name` is one of ringtcp's variants (runs ringtcp's bench).
fn is_ringtcp(name: &str) -> bool {
    tool(name).is_some_and(|t| t.variant.is_some())
}

impl Tool {
    fn runs(&self, mode: Mode) -> bool {
        self.only.is_none_or(|m| m.contains(&mode))
    }
}
/// max/min across runs above this is flagged in the notes.
const WIDE_SPREAD: f64 = 1.3;

fn main() {
    let mut cli = Cli::parse();
    if cli.quick {
        cli.seconds = 1.0;
        cli.runs = 1;
    }
    cli.runs = cli.runs.max(1);
    for t in &cli.tools {
        if tool(t).is_none() {
            let names: Vec<&str> = TOOLS.iter().map(|t| t.name).collect();
            eprintln!("error: unknown tool {t:?} (expected one of {names:?})");
            std::process::exit(2);
        }
    }
    if cli.name.is_empty()
        || cli.name.contains('/')
        || cli.name.starts_with('.')
        || cli.name.ends_with(".md")
        || cli.name.ends_with(".json")
    {
        eprintln!(
            "error: --name {:?}: expected a plain base name such as latest-pinned",
            cli.name
        );
        std::process::exit(2);
    }
    let perf_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let root = perf_dir.parent().expect("perf/ has a parent").to_path_buf();
    let out_dir = cli
        .out_dir
        .clone()
        .unwrap_or_else(|| perf_dir.join("results"));

    // Where each program is, or why it is not available. The ringtcp
    // variants share one bench binary, built once.
    let mut programs: Vec<(&'static Tool, Result<PathBuf, String>)> = Vec::new();
    let own = find_own_binaries(&perf_dir, cli.no_build);
    let mut ringtcp_bench: Option<Result<PathBuf, String>> = None;
    for tool in &TOOLS {
        if !cli.tools.iter().any(|t| t == tool.name) {
            continue;
        }
        // Not one of the selected workloads: nothing to build or run.
        if !cli.modes.iter().any(|&m| tool.runs(m)) {
            continue;
        }
        let path = if tool.variant.is_some() {
            ringtcp_bench
                .get_or_insert_with(|| find_ringtcp_bench(&root, cli.no_build))
                .clone()
        } else if tool.name == "smoltcp" {
            own.clone().map(|d| d.join("smol-bench"))
        } else {
            own.clone().map(|d| d.join("kernel-bench"))
        };
        let path = path.and_then(|p| {
            if p.exists() {
                Ok(p)
            } else {
                Err(format!("{} not found", p.display()))
            }
        });
        if let Err(e) = &path {
            eprintln!("{}: n/a: {e}", tool.name);
        }
        programs.push((tool, path));
    }

    // results[mode][tool] = runs (Ok(json) or Err(error line)).
    let mut results: Results = Vec::new();
    let total: usize = cli
        .modes
        .iter()
        .map(|&m| cli.runs * programs.iter().filter(|(t, _)| t.runs(m)).count())
        .sum();
    let mut done = 0;
    for &mode in &cli.modes {
        // The programs that run this workload (ringtcp-busy-poll: download
        // and pingpong only); the others have no column to fill for it.
        let here: Vec<&(&'static Tool, Result<PathBuf, String>)> =
            programs.iter().filter(|(t, _)| t.runs(mode)).collect();
        let mut per_tool: Vec<(&'static str, Runs)> =
            here.iter().map(|(t, _)| (t.name, Vec::new())).collect();
        // Interleave the programs run by run, so that a slow spell of the
        // machine does not land on one program only.
        for run in 0..cli.runs {
            for (i, (tool, path)) in here.iter().enumerate() {
                let tool_name = tool.name;
                done += 1;
                let outcome = match path {
                    Ok(p) => run_one(tool, p, mode, &cli),
                    Err(e) => Err(e.clone()),
                };
                match &outcome {
                    Ok(v) => eprintln!(
                        "[{done}/{total}] {tool_name} {mode} run {}: {}",
                        run + 1,
                        summary(mode, v)
                    ),
                    Err(e) => eprintln!(
                        "[{done}/{total}] {tool_name} {mode} run {}: n/a: {e}",
                        run + 1
                    ),
                }
                per_tool[i].1.push(outcome);
            }
        }
        results.push((mode, per_tool));
    }

    let machine = machine(&root);
    let rows = table_rows(&results);
    let md = render_markdown(&cli, &machine, &programs, &rows);
    println!("{md}");

    let json = json!({
        "machine": machine,
        "config": {
            "seconds": cli.seconds,
            "runs": cli.runs,
            "mtu": cli.mtu,
            "size": cli.size,
            "pin1cpu": cli.pin1cpu,
            "name": cli.name,
            "modes": cli.modes.iter().map(|m| m.name()).collect::<Vec<_>>(),
            "tools": programs.iter().map(|(t, p)| json!({
                "tool": t.name,
                "variant": t.variant,
                "args": t.args,
                "modes": t.only.map(|m| m.iter().map(|m| m.name()).collect::<Vec<_>>()),
                "program": p.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
                "error": p.as_ref().err(),
            })).collect::<Vec<_>>(),
        },
        "table": rows.iter().map(Row::to_json).collect::<Vec<_>>(),
        "runs": results.iter().map(|(mode, per_tool)| {
            let mut m = Map::new();
            for (tool, runs) in per_tool {
                m.insert(tool.to_string(), Value::Array(runs.iter().map(|r| match r {
                    Ok(v) => v.clone(),
                    Err(e) => json!({ "error": e }),
                }).collect()));
            }
            (mode.name().to_string(), Value::Object(m))
        }).collect::<Map<_, _>>(),
    });
    if let Err(e) = write_results(&out_dir, &cli.name, &machine, &md, &json) {
        eprintln!("error: writing results to {}: {e}", out_dir.display());
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------
// Building and finding the programs.

/// Build this package's binaries; the directory holding them.
fn find_own_binaries(perf_dir: &Path, no_build: bool) -> Result<PathBuf, String> {
    let here = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf));
    if no_build {
        return here.ok_or_else(|| "cannot tell where compare runs from".into());
    }
    let manifest = perf_dir.join("Cargo.toml");
    let exes = cargo_build(
        perf_dir,
        &[
            "build",
            "--release",
            "--bins",
            "--manifest-path",
            &manifest.to_string_lossy(),
        ],
    )?;
    exes.iter()
        .find(|(name, _)| name == "smol-bench")
        .and_then(|(_, p)| p.parent().map(Path::to_path_buf))
        .or(here)
        .ok_or_else(|| "cargo built no smol-bench".into())
}

/// Build ringtcp's bench example at the repository root; its path.
fn find_ringtcp_bench(root: &Path, no_build: bool) -> Result<PathBuf, String> {
    if no_build {
        let dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        return Ok(dir.join("release/examples/bench"));
    }
    let exes = cargo_build(root, &["build", "--release", "--example", "bench"])?;
    exes.into_iter()
        .find(|(name, _)| name == "bench")
        .map(|(_, p)| p)
        .ok_or_else(|| "cargo built no bench example".into())
}

/// Run a cargo build; the (target name, executable) pairs it produced, or
/// the last lines of its diagnostics.
fn cargo_build(dir: &Path, args: &[&str]) -> Result<Vec<(String, PathBuf)>, String> {
    eprintln!("cargo {} (in {})", args.join(" "), dir.display());
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .arg("--message-format=json-render-diagnostics")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut exes = Vec::new();
    let mut errors = Vec::new();
    for line in stdout.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        match v["reason"].as_str() {
            Some("compiler-artifact") => {
                if let (Some(name), Some(exe)) =
                    (v["target"]["name"].as_str(), v["executable"].as_str())
                {
                    exes.push((name.to_string(), PathBuf::from(exe)));
                }
            }
            Some("compiler-message") if v["message"]["level"] == "error" => {
                if let Some(m) = v["message"]["message"].as_str() {
                    errors.push(m.to_string());
                }
            }
            _ => {}
        }
    }
    if !out.status.success() {
        let why = errors
            .first()
            .cloned()
            .unwrap_or_else(|| format!("exit status {}", out.status));
        return Err(format!("build failed: cargo {}: {why}", args.join(" ")));
    }
    Ok(exes)
}

// ---------------------------------------------------------------------------
// Running one measurement.

fn run_one(tool: &Tool, program: &Path, mode: Mode, cli: &Cli) -> Result<Value, String> {
    let mut cmd = Command::new(program);
    if tool.variant.is_some() {
        cmd.arg("--lab");
    }
    cmd.args(tool.args);
    cmd.arg("--seconds")
        .arg(cli.seconds.to_string())
        .arg("--json");
    // ringtcp's bench may not know every flag: pass only what differs from
    // the shared defaults.
    if cli.mtu != 1500 {
        cmd.arg("--mtu").arg(cli.mtu.to_string());
    }
    if mode == Mode::Pingpong && cli.size != 64 {
        cmd.arg("--size").arg(cli.size.to_string());
    }
    cmd.arg(mode.name());
    if cli.pin1cpu {
        use std::os::unix::process::CommandExt;
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(0, &mut set);
                if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let timeout = Duration::from_secs_f64(cli.seconds + 60.0);
    let (status, stdout, stderr) = run_with_timeout(cmd, timeout)?;
    let last_err = || {
        stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .to_string()
    };
    if !status {
        return Err(format!("failed: {}", clip(&last_err(), 200)));
    }
    let last = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let v: Value = serde_json::from_str(last)
        .map_err(|e| format!("last line of stdout is not JSON ({e}): {}", clip(last, 120)))?;
    if v["mode"].as_str() != Some(mode.name()) {
        return Err(format!("JSON is for mode {:?}, expected {mode}", v["mode"]));
    }
    Ok(v)
}

/// Run to completion or kill it after `timeout`: (success, stdout, stderr).
fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Result<(bool, String, String), String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let t_out = thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if start.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(format!("waiting for the program: {e}")),
        }
    };
    let stdout = t_out.join().unwrap_or_default();
    let stderr = t_err.join().unwrap_or_default();
    match status {
        None => Err(format!(
            "killed after {} s without finishing",
            timeout.as_secs()
        )),
        Some(st) => Ok((st.success(), stdout, stderr)),
    }
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n).collect::<String>() + "…"
    }
}

fn summary(mode: Mode, v: &Value) -> String {
    match mode {
        Mode::Download | Mode::Upload => {
            format!("{:.2} Gbit/s", v["gbps"].as_f64().unwrap_or(f64::NAN))
        }
        Mode::Pingpong => format!(
            "p50 {:.1} µs, {:.0} round trips/s",
            v["p50_us"].as_f64().unwrap_or(f64::NAN),
            v["per_sec"].as_f64().unwrap_or(f64::NAN)
        ),
        Mode::Connect => format!(
            "{:.0} connections/s",
            v["per_sec"].as_f64().unwrap_or(f64::NAN)
        ),
    }
}

// ---------------------------------------------------------------------------
// The table.

/// Whether a larger figure is better.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Better {
    Higher,
    Lower,
}

struct Metric {
    name: &'static str,
    better: Better,
    decimals: usize,
    get: fn(&Value) -> Option<f64>,
}

fn metrics(mode: Mode) -> Vec<Metric> {
    fn f(v: &Value, k: &str) -> Option<f64> {
        v[k].as_f64()
    }
    fn cpu_pct(v: &Value) -> Option<f64> {
        let secs = v["seconds"].as_f64()?;
        Some((v["cpu_user_s"].as_f64()? + v["cpu_sys_s"].as_f64()?) / secs * 100.0)
    }
    let cpu = Metric {
        name: "CPU % (stack thread)",
        better: Better::Lower,
        decimals: 0,
        get: cpu_pct,
    };
    let lat = |name, key: &'static str| Metric {
        name,
        better: Better::Lower,
        decimals: 1,
        get: match key {
            "p50_us" => |v| f(v, "p50_us"),
            "p90_us" => |v| f(v, "p90_us"),
            "p99_us" => |v| f(v, "p99_us"),
            "p999_us" => |v| f(v, "p999_us"),
            _ => |v| f(v, "max_us"),
        },
    };
    match mode {
        Mode::Download | Mode::Upload => vec![
            Metric {
                name: "Gbit/s",
                better: Better::Higher,
                decimals: 2,
                get: |v| f(v, "gbps"),
            },
            cpu,
            Metric {
                name: "TUN drops",
                better: Better::Lower,
                decimals: 0,
                get: tun_drops,
            },
        ],
        Mode::Pingpong => vec![
            lat("p50 µs", "p50_us"),
            lat("p90 µs", "p90_us"),
            lat("p99 µs", "p99_us"),
            lat("p99.9 µs", "p999_us"),
            lat("max µs", "max_us"),
            Metric {
                name: "round trips/s",
                better: Better::Higher,
                decimals: 0,
                get: |v| f(v, "per_sec"),
            },
            cpu,
        ],
        Mode::Connect => vec![
            Metric {
                name: "connections/s",
                better: Better::Higher,
                decimals: 0,
                get: |v| f(v, "per_sec"),
            },
            lat("p50 µs per connection", "p50_us"),
            lat("p99 µs per connection", "p99_us"),
            cpu,
        ],
    }
}

/// Packets the kernel dropped on the way to the stack during the run:
/// ringtcp's top-level `tun_tx_drops`, smol-bench's `settings.tun_tx_drops`,
/// kernel-bench's `settings.veth_tx_drops` (its veth stands for the TUN).
fn tun_drops(v: &Value) -> Option<f64> {
    let s = &v["settings"];
    v["tun_tx_drops"]
        .as_f64()
        .or_else(|| s["tun_tx_drops"].as_f64())
        .or_else(|| s["veth_tx_drops"].as_f64())
}

/// Median and range of one program's runs for one metric.
#[derive(Clone, Copy)]
struct Stat {
    median: f64,
    min: f64,
    max: f64,
    n: usize,
}

fn stat(values: &[f64]) -> Option<Stat> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some(Stat {
        median,
        min: v[0],
        max: v[n - 1],
        n,
    })
}

struct Row {
    workload: Mode,
    /// The ringtcp variant (its tool name) whose figure is this row's
    /// "ringtcp" column; None when no ringtcp variant ran the workload.
    variant: Option<&'static str>,
    metric: &'static str,
    better: Better,
    decimals: usize,
    /// The row's ringtcp variant, then smoltcp and kernel-veth (those that
    /// ran): the figure or why there is none.
    cells: Vec<(&'static str, Result<Stat, String>)>,
    notes: Vec<String>,
}

impl Row {
    fn get(&self, tool: &str) -> Option<Stat> {
        self.cells
            .iter()
            .find(|(t, _)| *t == tool)
            .and_then(|(_, s)| s.as_ref().ok().copied())
    }

    /// The row's ringtcp variant ÷ `other`, medians.
    fn ratio(&self, other: &str) -> Option<f64> {
        let r = self.get(self.variant?)?.median;
        let o = self.get(other)?.median;
        (o != 0.0).then(|| r / o)
    }

    /// The label of the "ringtcp variant" column.
    fn variant_label(&self) -> &'static str {
        self.variant
            .and_then(tool)
            .and_then(|t| t.variant)
            .unwrap_or("-")
    }

    fn cell(&self, tool: Option<&str>) -> String {
        match tool.and_then(|tool| self.cells.iter().find(|(t, _)| *t == tool)) {
            None => "-".into(),
            Some((_, Err(_))) => "n/a".into(),
            Some((_, Ok(s))) => {
                let d = self.decimals;
                if s.n > 1 {
                    format!("{:.d$} [{:.d$}-{:.d$}]", s.median, s.min, s.max)
                } else {
                    format!("{:.d$}", s.median)
                }
            }
        }
    }

    fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("workload".into(), json!(self.workload.name()));
        o.insert(
            "variant".into(),
            json!(self.variant.map(|_| self.variant_label())),
        );
        o.insert("ringtcp_tool".into(), json!(self.variant));
        o.insert("metric".into(), json!(self.metric));
        o.insert(
            "better".into(),
            json!(if self.better == Better::Higher {
                "higher"
            } else {
                "lower"
            }),
        );
        for (tool, cell) in &self.cells {
            // The variant's figure goes under "ringtcp", as before variants.
            let key = if is_ringtcp(tool) { "ringtcp" } else { tool };
            o.insert(
                key.to_string(),
                match cell {
                    Ok(s) => json!({ "median": s.median, "min": s.min, "max": s.max, "n": s.n }),
                    Err(e) => json!({ "error": e }),
                },
            );
        }
        o.insert("ringtcp_over_smoltcp".into(), json!(self.ratio("smoltcp")));
        o.insert(
            "ringtcp_over_kernel".into(),
            json!(self.ratio("kernel-veth")),
        );
        o.insert("notes".into(), json!(self.notes.join("; ")));
        Value::Object(o)
    }
}

/// One row per workload, metric and ringtcp variant (in that order, so the
/// variants of one metric sit next to each other). Notes about a ringtcp
/// variant go on that variant's rows; notes about smoltcp and kernel-veth,
/// whose figures repeat across the variants, on the first variant's row.
fn table_rows(results: &Results) -> Vec<Row> {
    let mut rows = Vec::new();
    for (mode, per_tool) in results {
        // No selected program runs this workload: no rows for it.
        if per_tool.is_empty() {
            continue;
        }
        let mut variants: Vec<Option<&'static str>> = per_tool
            .iter()
            .filter(|(t, _)| is_ringtcp(t))
            .map(|(t, _)| Some(*t))
            .collect();
        if variants.is_empty() {
            variants.push(None);
        }
        for (mi, m) in metrics(*mode).into_iter().enumerate() {
            // Per program: its cell and the notes about it for this metric.
            let mut per_cell: Vec<(&'static str, Result<Stat, String>, Vec<String>)> = Vec::new();
            for (tool, runs) in per_tool {
                let tool = *tool;
                let mut notes = Vec::new();
                let values: Vec<f64> = runs
                    .iter()
                    .filter_map(|r| r.as_ref().ok())
                    .filter_map(m.get)
                    .collect();
                let failed: Vec<&String> = runs.iter().filter_map(|r| r.as_ref().err()).collect();
                let cell = match stat(&values) {
                    Some(s) => Ok(s),
                    None => Err(failed
                        .first()
                        .map(|e| e.to_string())
                        .unwrap_or_else(|| format!("no {} in its JSON", m.name))),
                };
                // Errors and failed runs are noted once per workload (first
                // metric); spreads on every row they concern.
                if mi == 0 {
                    match &cell {
                        Err(e) => notes.push(format!("{tool} n/a: {}", clip(e, 160))),
                        Ok(_) if !failed.is_empty() => notes.push(format!(
                            "{tool}: {} of {} runs failed ({})",
                            failed.len(),
                            runs.len(),
                            clip(failed[0], 100)
                        )),
                        Ok(_) => {}
                    }
                }
                if mi == 0
                    && matches!(mode, Mode::Download | Mode::Upload)
                    && let Some(note) = loss_note(tool, runs)
                {
                    notes.push(note);
                }
                if let Ok(s) = &cell
                    && s.n > 1
                    && s.min > 0.0
                    && s.max / s.min > WIDE_SPREAD
                {
                    notes.push(format!("wide spread {tool} (max/min {:.2})", s.max / s.min));
                }
                per_cell.push((tool, cell, notes));
            }
            for (vi, &variant) in variants.iter().enumerate() {
                let mut cells = Vec::new();
                let mut notes = Vec::new();
                for (tool, cell, n) in &per_cell {
                    let mine = Some(*tool) == variant;
                    if !mine && is_ringtcp(tool) {
                        continue;
                    }
                    if mine || vi == 0 {
                        notes.extend(n.iter().cloned());
                    }
                    cells.push((*tool, cell.clone()));
                }
                rows.push(Row {
                    workload: *mode,
                    variant,
                    metric: m.name,
                    better: m.better,
                    decimals: m.decimals,
                    cells,
                    notes,
                });
            }
        }
    }
    rows
}

/// "TOOL retransmits N (max), drops M (max)", medians over the runs, when a bulk run
/// lost packets: the kernel's retransmissions (smoltcp, kernel-veth: from
/// the namespaces' counters) or ringtcp's own `retransmits`, and the
/// interface's transmit drops (see [`tun_drops`]).
fn loss_note(tool: &str, runs: &Runs) -> Option<String> {
    let ok: Vec<&Value> = runs.iter().filter_map(|r| r.as_ref().ok()).collect();
    // (median, max) over the runs that report the counter.
    let pick = |f: &dyn Fn(&Value) -> Option<f64>| {
        let v: Vec<f64> = ok.iter().filter_map(|v| f(v)).collect();
        stat(&v).map(|s| (s.median, s.max))
    };
    let retrans = pick(&|v| {
        let s = &v["settings"];
        let sum: Vec<f64> = [
            &v["retransmits"],
            &s["kernel_retrans_segs"],
            &s["server_retrans_segs"],
            &s["client_retrans_segs"],
        ]
        .iter()
        .filter_map(|x| x.as_f64())
        .collect();
        (!sum.is_empty()).then(|| sum.iter().sum())
    });
    let drops = pick(&tun_drops);
    let (r, rmax) = retrans.unwrap_or_default();
    let (d, dmax) = drops.unwrap_or_default();
    (rmax > 0.0 || dmax > 0.0)
        .then(|| format!("{tool} retransmits {r:.0} (max {rmax:.0}), drops {d:.0} (max {dmax:.0})"))
}

fn render_markdown(
    cli: &Cli,
    machine: &Value,
    programs: &[(&'static Tool, Result<PathBuf, String>)],
    rows: &[Row],
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# ringtcp vs smoltcp vs kernel (veth){}\n",
        if cli.pin1cpu {
            ", pinned to CPU 0"
        } else {
            ", not pinned"
        }
    );
    let _ = writeln!(
        s,
        "{} · {} cores · Linux {} · {} · ringtcp {}\n",
        machine["cpu"].as_str().unwrap_or("?"),
        machine["cores"],
        machine["kernel"].as_str().unwrap_or("?"),
        machine["date"].as_str().unwrap_or("?"),
        machine["commit"].as_str().unwrap_or("?"),
    );
    let _ = writeln!(
        s,
        "CPU placement: {}\n",
        if cli.pin1cpu {
            "**pinned** (`--pin1cpu`): every program, its kernel peer included, runs on CPU 0 \
             only; same-core figures, free of cross-CPU wake-ups"
        } else {
            "**not pinned**: the scheduler places the stack and the kernel peer on any CPU; \
             cross-CPU wake-ups are in the latency figures"
        }
    );
    let _ = writeln!(
        s,
        "{} run(s) of {} s per program and workload, MTU {}, pingpong {} bytes; median [min-max]. \
         Throughput is measured by the receiver; CPU % is user+sys of the thread that runs the stack \
         (ringtcp's loop thread, smoltcp's poll loop, the kernel client's thread, whose system time \
         includes the kernel TCP work done in its syscalls) over the measured interval, 100 = one core; \
         the kernel peer's threads are not in it. TUN drops: packets the kernel dropped on the way to \
         the stack (TUN transmit queue full; for kernel-veth, the veth's transmit drops).\n",
        cli.runs, cli.seconds, cli.mtu, cli.size,
    );
    let variants: Vec<String> = programs
        .iter()
        .filter_map(|(t, _)| {
            let label = t.variant?;
            let args = if t.args.is_empty() {
                "default flags: TUN checksum offload and TSO on".to_string()
            } else {
                format!("`{}`", t.args.join(" "))
            };
            let only = t.only.map_or(String::new(), |m| {
                let m: Vec<&str> = m.iter().map(|m| m.name()).collect();
                format!(", {} only", m.join(", "))
            });
            Some(format!("*{label}* ({args}{only})"))
        })
        .collect();
    if !variants.is_empty() {
        let _ = writeln!(
            s,
            "ringtcp variants, one row each, all with the same bench program: {}. \
             The smoltcp and kernel-veth figures repeat on each variant's row.\n",
            variants.join(", ")
        );
    }
    let _ = writeln!(
        s,
        "Ratios are the row's ringtcp variant ÷ other (medians). Rows marked ↑: higher is better, a ratio above 1 \
         favours ringtcp. Rows marked ↓ (latency, CPU, drops): lower is better, a ratio BELOW 1 favours ringtcp.\n"
    );
    let _ = writeln!(
        s,
        "| workload | ringtcp variant | metric | ringtcp | smoltcp | kernel-veth | ringtcp/smoltcp | ringtcp/kernel | notes |"
    );
    let _ = writeln!(s, "|---|---|---|---:|---:|---:|---:|---:|---|");
    for r in rows {
        let arrow = if r.better == Better::Higher {
            "↑"
        } else {
            "↓"
        };
        let ratio = |o: &str| r.ratio(o).map_or("n/a".to_string(), |x| format!("{x:.2}"));
        let _ = writeln!(
            s,
            "| {} | {} | {} {} | {} | {} | {} | {} | {} | {} |",
            r.workload,
            r.variant_label(),
            r.metric,
            arrow,
            r.cell(r.variant),
            r.cell(Some("smoltcp")),
            r.cell(Some("kernel-veth")),
            ratio("smoltcp"),
            ratio("kernel-veth"),
            r.notes.join("; ").replace('|', "/"),
        );
    }
    s
}

// ---------------------------------------------------------------------------
// Machine description and output files.

fn machine(root: &Path) -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = command_line("uname", &["-r"], root).unwrap_or_default();
    let date = command_line("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"], root).unwrap_or_default();
    let mut commit = command_line("git", &["rev-parse", "--short=12", "HEAD"], root)
        .unwrap_or_else(|| "unknown".into());
    if command_line(
        "git",
        &["status", "--porcelain", "--untracked-files=no"],
        root,
    )
    .is_some_and(|s| !s.is_empty())
    {
        commit += "-dirty";
    }
    let cc = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_congestion_control")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    json!({
        "cpu": cpu,
        "cores": cores,
        "kernel": kernel,
        "date": date,
        "commit": commit,
        "tcp_congestion_control": cc,
    })
}

fn command_line(cmd: &str, args: &[&str], dir: &Path) -> Option<String> {
    let out = Command::new(cmd)
        .args(args)
        .current_dir(dir)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Write NAME.md and NAME.json, and the dated copies STAMP-NAME.md and
/// STAMP-NAME.json (STAMP.md and STAMP.json for the default name,
/// `latest`, as before `--name`).
fn write_results(
    dir: &Path,
    base: &str,
    machine: &Value,
    md: &str,
    json: &Value,
) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let stamp = machine["date"]
        .as_str()
        .unwrap_or("undated")
        .replace(':', "");
    let dated = if base == "latest" {
        stamp
    } else {
        format!("{stamp}-{base}")
    };
    let text = serde_json::to_string_pretty(json).map_err(io::Error::other)? + "\n";
    for (name, body) in [
        (format!("{base}.md"), md),
        (format!("{base}.json"), text.as_str()),
        (format!("{dated}.md"), md),
        (format!("{dated}.json"), text.as_str()),
    ] {
        // Write then rename, so a reader never sees half a file.
        let path = dir.join(&name);
        let tmp = dir.join(format!("{name}.tmp"));
        std::fs::write(&tmp, body)?;
        std::fs::rename(&tmp, &path)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

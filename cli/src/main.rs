//! The memscope command-line tool: inspect a recording, export it to JSON
//! or to a self-contained HTML report.

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use memscope::export::profile::Profile;
use memscope::export::{dhat, folded, JsonOptions};
use memscope::replay::Replay;
use memscope::OnFull;
use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod top;

/// Exit status: the recording could not be read, or the output not written.
const EXIT_FAILED: u8 = 1;
/// Exit status: replayed, but the file is damaged or truncated.
const EXIT_INCOMPLETE: u8 = 3;

const EXIT_CODES: &str = "\
Exit status:
  0  success
  1  the recording cannot be read (missing file, not a memscope recording,
     newer format version, I/O error), or the output cannot be written
  2  usage error (unknown command, missing or bad argument)
  3  the recording was replayed but is damaged or truncated (no End record);
     the output is still written and covers every readable record

Errors are printed to stderr as `memscope: <what went wrong, with the path>`.";

#[derive(Debug, Parser)]
#[command(
    name = "memscope",
    version,
    about = "Inspect memscope recordings of heap allocations and export them to JSON or an HTML report",
    after_help = format!(
        "Examples:\n  memscope info run.memscope\n  memscope json run.memscope -o run.json\n  memscope html run.memscope -o report.html\n  memscope html /var/lib/myapp/heap -o report.html   (a directory of segments)\n\n\
         Every command takes a recording file or a directory of segments; a directory's segments replay in order as one recording.\n\n\
         A progress bar shows on stderr while a recording replays, when stderr is a terminal.\n\n{EXIT_CODES}"
    )
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show a recording's header, totals, threads, lost events and damage.
    #[command(
        after_help = "Example:\n  memscope info run.memscope\n\nExits with 3 when the file is damaged or truncated (see `memscope --help`)."
    )]
    Info {
        /// The recording file, or a directory of segments (`Recorder::segment_bytes`).
        file: PathBuf,
    },
    /// Replay a recording and write it as one JSON document (fields: docs/JSON.md).
    #[command(
        after_help = "Examples:\n  memscope json run.memscope -o run.json\n  memscope json run.memscope --pretty | less\n  memscope json run.memscope --only-tracked -o tracked.json\n\n\
                      Exits with 3 when the file is damaged or truncated; the JSON is still written (see `memscope --help`)."
    )]
    Json {
        /// The recording file, or a directory of segments (`Recorder::segment_bytes`).
        file: PathBuf,
        /// Where to write the JSON; `-` is standard output.
        #[arg(short, long, value_name = "OUT", default_value = "-")]
        output: PathBuf,
        /// Indent the JSON for reading.
        #[arg(long)]
        pretty: bool,
        /// Only the totals and the tracked variables, scopes and foreign
        /// regions: no timeline, threads, leaks or histograms.
        #[arg(long)]
        only_tracked: bool,
    },
    /// Replay a recording and write one self-contained HTML report (open it in any browser, offline).
    #[command(
        after_help = "Examples:\n  memscope html run.memscope -o report.html\n  memscope html run.memscope --only-tracked -o tracked.html\n\n\
                      The report embeds the same data `memscope json` writes and needs no network.\n\
                      Exits with 3 when the file is damaged or truncated; the report is still written (see `memscope --help`)."
    )]
    Html {
        /// The recording file, or a directory of segments (`Recorder::segment_bytes`).
        file: PathBuf,
        /// Where to write the report; `-` is standard output.
        #[arg(short, long, value_name = "OUT", default_value = "-")]
        output: PathBuf,
        /// Only the totals and the tracked variables, scopes and foreign
        /// regions: no timeline, threads, leaks or histograms.
        #[arg(long)]
        only_tracked: bool,
    },
    /// Embed the symbols of every address a recording uses into it, so it replays with names on another machine.
    #[command(
        after_help = "Examples:\n  memscope symbolize run.memscope\n  memscope symbolize run.memscope -o run-symbolized.memscope --debug-dir /usr/lib/debug\n\n\
                      Reads the binaries at the paths the recording names, checked by build id; appends Symbols records\n\
                      to the file (or to a copy at -o). Running it again adds only what is new."
    )]
    Symbolize {
        /// The recording file, or a directory of segments (`Recorder::segment_bytes`).
        file: PathBuf,
        /// Write a symbolized copy here instead of appending to FILE.
        #[arg(short, long, value_name = "OUT")]
        output: Option<PathBuf>,
        /// A directory to look in for separate debug files, as /usr/lib/debug; may be given
        /// more than once.
        #[arg(long = "debug-dir", value_name = "DIR")]
        debug_dirs: Vec<PathBuf>,
    },
    /// Replay a recording and export its call stacks, symbolized, with exact per-site figures: pprof, DHAT or folded stacks.
    #[command(after_help = "Examples:\n  memscope export run.memscope --format pprof -o run.pb.gz && go tool pprof -top run.pb.gz\n  \
                      memscope export run.memscope --format dhat -o dhat.json   (open it in valgrind's dh_view.html)\n  \
                      memscope export run.memscope --format folded --metric leaked-bytes -o - | inferno-flamegraph > leaks.svg\n  \
                      memscope export run.memscope --format pprof --debug-dir /usr/lib/debug -o run.pb.gz\n\n\
                      Addresses are symbolized from the binaries at their recorded paths, or from debug files in\n\
                      --debug-dir; what cannot be read is reported as `memscope: warning: ...` and its frames read\n\
                      module+0xoffset.\n\
                      Exits with 3 when the file is damaged or truncated; the export is still written (see `memscope --help`).")]
    Export {
        /// The recording file, or a directory of segments (`Recorder::segment_bytes`).
        file: PathBuf,
        /// The output format.
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// What the folded stacks' values count (only with `--format folded`) [default: allocated-bytes].
        #[arg(long, value_enum)]
        metric: Option<FoldedMetric>,
        /// Where to write the export; `-` is standard output.
        #[arg(short, long, value_name = "OUT")]
        output: PathBuf,
        /// A directory to look in for separate debug files, as /usr/lib/debug; may be given
        /// more than once.
        #[arg(long = "debug-dir", value_name = "DIR")]
        debug_dirs: Vec<PathBuf>,
    },
    /// Follow a recording while it is written: heap in use, allocation rate, lost events and the top sites by live bytes.
    #[command(
        after_help = "Examples:\n  memscope top run.memscope\n  memscope top /var/lib/myapp/heap            (a directory: its newest segment)\n  \
                      memscope top run.memscope --iterations 10 --interval 0.5 > top.log\n\n\
                      On a terminal: a full-screen view refreshed every --interval; q, Esc or Ctrl-C quits. Otherwise\n\
                      (or with --once / --iterations): one line per interval. Each refresh reads only what was written\n\
                      since the last. It stops at the End record and prints the final state, or when the recorded\n\
                      process is gone (and the file unchanged for 2 s) without one: then it exits with 3. Sites are\n\
                      symbolized from the binaries at their recorded paths, as `memscope export` does."
    )]
    Top {
        /// The recording file, or a directory of segments (followed from its newest segment, across rotations).
        path: PathBuf,
        /// Seconds between refreshes.
        #[arg(long, value_name = "SECONDS", default_value_t = 1.0, value_parser = parse_interval)]
        interval: f64,
        /// Show the current state once and exit (as --iterations 1).
        #[arg(long, conflicts_with = "iterations")]
        once: bool,
        /// Refresh this many times, one line each, then exit (earlier at the End record).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        iterations: Option<u64>,
        /// How many sites to show.
        #[arg(long, value_name = "N", default_value_t = 10)]
        sites: usize,
        /// What to rank sites by (the full-screen view: `s` switches).
        #[arg(long, value_enum, default_value_t = TopOrder::Live)]
        sort: TopOrder,
        /// Show sites as module+0xoffset: read no binary (the first refresh that shows a
        /// site otherwise loads the debug information of the binaries it names).
        #[arg(long)]
        no_symbols: bool,
        /// A directory to look in for separate debug files, as /usr/lib/debug; may be given
        /// more than once.
        #[arg(long = "debug-dir", value_name = "DIR")]
        debug_dirs: Vec<PathBuf>,
    },
}

/// `--interval`: a positive number of seconds, at most a day.
fn parse_interval(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 86_400.0 => Ok(v),
        _ => Err(format!("`{s}` is not a number of seconds between 0 and 86400")),
    }
}

/// The formats of `memscope export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ExportFormat {
    /// pprof's profile.proto, gzipped (go tool pprof, Pyroscope, speedscope, Perfetto):
    /// alloc_objects, alloc_space, inuse_objects, inuse_space (in use = live at the end).
    Pprof,
    /// DHAT's JSON, version 2 (valgrind's dh_view.html, the Firefox Profiler).
    Dhat,
    /// Folded stacks, `root;...;leaf VALUE` (flamegraph.pl, inferno, speedscope).
    Folded,
}

/// What `memscope top` ranks sites by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TopOrder {
    /// Bytes live now.
    Live,
    /// Bytes allocated so far, reallocations' new sizes included.
    Allocated,
    /// Allocations and reallocations made so far.
    Allocations,
}

/// What the values of `memscope export --format folded` count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FoldedMetric {
    /// Allocations made at the site, reallocations included.
    Allocations,
    /// Bytes allocated at the site, the new sizes of reallocations included.
    AllocatedBytes,
    /// Bytes still live when the recording ended.
    LeakedBytes,
    /// Bytes live at the global peak.
    PeakBytes,
}

impl From<FoldedMetric> for folded::Metric {
    fn from(m: FoldedMetric) -> Self {
        match m {
            FoldedMetric::Allocations => folded::Metric::Allocations,
            FoldedMetric::AllocatedBytes => folded::Metric::AllocatedBytes,
            FoldedMetric::LeakedBytes => folded::Metric::LeakedBytes,
            FoldedMetric::PeakBytes => folded::Metric::PeakBytes,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (file, result) = match &cli.command {
        Command::Info { file } => (file, info(file)),
        Command::Top { path, interval, once, iterations, sites, sort, no_symbols, debug_dirs } => {
            let options = top::Options {
                path: path.clone(),
                interval: std::time::Duration::from_secs_f64(*interval),
                iterations: if *once { Some(1) } else { *iterations },
                sites: *sites,
                order: match sort {
                    TopOrder::Live => memscope::replay::SiteOrder::LiveBytes,
                    TopOrder::Allocated => memscope::replay::SiteOrder::AllocatedBytes,
                    TopOrder::Allocations => memscope::replay::SiteOrder::Allocations,
                },
                symbols: !*no_symbols,
                debug_dirs: debug_dirs.clone(),
            };
            return top::run(&options).unwrap_or_else(|e| {
                eprintln!("memscope: {}", message(&e));
                ExitCode::from(EXIT_FAILED)
            });
        }
        Command::Symbolize { file, output, debug_dirs } => {
            if let Err(e) = symbolize(file, output.as_deref(), debug_dirs) {
                eprintln!("memscope: {}", message(&e));
                return ExitCode::from(EXIT_FAILED);
            }
            return ExitCode::SUCCESS;
        }
        Command::Json { file, output, pretty, only_tracked } => (file, json(file, output, *pretty, *only_tracked)),
        Command::Html { file, output, only_tracked } => (file, html(file, output, *only_tracked)),
        Command::Export { file, format, metric, output, debug_dirs } => {
            if metric.is_some() && *format != ExportFormat::Folded {
                Cli::command().error(clap::error::ErrorKind::ArgumentConflict, "--metric applies only to --format folded").exit();
            }
            (file, export(file, *format, metric.map_or_else(folded::Metric::default, Into::into), output, debug_dirs))
        }
    };
    if let Ok(replay) = &result {
        note_history(file, replay);
    }
    match result {
        Ok(replay) if replay.is_incomplete() => {
            warn_incomplete(file, &replay);
            ExitCode::from(EXIT_INCOMPLETE)
        }
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("memscope: {}", message(&e));
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// The error and its causes, leaving out causes its text already includes
/// (the library's errors embed their OS error).
fn message(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !msg.contains(&cause) {
            msg = format!("{msg}: {cause}");
        }
    }
    msg
}

fn warn_incomplete(path: &Path, r: &Replay) {
    let file = path.display();
    if r.damage_count > 0 {
        eprintln!(
            "memscope: warning: {file} is damaged: {} damaged stretch(es), {} bytes skipped; the output covers every readable record",
            r.damage_count, r.damaged_bytes
        );
    }
    if path.is_dir() {
        // A directory: which segments, and what is wrong with each.
        const SHOWN: usize = 20;
        let named: Vec<_> = r.damage.iter().filter(|d| matches!(d.kind, memscope::format::DamageKind::Segment { .. })).collect();
        for d in named.iter().take(SHOWN) {
            eprintln!("memscope: warning: {file}: {d}");
        }
        if named.len() > SHOWN {
            eprintln!("memscope: warning: {file}: {} more segment problem(s) (`memscope info` lists them)", named.len() - SHOWN);
        }
        for s in r.segments.segments.iter().filter(|s| s.damage_count > 0).take(SHOWN) {
            eprintln!("memscope: warning: {file}: segment {}: {} damaged stretch(es) found while replaying it", s.name, s.damage_count);
        }
        if !r.finished {
            let last = r.segments.segments.last().map_or("?", |s| s.name.as_str());
            eprintln!("memscope: warning: {file}: its last segment, {last}, has no End record (cut short, or still being written); replayed up to its last whole record");
        }
    } else if !r.finished {
        eprintln!("memscope: warning: {file}: recording was not finished (no End record); replayed up to byte {}", r.file_bytes);
    }
}

/// Notes what a replay of segments does not cover (not damage: the oldest
/// segments deleted for the disk budget, or one segment replayed alone).
fn note_history(file: &Path, r: &Replay) {
    let s = &r.segments;
    if let (true, Some(first)) = (s.history_missing, s.segments.first()) {
        eprintln!(
            "memscope: note: {}: the recording's history before segment {} is not there; its checkpoint seeded {} live allocation(s), {} bytes",
            file.display(),
            first.index,
            s.seeded_allocations,
            s.seeded_bytes
        );
    }
}

/// Replays the recording at `file`, with a progress bar on stderr when it
/// is a terminal.
fn replay_file(file: &Path) -> anyhow::Result<Replay> {
    if file.is_dir() {
        // A directory of segments: they replay in order as one recording.
        return Ok(memscope::replay::replay_file(file)?);
    }
    let f = File::open(file).map_err(|source| memscope::Error::Open { path: file.to_path_buf(), source })?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = if io::stderr().is_terminal() {
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("replaying {msg} [{wide_bar}] {binary_bytes}/{binary_total_bytes}, {eta} left")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_message(file.file_name().map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().into_owned()));
        bar
    } else {
        ProgressBar::hidden()
    };
    let replay = Replay::from_reader(Progress { inner: f, bar: &bar }, file);
    bar.finish_and_clear();
    Ok(replay?)
}

/// A reader that counts the bytes it reads into a progress bar.
struct Progress<'a, R> {
    inner: R,
    bar: &'a ProgressBar,
}

impl<R: Read> Read for Progress<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

/// `memscope info FILE`.
fn info(file: &Path) -> anyhow::Result<Replay> {
    let r = replay_file(file)?;
    let profile = build_profile(&r, &[]);
    let mut out = io::stdout().lock();
    write_info(&mut out, file, &r)
        .and_then(|()| write_tracking(&mut out, &r))
        .and_then(|()| write_sites(&mut out, &r, &profile))
        .and_then(|()| out.flush())
        .context("cannot write to standard output")?;
    for w in &profile.warnings {
        eprintln!("memscope: warning: {w}");
    }
    Ok(r)
}

/// The tracking part of `memscope info`: named variables, scopes and
/// foreign memory (`track_var!`, `track_scope!`, `memscope::ffi`).
fn write_tracking(o: &mut impl Write, r: &Replay) -> io::Result<()> {
    let t = &r.tracking;
    if t.variables == 0 && t.scope_entries == 0 && t.foreign_regions == 0 && t.handoffs == 0 {
        return Ok(());
    }
    writeln!(o)?;
    writeln!(o, "Tracking")?;
    let live = r.variables.iter().filter(|v| v.state == "live").count();
    writeln!(
        o,
        "  variables     {:>10}   {} live at the end, {} with no heap memory, {} unlinked, {} retracked",
        grouped(t.variables),
        grouped(live as u64),
        grouped(t.no_heap),
        grouped(t.unlinked),
        grouped(t.retracked)
    )?;
    writeln!(
        o,
        "  scopes        {:>10}   entries in {} nodes, {} open at the end, {} unmatched exits",
        grouped(t.scope_entries),
        grouped(r.scopes.len() as u64),
        grouped(t.scopes_open_at_end),
        grouped(t.unmatched_scope_exits)
    )?;
    writeln!(
        o,
        "  foreign       {:>10}   regions, {} live at the end ({}), {} releases of unknown addresses",
        grouped(t.foreign_regions),
        grouped(t.foreign_live_count),
        human(t.foreign_live_bytes),
        grouped(t.unknown_foreign_releases)
    )?;
    for f in r.foreign.iter().filter(|f| f.state == "live").take(5) {
        writeln!(o, "    live foreign  {:>12}  {}  {}", human(f.size), f.ptr_hex, f.label.escape_debug())?;
    }
    writeln!(
        o,
        "  handoffs      {:>10}   allocations handed to foreign code ({} unlinked)",
        grouped(t.handoffs),
        grouped(t.unlinked_handoffs)
    )?;
    for h in r.handoffs.iter().take(5) {
        writeln!(o, "    handed over   {:>12}  {}  {}  ({})", human(h.size), h.ptr_hex, h.label.escape_debug(), h.state)?;
    }
    Ok(())
}

/// The call-stack part of `memscope info`: the top sites by peak, by live
/// at the end and by allocated bytes.
fn write_sites(o: &mut impl Write, r: &Replay, profile: &Profile) -> io::Result<()> {
    const TOP: usize = 5;
    let st = &r.stacks;
    writeln!(o)?;
    if !st.recorded {
        writeln!(o, "Call stacks: none in this recording (format version {}, or stacks turned off)", r.header.version)?;
        return Ok(());
    }
    let truncated = profile.sites.iter().filter(|s| s.truncated).count();
    writeln!(
        o,
        "Call stacks: {} sites, {} truncated ({:.1}%), {} allocations not captured (stack table full), {} with an unknown stack",
        grouped(profile.sites.len() as u64),
        grouped(truncated as u64),
        100.0 * truncated as f64 / profile.sites.len().max(1) as f64,
        grouped(st.table_full_allocations),
        grouped(st.unknown_stack_allocations)
    )?;
    if let Some(sm) = &r.sampling {
        writeln!(
            o,
            "  (ESTIMATES: every site figure below is estimated from samples, one per {} allocated on average;\n   ± is one standard error: the exact figure is within twice that in about 95% of recordings)",
            human(sm.interval_bytes)
        )?;
    }
    type Key = fn(&memscope::replay::SiteStats) -> u64;
    type Se = fn(&memscope::replay::SiteEstimate) -> u64;
    let tables: [(&str, Key, Se); 3] = [
        ("at the peak", |s| s.peak_bytes, |e| e.peak_bytes_se),
        ("live at the end", |s| s.live_bytes_end, |e| e.live_bytes_end_se),
        ("allocated", |s| s.allocated_bytes, |e| e.allocated_bytes_se),
    ];
    for (title, key, se) in tables {
        writeln!(o, "  Top sites by bytes {title}")?;
        let top = profile.top_sites(TOP, key);
        if top.is_empty() {
            writeln!(o, "    (none)")?;
        }
        for i in top {
            let site = &profile.sites[i];
            let s = &site.stats;
            // Sampling: the estimate's standard error and its samples.
            let error = s.estimate.map(|e| estimate_error(se(&e), key(s), e.samples)).unwrap_or_default();
            writeln!(
                o,
                "    {:>12}{error}  {:>9} allocs  {}{}",
                human(key(s)),
                grouped(s.allocations + s.reallocations),
                profile.site_label(site).escape_debug(),
                if site.truncated { "  [truncated]" } else { "" }
            )?;
        }
    }
    Ok(())
}

/// Fewer samples than this make a site's estimate rough (its ± is no 95%
/// interval: the estimate is far from normal), unless its se is small
/// (large allocations, always sampled, stand for themselves).
const FEW_SAMPLES: u64 = 20;

/// A site estimate's error for the text output: ` ±  8%  (1,234 samples)`,
/// the standard error as a percentage of the estimate (±1.96 of it is a
/// 95% interval), and `rough` when there are few samples.
fn estimate_error(se: u64, value: u64, samples: u64) -> String {
    let pct = pct_value(se, value);
    let pct = if pct.is_finite() { format!("{pct:>3.0}%") } else { "   ?".into() };
    let rough = if samples < FEW_SAMPLES && pct_value(se, value) > 5.0 { ", rough" } else { "" };
    format!(" ±{pct} ({:>7} samples{rough:<7})", grouped(samples))
}

/// `se` as a percentage of `value`.
fn pct_value(se: u64, value: u64) -> f64 {
    memscope::replay::SiteEstimate::relative(se, value) * 100.0
}

/// `memscope json FILE -o OUT [--pretty] [--only-tracked]`.
fn json(file: &Path, output: &Path, pretty: bool, only_tracked: bool) -> anyhow::Result<Replay> {
    let r = replay_file(file)?;
    let options = JsonOptions { only_tracked };
    let write = |w: &mut dyn Write| match (pretty, only_tracked) {
        (false, _) => memscope::export::json_with(&r, &options, w),
        (true, false) => memscope::export::json_pretty(&r, w),
        (true, true) => {
            let mut compact = Vec::new();
            memscope::export::json_with(&r, &options, &mut compact)?;
            indent_json(&compact, w)
        }
    };
    if output == Path::new("-") {
        write(&mut io::stdout().lock()).context("cannot write JSON to standard output")?;
    } else if pretty {
        let mut f = File::create(output).with_context(|| format!("cannot create {}", output.display()))?;
        write(&mut f).and_then(|()| f.sync_all()).with_context(|| format!("cannot write {}", output.display()))?;
    } else {
        memscope::export::json_to_path_with(&r, &options, output)?;
    }
    Ok(r)
}

/// Writes compact JSON indented as `serde_json`'s pretty printer does (two
/// spaces, keys in their order), for `--pretty --only-tracked`.
fn indent_json(compact: &[u8], w: &mut dyn Write) -> io::Result<()> {
    let mut out = Vec::with_capacity(compact.len() * 2);
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let newline = |out: &mut Vec<u8>, depth: usize| {
        out.push(b'\n');
        out.resize(out.len() + 2 * depth, b' ');
    };
    let mut bytes = compact.iter().copied().peekable();
    while let Some(b) = bytes.next() {
        if in_string {
            out.push(b);
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                out.push(b);
            }
            b'{' | b'[' => {
                out.push(b);
                if matches!(bytes.peek(), Some(b'}' | b']')) {
                    out.extend(bytes.next());
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(b);
            }
            b',' => {
                out.push(b);
                newline(&mut out, depth);
            }
            b':' => out.extend_from_slice(b": "),
            b'\n' | b' ' => {}
            _ => out.push(b),
        }
    }
    out.push(b'\n');
    w.write_all(&out)
}

/// `memscope html FILE -o OUT [--only-tracked]`.
fn html(file: &Path, output: &Path, only_tracked: bool) -> anyhow::Result<Replay> {
    let r = replay_file(file)?;
    let options = JsonOptions { only_tracked };
    if output == Path::new("-") {
        let mut out = io::stdout().lock();
        memscope::export::html_with(&r, &options, &mut out)
            .and_then(|()| out.flush())
            .context("cannot write the report to standard output")?;
    } else {
        memscope::export::html_to_path_with(&r, &options, output)?;
    }
    Ok(r)
}

/// `memscope export FILE --format F [--metric M] -o OUT [--debug-dir DIR]...`.
fn export(file: &Path, format: ExportFormat, metric: folded::Metric, output: &Path, debug_dirs: &[PathBuf]) -> anyhow::Result<Replay> {
    let r = replay_file(file)?;
    let profile = build_profile(&r, debug_dirs);
    for w in &profile.warnings {
        eprintln!("memscope: warning: {w}");
    }
    // Folded stacks have no place for a note (pprof and DHAT carry it):
    // the estimate is said on standard error.
    if let (ExportFormat::Folded, Some(note)) = (format, profile.sampling_note()) {
        eprintln!("{note}");
    }
    let write = |w: &mut dyn Write| -> anyhow::Result<()> {
        match format {
            ExportFormat::Pprof => write_pprof(&profile, &r, w)?,
            ExportFormat::Dhat => {
                let options = dhat::DhatOptions { cmd: file.display().to_string(), pid: r.header.pid };
                dhat::write_with(&profile, &options, &mut *w)?;
            }
            ExportFormat::Folded => folded::write(&profile, metric, &mut *w)?,
        }
        Ok(w.flush()?)
    };
    if output == Path::new("-") {
        write(&mut io::stdout().lock()).context("cannot write the export to standard output")?;
    } else {
        let mut f = File::create(output).with_context(|| format!("cannot create {}", output.display()))?;
        write(&mut f).and_then(|()| Ok(f.sync_all()?)).with_context(|| format!("cannot write {}", output.display()))?;
    }
    Ok(r)
}

/// `memscope symbolize FILE [-o OUT] [--debug-dir DIR]...`.
#[cfg(feature = "symbolize")]
fn symbolize(file: &Path, output: Option<&Path>, debug_dirs: &[PathBuf]) -> anyhow::Result<()> {
    if file.is_dir() {
        // Each segment replays alone: each gets the symbols it uses.
        anyhow::ensure!(output.is_none(), "{}: a directory of segments is symbolized in place (without -o)", file.display());
        let segments = memscope::replay::list_segments(file).with_context(|| format!("cannot list {}", file.display()))?;
        anyhow::ensure!(!segments.is_empty(), "{}: no memscope segment (NNNNNN.memscope) in this directory", file.display());
        for (_, segment) in segments {
            symbolize(&segment, None, debug_dirs)?;
        }
        return Ok(());
    }
    let options = memscope::symbolize::SymbolizeOptions { debug_dirs: debug_dirs.to_vec() };
    let report = memscope::symbolize::embed(file, output, &options)?;
    for w in &report.warnings {
        eprintln!("memscope: warning: {w}");
    }
    if report.damaged_records > 0 {
        eprintln!("memscope: warning: {}: {} damaged record(s) skipped", file.display(), report.damaged_records);
    }
    println!(
        "{}: {} code addresses, {} embedded now, {} already embedded, {} without a name; {} bytes appended",
        output.unwrap_or(file).display(),
        report.addresses,
        report.embedded,
        report.already_embedded,
        report.addresses - report.embedded - report.already_embedded,
        report.bytes_appended
    );
    Ok(())
}

#[cfg(not(feature = "symbolize"))]
fn symbolize(_: &Path, _: Option<&Path>, _: &[PathBuf]) -> anyhow::Result<()> {
    anyhow::bail!("this memscope was built without the symbolize feature")
}

/// The symbolized profile of `r`, reading debug files from `debug_dirs` too.
#[cfg(feature = "symbolize")]
fn build_profile(r: &Replay, debug_dirs: &[PathBuf]) -> Profile {
    Profile::build(r, &memscope::symbolize::SymbolizeOptions { debug_dirs: debug_dirs.to_vec() })
}

/// The profile of `r`, unsymbolized: this build has no `symbolize` feature.
#[cfg(not(feature = "symbolize"))]
fn build_profile(r: &Replay, debug_dirs: &[PathBuf]) -> Profile {
    if !debug_dirs.is_empty() {
        eprintln!("memscope: warning: built without the symbolize feature: --debug-dir is ignored and frames are module+0xoffset");
    }
    Profile::build_unsymbolized(r)
}

#[cfg(feature = "pprof")]
fn write_pprof(profile: &Profile, r: &Replay, w: &mut dyn Write) -> io::Result<()> {
    memscope::export::pprof::write_with(profile, &memscope::export::pprof::PprofOptions { start_unix_ns: r.header.start_unix_ns }, w)
}

#[cfg(not(feature = "pprof"))]
fn write_pprof(_: &Profile, _: &Replay, _: &mut dyn Write) -> io::Result<()> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "this memscope was built without the pprof feature"))
}

fn write_info(o: &mut impl Write, file: &Path, r: &Replay) -> io::Result<()> {
    let h = &r.header;
    let t = &r.summary;
    writeln!(o, "memscope recording {}", file.display())?;
    writeln!(o, "  format version    {}", h.version)?;
    writeln!(o, "  process id        {}", h.pid)?;
    writeln!(o, "  started           {} (unix {} ns)", utc(h.start_unix_ns), h.start_unix_ns)?;
    writeln!(o, "  ring capacity     {} events per thread", grouped(u64::from(h.ring_capacity)))?;
    let policy = match h.on_full {
        OnFull::Block => "block (a thread with a full ring waits; no event is lost)",
        OnFull::Drop => "drop (a thread with a full ring drops the event and counts it)",
    };
    writeln!(o, "  full-ring policy  {policy}")?;
    match &r.sampling {
        None => writeln!(o, "  recording mode    full (every allocation, deallocation and reallocation recorded)")?,
        Some(sm) => {
            writeln!(
                o,
                "  recording mode    SAMPLED: one sample per {} allocated on average per thread ({} bytes);",
                human(sm.interval_bytes),
                grouped(sm.interval_bytes)
            )?;
            let totals = if sm.exact_totals { "totals below are exact" } else { "NO Totals record: totals below are the samples' own" };
            writeln!(
                o,
                "                    {totals}; per-site figures, histograms, timelines and leak weights are ESTIMATES; the peak is the most live at a drain round"
            )?;
            writeln!(
                o,
                "  samples           {} allocations sampled, {} untracked (deallocation not matched)",
                grouped(sm.sampled.total_allocations),
                grouped(sm.untracked_samples)
            )?;
        }
    }
    write!(o, "  file size         {}", bytes(r.file_bytes))?;
    if t.events > 0 {
        write!(o, ", {:.2} bytes/event over {} events", r.file_bytes as f64 / t.events as f64, grouped(t.events))?;
    }
    writeln!(o)?;
    write!(o, "  duration          {}", duration(t.duration_ns))?;
    if t.duration_ns >= 1000 {
        write!(o, " ({} ns)", grouped(t.duration_ns))?;
    }
    writeln!(o)?;
    writeln!(o, "  drain rounds      {}", grouped(r.rounds))?;
    let seg = &r.segments;
    if let (Some(id), Some(first), Some(last)) = (seg.recording_id, seg.segments.first(), seg.segments.last()) {
        write!(o, "  segments          {} replayed, {} to {}, recording id {id:#018x}", seg.segments.len(), first.index, last.index)?;
        if seg.history_missing {
            write!(
                o,
                "; the history before segment {} is not there: its checkpoint seeded {} live allocations ({})",
                first.index,
                grouped(seg.seeded_allocations),
                bytes(seg.seeded_bytes)
            )?;
        }
        writeln!(o)?;
    }
    writeln!(o, "  finished          {}", if r.finished { "yes (End record present)" } else { "NO" })?;
    if let Some(end) = &r.end {
        let how = if end.ended_at_exit {
            "at process exit (atexit hook): what is live at the end leaked"
        } else if end.leaks_asked {
            "by finish() or the guard; the program asked to treat what is live at the end as leaks"
        } else {
            "by finish() or the guard: what is live at the end was still held, not leaked"
        };
        writeln!(o, "  ended             {how}")?;
    }
    let no_allocator = r.end.is_some_and(|e| e.no_tracking_allocator);

    if !r.finished || r.damage_count > 0 || t.lost_events > 0 || no_allocator {
        writeln!(o)?;
    }
    if no_allocator {
        writeln!(o, "!! NO ALLOCATION RECORDED: the global allocator was not memscope::TrackingAllocator; add")?;
        writeln!(o, "!!   #[global_allocator] static A: memscope::TrackingAllocator = memscope::TrackingAllocator::system();")?;
    }
    if !r.finished {
        writeln!(o, "!! recording was not finished (no End record): the program stopped or the file was cut while recording;")?;
        writeln!(o, "!! everything up to byte {} was replayed.", grouped(r.file_bytes))?;
    }
    if r.damage_count > 0 {
        writeln!(
            o,
            "!! DAMAGED: {} damaged stretch(es), {} skipped; the events of skipped bytes are missing:",
            grouped(r.damage_count),
            bytes(r.damaged_bytes)
        )?;
        for d in &r.damage {
            writeln!(o, "!!   at byte {}: {} ({} bytes skipped)", grouped(d.offset), d.kind, grouped(d.skipped_bytes))?;
        }
        if r.damage_count > r.damage.len() as u64 {
            writeln!(o, "!!   ... and {} more", grouped(r.damage_count - r.damage.len() as u64))?;
        }
    }
    if t.lost_events > 0 {
        writeln!(
            o,
            "!! LOST EVENTS: the recorder dropped {} events; counts below are lower bounds, and live, peak",
            grouped(t.lost_events)
        )?;
        writeln!(o, "!! and live-at-the-end figures are not known (a lost deallocation leaves its allocation counted live).")?;
    }

    writeln!(o)?;
    writeln!(o, "Totals")?;
    writeln!(o, "  allocations          {:>15}   {}", grouped(t.total_allocations), bytes(t.total_allocated_bytes))?;
    writeln!(o, "  deallocations        {:>15}   {}", grouped(t.total_deallocations), bytes(t.total_deallocated_bytes))?;
    writeln!(
        o,
        "  reallocations        {:>15}   (their new sizes count as allocated, old sizes as deallocated)",
        grouped(t.total_reallocations)
    )?;
    let live_note = if t.lost_events > 0 {
        " (not known: events lost)"
    } else if r.live_at_end_is_leak() {
        if r.end.is_some_and(|e| e.ended_at_exit) {
            " (leaked: the recording ended at process exit)"
        } else {
            " (leaks, as the program asked)"
        }
    } else {
        ""
    };
    writeln!(o, "  live at end          {:>15}   {}{live_note}", grouped(t.live_count), bytes(t.live_bytes))?;
    let estimate = if r.sampling.is_some() { " (at a drain round: a lower bound)" } else { "" };
    writeln!(o, "  peak live            {:>15}   {} at {}{estimate}", "", bytes(t.peak_live_bytes), duration(t.peak_at_ns))?;
    writeln!(
        o,
        "  pre-recording frees  {:>15}   {} (plus {} reallocations of unknown addresses)",
        grouped(t.prerecording_deallocations),
        bytes(t.prerecording_deallocated_bytes),
        grouped(t.prerecording_reallocations)
    )?;
    writeln!(o, "  threads              {:>15}", grouped(t.threads))?;
    writeln!(o, "  events               {:>15}", grouped(t.events))?;
    writeln!(o, "  lost events          {:>15}", grouped(t.lost_events))?;
    writeln!(
        o,
        "  ordering repairs     {:>15}   late events {}, address conflicts {}, reordered reallocations {} ({} unresolved), size mismatches {}",
        grouped(t.late_events + t.address_conflicts + t.reordered_reallocations + t.size_mismatches),
        grouped(t.late_events),
        grouped(t.address_conflicts),
        grouped(t.reordered_reallocations),
        grouped(t.unresolved_conflicts),
        grouped(t.size_mismatches)
    )?;

    writeln!(o)?;
    writeln!(o, "Threads")?;
    writeln!(
        o,
        "  {:>6} {:>9}  {:<16} {:>13} {:>12} {:>13} {:>12} {:>10}",
        "id", "os tid", "name", "allocations", "allocated", "deallocations", "live", "lost"
    )?;
    for th in &r.threads {
        let os_tid = th.os_tid.map_or_else(|| "-".to_owned(), |v| v.to_string());
        let name = match (&th.name, th.thread) {
            (Some(n), _) if !n.is_empty() => n.escape_debug().to_string(),
            (None, 0) => "(unattributed)".to_owned(),
            _ => "-".to_owned(),
        };
        writeln!(
            o,
            "  {:>6} {:>9}  {:<16} {:>13} {:>12} {:>13} {:>12} {:>10}",
            th.thread,
            os_tid,
            name,
            grouped(th.allocations),
            human(th.allocated_bytes),
            grouped(th.deallocations),
            human(th.live_bytes),
            grouped(th.lost_events)
        )?;
    }
    Ok(())
}

/// `1234567` as `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A byte count in binary units, e.g. `1.50 MiB`.
fn human(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.2} {}", UNITS[unit])
}

/// A byte count humanised and exact, e.g. `1.50 MiB (1,572,864 bytes)`.
fn bytes(n: u64) -> String {
    if n < 1024 {
        format!("{n} bytes")
    } else {
        format!("{} ({} bytes)", human(n), grouped(n))
    }
}

/// Nanoseconds in the largest unit that keeps them above 1, e.g. `2.345 s`.
fn duration(ns: u64) -> String {
    let v = ns as f64;
    match ns {
        0..=999 => format!("{ns} ns"),
        1_000..=999_999 => format!("{:.3} µs", v / 1e3),
        1_000_000..=999_999_999 => format!("{:.3} ms", v / 1e6),
        _ => format!("{:.3} s", v / 1e9),
    }
}

/// Nanoseconds since the UNIX epoch as `YYYY-MM-DD HH:MM:SS.mmm UTC`.
fn utc(unix_ns: u64) -> String {
    let secs = unix_ns / 1_000_000_000;
    let millis = unix_ns % 1_000_000_000 / 1_000_000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{millis:03} UTC", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(bytes(1023), "1023 bytes");
        assert_eq!(bytes(1_572_864), "1.50 MiB (1,572,864 bytes)");
        assert_eq!(human(u64::MAX), "16.00 EiB");
        assert_eq!(duration(999), "999 ns");
        assert_eq!(duration(2_345_000_000), "2.345 s");
        assert_eq!(utc(0), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(utc(1_709_210_096_789_000_000), "2024-02-29 12:34:56.789 UTC");
        assert_eq!(utc(u64::MAX), "2554-07-21 23:34:33.709 UTC");
    }

    #[test]
    fn error_messages_do_not_repeat_their_cause() {
        let io = || io::Error::new(io::ErrorKind::NotFound, "No such file or directory");
        let e = anyhow::Error::from(memscope::Error::Open { path: "/x".into(), source: io() });
        assert_eq!(message(&e), "cannot open /x: No such file or directory");
        let e = anyhow::Error::from(io()).context("cannot write /y");
        assert_eq!(message(&e), "cannot write /y: No such file or directory");
    }

    #[test]
    fn indented_json_matches_serde_json_pretty() {
        let v = serde_json::json!({ "a": [], "b": {}, "c": [1, { "d": "x, y: {\"z\"} [\\]" }], "e": null });
        let mut out = Vec::new();
        indent_json(serde_json::to_string(&v).expect("serialises").as_bytes(), &mut out).expect("writes to a Vec");
        assert_eq!(String::from_utf8(out).expect("UTF-8"), serde_json::to_string_pretty(&v).expect("serialises") + "\n");
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}

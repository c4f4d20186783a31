//! `memscope top PATH`: a live view of a recording while it is written.
//!
//! Follows the file with [`memscope::replay::Follow`] (each refresh reads
//! only the records appended since the last), and shows heap in use, the
//! allocation rate over the last interval, lost events and the top sites by
//! live bytes, symbolized from the module map and the binaries on disk. On a
//! terminal it draws a full-screen view (ratatui), `q`, Esc or Ctrl-C to
//! quit; otherwise, or with `--once` / `--iterations`, it prints one line
//! per interval. It stops at the End record and prints the final state, or
//! when the recorded process is gone without one.

use super::{grouped, human, EXIT_INCOMPLETE};
use anyhow::Context;
use memscope::export::profile::{Line, Profile};
use memscope::replay::{Follow, HistoryLost, SiteOrder, SiteStats, Snapshot, Stacks};
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line as TextLine;
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table};
use std::collections::HashMap;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

/// What `memscope top` was asked.
#[derive(Debug)]
pub(crate) struct Options {
    /// A recording file, or a directory of segments (the newest is followed).
    pub(crate) path: PathBuf,
    /// Time between refreshes.
    pub(crate) interval: Duration,
    /// Refreshes to show before stopping (`--once`: 1); `None`: until the
    /// End record, or `q`.
    pub(crate) iterations: Option<u64>,
    /// Sites to show.
    pub(crate) sites: usize,
    /// What sites are ranked by (`s` cycles it in the full-screen view).
    pub(crate) order: SiteOrder,
    /// Whether to read the binaries to name sites (else `module+0xoffset`).
    pub(crate) symbols: bool,
    /// Where to look for separate debug files.
    pub(crate) debug_dirs: Vec<PathBuf>,
}

/// How long a file whose process is gone must have stayed unchanged before
/// the view takes it as finished without an End record: a writer on another
/// machine (a file on a network file system) has a pid that means nothing
/// here, but writes at least every drain round while it allocates.
const QUIET_BEFORE_EXITED: Duration = Duration::from_secs(2);

/// Where the followed recording stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The file does not hold its segment header yet.
    Starting,
    /// Being written.
    Running,
    /// Its End record was read.
    Ended,
    /// Its process is gone and it has no End record (it aborted, or was killed).
    Exited,
}

impl State {
    fn word(self) -> &'static str {
        match self {
            State::Starting => "starting",
            State::Running => "running",
            State::Ended => "ended",
            State::Exited => "exited without End record",
        }
    }
}

/// One refresh: the snapshot, and the rates since the previous one.
struct View {
    state: State,
    path: PathBuf,
    pid: Option<u32>,
    snap: Snapshot,
    /// Allocations and reallocations per second over the last interval
    /// (the first refresh: since the recording started, on its clock).
    allocations_per_s: f64,
    /// Bytes allocated (reallocations' new sizes included) per second.
    bytes_per_s: f64,
    /// The interval the rates cover, ns.
    rate_ns: u64,
    /// Labels of `snap.top_sites`, in order.
    labels: Vec<String>,
    /// The file's length at the refresh, in bytes.
    file_bytes: u64,
    /// What the sites are ranked by.
    order: SiteOrder,
}

/// The figures the rates are differences of.
#[derive(Debug, Clone, Copy)]
struct Mark {
    calls: u64,
    bytes: u64,
    /// When the refresh was made.
    at: Instant,
}

impl Mark {
    fn of(s: &Snapshot) -> Mark {
        let t = &s.summary;
        Mark { calls: t.total_allocations + t.total_reallocations, bytes: t.total_allocated_bytes, at: Instant::now() }
    }
}

/// Names sites by their first frame outside the standard library, from the
/// module map and the binaries on disk; a site's name is made once.
struct Labeler {
    /// `None`: read no binary.
    debug_dirs: Option<Vec<PathBuf>>,
    #[cfg(feature = "symbolize")]
    symbolizer: Option<memscope::symbolize::Symbolizer>,
    /// Modules the symbolizer (and the names made) knew.
    modules: usize,
    names: HashMap<u32, String>,
    warned: usize,
}

impl Labeler {
    fn new(debug_dirs: Option<Vec<PathBuf>>) -> Self {
        Labeler {
            debug_dirs,
            #[cfg(feature = "symbolize")]
            symbolizer: None,
            modules: usize::MAX,
            names: HashMap::new(),
            warned: 0,
        }
    }

    fn label(&mut self, stacks: &Stacks, site: &SiteStats) -> String {
        if stacks.modules.len() != self.modules {
            // A module loaded since (dlopen): names made before may lack it.
            self.modules = stacks.modules.len();
            self.names.clear();
            #[cfg(feature = "symbolize")]
            if let Some(debug_dirs) = &self.debug_dirs {
                let options = memscope::symbolize::SymbolizeOptions { debug_dirs: debug_dirs.clone() };
                self.symbolizer = Some(memscope::symbolize::Symbolizer::new(&stacks.modules, &options));
            }
        }
        if let Some(name) = self.names.get(&site.stack) {
            return name.clone();
        }
        let profile = Profile::for_sites(stacks, std::slice::from_ref(site), |address| self.resolve(stacks, address));
        let name = profile.sites.first().map_or_else(String::new, |s| profile.site_label(s));
        self.names.insert(site.stack, name.clone());
        name
    }

    fn resolve(&mut self, stacks: &Stacks, address: u64) -> (Option<usize>, Vec<Line>) {
        let module = || stacks.modules.iter().position(|m| m.contains(address));
        if let Some(lines) = stacks.symbols.get(&address) {
            return (module(), lines.clone());
        }
        #[cfg(feature = "symbolize")]
        if let Some(s) = &mut self.symbolizer {
            return s.resolve(address);
        }
        (module(), Vec::new())
    }

    /// Warnings of the symbolizer not printed yet.
    fn new_warnings(&mut self) -> Vec<String> {
        #[cfg(feature = "symbolize")]
        if let Some(s) = &self.symbolizer {
            let w = s.warnings();
            let new = w.get(self.warned..).unwrap_or_default().to_vec();
            self.warned = w.len();
            return new;
        }
        let _ = (&self.debug_dirs, self.warned);
        Vec::new()
    }
}

/// Whether process `pid` is running on this machine (Linux: `/proc`; elsewhere
/// always true, so the view waits for the End record or `q`).
fn process_running(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        pid == 0 || Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}

/// The follower of one file or directory of segments, and what it takes
/// to tell its state.
struct Followed {
    follow: Follow,
    /// The previous refresh's figures (`None`: none yet).
    last_mark: Option<Mark>,
    /// When the file last grew after the first refresh (which reads what
    /// was there already).
    last_growth: Option<Instant>,
    /// Skips ahead of deleted segments seen so far ([`HistoryLost::skips`]).
    skips: Option<u64>,
}

impl Followed {
    fn open(path: PathBuf) -> anyhow::Result<Self> {
        let follow = Follow::open(&path)?;
        Ok(Followed { follow, last_mark: None, last_growth: None, skips: None })
    }

    /// Reads for at most `budget` (a file written faster than it replays
    /// is caught up with over several refreshes) and makes the view.
    fn refresh(&mut self, sites: usize, order: SiteOrder, budget: Duration, labeler: &mut Labeler) -> anyhow::Result<View> {
        let read = self.follow.poll(budget)?;
        let file_bytes = std::fs::metadata(self.follow.path()).map_or(0, |m| m.len());
        let snap = self.follow.snapshot_by(sites, order);
        let pid = self.follow.header().map(|h| h.pid);
        let grew = read > 0 && self.last_mark.is_some();
        if grew {
            self.last_growth = Some(Instant::now());
        }
        let state = match pid {
            None => State::Starting,
            Some(_) if snap.end.is_some() => State::Ended,
            Some(pid) if !grew && !process_running(pid) && self.quiet() => State::Exited,
            Some(_) => State::Running,
        };
        // Over the wall clock since the last refresh; the first covers the
        // recording so far, on its own clock.
        let mark = Mark::of(&snap);
        if snap.history_lost.map(|h| h.skips) != self.skips {
            // Skipped ahead: the figures restarted from a checkpoint, and a
            // rate against the previous refresh would mean nothing.
            self.skips = snap.history_lost.map(|h| h.skips);
            self.last_mark = None;
        }
        let (calls, bytes, ns) = match self.last_mark {
            Some(p) => {
                (mark.calls.saturating_sub(p.calls), mark.bytes.wrapping_sub(p.bytes), mark.at.duration_since(p.at).as_nanos() as u64)
            }
            None => (mark.calls, mark.bytes, snap.summary.duration_ns),
        };
        let per_s = |d: u64| if ns == 0 { 0.0 } else { d as f64 * 1e9 / ns as f64 };
        let (allocations_per_s, bytes_per_s) = (per_s(calls), per_s(bytes));
        self.last_mark = Some(mark);
        let labels = match self.follow.stacks() {
            Some(stacks) => snap.top_sites.iter().map(|s| labeler.label(stacks, s)).collect(),
            None => Vec::new(),
        };
        Ok(View {
            state,
            path: self.follow.path().to_path_buf(),
            pid,
            snap,
            allocations_per_s,
            bytes_per_s,
            rate_ns: ns,
            labels,
            file_bytes,
            order,
        })
    }

    /// Whether the file is now shorter than what was read of it: a new
    /// recording truncated it.
    fn replaced(&self) -> bool {
        std::fs::metadata(self.follow.path()).is_ok_and(|m| m.len() < self.follow.bytes_read())
    }

    /// Whether the file has not changed for [`QUIET_BEFORE_EXITED`].
    fn quiet(&self) -> bool {
        let modified = std::fs::metadata(self.follow.path()).and_then(|m| m.modified()).ok();
        let age = modified.and_then(|m| SystemTime::now().duration_since(m).ok()).unwrap_or(Duration::MAX);
        age >= QUIET_BEFORE_EXITED && self.last_growth.is_none_or(|t| t.elapsed() >= QUIET_BEFORE_EXITED)
    }
}

/// `memscope top PATH`.
pub(crate) fn run(o: &Options) -> anyhow::Result<ExitCode> {
    let mut followed = Followed::open(o.path.clone())?;
    let mut labeler = Labeler::new(o.symbols.then(|| o.debug_dirs.clone()));
    let tui = o.iterations.is_none() && io::stdout().is_terminal() && io::stdin().is_terminal();
    let mut screen = if tui { Some(Screen::start()?) } else { None };
    let mut shown = 0u64;
    let mut order = o.order;
    let result = (|| -> anyhow::Result<View> {
        loop {
            if followed.replaced() {
                // Recorded again to the same path (truncated): start over.
                followed = Followed::open(o.path.clone())?;
            }
            // A refresh reads for at most an interval (a follower behind
            // the writer reads on without sleeping, a line per interval);
            // the last of --iterations reads everything there is.
            let started = Instant::now();
            let last = o.iterations.is_some_and(|n| shown + 1 >= n);
            let view = followed.refresh(o.sites, order, if last { Duration::MAX } else { o.interval }, &mut labeler)?;
            let rest = o.interval.saturating_sub(started.elapsed());
            shown += 1;
            let done = matches!(view.state, State::Ended | State::Exited) || o.iterations.is_some_and(|n| shown >= n);
            match &mut screen {
                Some(s) => {
                    s.draw(&view)?;
                    if done || s.wait_for_quit(rest, &mut order)? {
                        return Ok(view);
                    }
                }
                None => {
                    for w in labeler.new_warnings() {
                        eprintln!("memscope: warning: {w}");
                    }
                    let mut out = io::stdout().lock();
                    writeln!(out, "{}", plain_line(&view)).and_then(|()| out.flush()).context("cannot write to standard output")?;
                    if done {
                        return Ok(view);
                    }
                    drop(out);
                    std::thread::sleep(rest);
                }
            }
        }
    })();
    if let Some(s) = screen.take() {
        s.stop();
    }
    let view = result?;
    let mut out = io::stdout().lock();
    if tui || matches!(view.state, State::Ended | State::Exited) {
        // The final state, in full.
        let mut text = String::new();
        if tui {
            text += &plain_line(&view);
            text.push('\n');
        }
        for (s, label) in view.snap.top_sites.iter().zip(&view.labels) {
            text += &format!(
                "  {:>12}  {:>9} live  {:>12} allocated  {}\n",
                human(s.live_bytes_end),
                grouped(s.live_count_end),
                human(s.allocated_bytes),
                label.escape_debug()
            );
        }
        out.write_all(text.as_bytes()).and_then(|()| out.flush()).context("cannot write to standard output")?;
    }
    for w in labeler.new_warnings() {
        eprintln!("memscope: warning: {w}");
    }
    let file = view.path.display();
    if view.snap.damage_count > 0 {
        eprintln!(
            "memscope: warning: {file} is damaged: {} damaged stretch(es); the view covers every readable record",
            view.snap.damage_count
        );
    }
    if let Some(h) = view.snap.history_lost {
        eprintln!("memscope: warning: {}: {}", o.path.display(), history_lost(&h));
    }
    match view.state {
        State::Exited => {
            eprintln!(
                "memscope: warning: {file}: the recording process {} is gone and left no End record; shown up to byte {}",
                view.pid.unwrap_or(0),
                view.snap.read_bytes
            );
            Ok(ExitCode::from(EXIT_INCOMPLETE))
        }
        _ if view.snap.damage_count > 0 || view.snap.history_lost.is_some() => Ok(ExitCode::from(EXIT_INCOMPLETE)),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// One line of the plain view: the state, heap in use, the rates, lost
/// events and the top sites. Byte counts are exact (digits grouped).
fn plain_line(v: &View) -> String {
    let t = &v.snap.summary;
    let mut line = format!(
        "[{:>8.3}s] {}  live {} B in {} allocations  peak {} B  rate {}  lost {} events  totals {} allocations, {} reallocations, allocated {} B",
        t.duration_ns as f64 / 1e9,
        v.state.word(),
        grouped(t.live_bytes),
        grouped(t.live_count),
        grouped(t.peak_live_bytes),
        rate(v),
        grouped(t.lost_events),
        grouped(t.total_allocations),
        grouped(t.total_reallocations),
        grouped(t.total_allocated_bytes),
    );
    if v.snap.damage_count > 0 {
        line += &format!("  damage {}", v.snap.damage_count);
    }
    if let Some(h) = v.snap.history_lost {
        line += &format!("  {}", history_lost(&h));
    }
    if let Some(interval) = v.snap.sampling_interval_bytes {
        // Totals exact (Totals records); the peak and the sites estimates.
        line += &format!("  sampled every {} B: peak and sites estimated", grouped(interval));
    }
    if !v.snap.top_sites.is_empty() {
        line += "  top:";
    }
    for (s, label) in v.snap.top_sites.iter().zip(&v.labels).take(3) {
        line += &format!(" {} B {};", grouped(s.live_bytes_end), label.escape_debug());
    }
    line
}

/// The segments a follow that fell behind could not read, in words.
fn history_lost(h: &HistoryLost) -> String {
    let last = h.last_read.map_or_else(|| "?".into(), |l| l.to_string());
    format!(
        "HISTORY LOST between segments {last} and {}: {} segment(s) deleted before they were read; figures from segment {}'s checkpoint on",
        h.resumed_at, h.segments_skipped, h.resumed_at
    )
}

/// What sites are ranked by, in words.
fn order_name(order: SiteOrder) -> &'static str {
    match order {
        SiteOrder::AllocatedBytes => "allocated bytes",
        SiteOrder::Allocations => "allocations",
        _ => "live bytes",
    }
}

/// The allocation rate of `v`, or `-` over less than a millisecond of the
/// recording (a rate over a few ns says nothing).
fn rate(v: &View) -> String {
    if v.rate_ns < 1_000_000 {
        return "- allocations/s".into();
    }
    format!("{:.0} allocations/s {}/s", v.allocations_per_s, human(v.bytes_per_s as u64))
}

/// The full-screen view.
struct Screen {
    terminal: ratatui::DefaultTerminal,
}

impl Screen {
    fn start() -> anyhow::Result<Self> {
        // Raw mode and the alternate screen; restored on panic too.
        let terminal = ratatui::try_init().context("cannot set up the terminal")?;
        Ok(Screen { terminal })
    }

    fn stop(self) {
        drop(self.terminal);
        ratatui::restore();
    }

    /// Waits up to `interval` for a key; true when it asks to quit. `s`
    /// ranks the sites by the next key of `order`, at once.
    fn wait_for_quit(&mut self, interval: Duration, order: &mut SiteOrder) -> anyhow::Result<bool> {
        let until = Instant::now() + interval;
        loop {
            // With no time left, still takes the keys already pressed.
            let left = until.saturating_duration_since(Instant::now());
            if !event::poll(left)? {
                return Ok(false);
            }
            if let Event::Key(k) = event::read()? {
                let ctrl_c = k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
                if k.kind == KeyEventKind::Press && (ctrl_c || matches!(k.code, KeyCode::Char('q') | KeyCode::Esc)) {
                    return Ok(true);
                }
                if k.kind == KeyEventKind::Press && k.code == KeyCode::Char('s') {
                    *order = match order {
                        SiteOrder::LiveBytes => SiteOrder::AllocatedBytes,
                        SiteOrder::AllocatedBytes => SiteOrder::Allocations,
                        _ => SiteOrder::LiveBytes,
                    };
                    return Ok(false);
                }
            }
        }
    }

    fn draw(&mut self, v: &View) -> anyhow::Result<()> {
        let t = &v.snap.summary;
        let mut head = vec![
            TextLine::from(format!(
                "memscope top  {}  pid {}  {}  {:.1} s recorded  read {} of {}  (q quits, s sorts)",
                v.path.display(),
                v.pid.map_or_else(|| "?".into(), |p| p.to_string()),
                v.state.word(),
                t.duration_ns as f64 / 1e9,
                human(v.snap.read_bytes),
                human(v.file_bytes),
            )),
            TextLine::from(format!(
                "heap in use  {} ({} B) in {} allocations    peak {}{}",
                human(t.live_bytes),
                grouped(t.live_bytes),
                grouped(t.live_count),
                human(t.peak_live_bytes),
                if v.snap.sampling_interval_bytes.is_some() { " (estimate: the most live at a drain round)" } else { "" }
            )),
            TextLine::from(format!("rate         {}  (over the last {:.2} s)", rate(v), v.rate_ns as f64 / 1e9)),
            TextLine::from(format!(
                "totals       {} allocations  {} allocated  {} deallocations    lost {} events    {} threads    damage {}",
                grouped(t.total_allocations + t.total_reallocations),
                human(t.total_allocated_bytes),
                grouped(t.total_deallocations),
                grouped(t.lost_events),
                grouped(t.threads),
                grouped(v.snap.damage_count)
            )),
        ];
        if let Some(h) = v.snap.history_lost {
            head.push(TextLine::from(history_lost(&h)).style(Style::new().add_modifier(Modifier::BOLD)));
        }
        let rows: Vec<Row> = v
            .snap
            .top_sites
            .iter()
            .zip(&v.labels)
            .map(|(s, label)| {
                Row::new(vec![
                    human(s.live_bytes_end),
                    grouped(s.live_count_end),
                    human(s.allocated_bytes),
                    grouped(s.allocations + s.reallocations),
                    label.clone(),
                ])
            })
            .collect();
        let widths = [Constraint::Length(12), Constraint::Length(10), Constraint::Length(12), Constraint::Length(12), Constraint::Fill(1)];
        let estimated = match v.snap.sampling_interval_bytes {
            Some(interval) => format!("; ESTIMATED, sampled every {} B", grouped(interval)),
            None => String::new(),
        };
        let title =
            format!(" Top sites by {} ({} sites; s: sort by the next{estimated}) ", order_name(v.order), grouped(v.snap.site_count));
        let table = Table::new(rows, widths)
            .header(
                Row::new(vec!["live", "live count", "allocated", "allocations", "site"]).style(Style::new().add_modifier(Modifier::BOLD)),
            )
            .block(Block::new().borders(Borders::TOP).title(title));
        self.terminal.draw(|f| {
            let [top, bottom] = Layout::vertical([Constraint::Length(head.len() as u16 + 1), Constraint::Fill(1)]).areas(f.area());
            f.render_widget(Paragraph::new(head), top);
            f.render_widget(table, bottom);
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A follow that skipped deleted segments says so on its line, with the
    /// segments between; a follow that did not says nothing of it.
    #[test]
    fn the_line_says_when_history_was_lost() {
        let mut snap = Snapshot::default();
        let view = |snap: &Snapshot| View {
            state: State::Running,
            path: PathBuf::from("dir/000009.memscope"),
            pid: Some(1),
            snap: snap.clone(),
            allocations_per_s: 0.0,
            bytes_per_s: 0.0,
            rate_ns: 0,
            labels: Vec::new(),
            file_bytes: 0,
            order: SiteOrder::LiveBytes,
        };
        assert!(!plain_line(&view(&snap)).contains("HISTORY LOST"));
        let mut lost = HistoryLost::default();
        (lost.last_read, lost.resumed_at, lost.segments_skipped, lost.skips) = (Some(3), 7, 3, 1);
        snap.history_lost = Some(lost);
        let line = plain_line(&view(&snap));
        assert!(line.contains("HISTORY LOST between segments 3 and 7: 3 segment(s) deleted before they were read"), "{line}");
    }
}

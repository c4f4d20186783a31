//! `memscope symbolize`: embed the symbols of every address a recording
//! uses into the file, so that it replays with names on a machine without
//! the binaries (FORMAT.md, "Symbols record").

use super::{SymbolizeOptions, Symbolizer};
use crate::format::stacks::{Line, ModuleRecord, MARK_LIMIT};
use crate::format::{self, Reader, Record};
use crate::Error;
use std::collections::{BTreeSet, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Write};
use std::path::Path;

/// What [`embed`] did.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmbedReport {
    /// Distinct code addresses the recording's stacks use.
    pub addresses: usize,
    /// Of those, already embedded by an earlier run.
    pub already_embedded: usize,
    /// Of the others, resolved to at least a function name and embedded now.
    pub embedded: usize,
    /// Symbolization warnings: binaries missing or changed, one line each.
    pub warnings: Vec<String>,
    /// Damaged records skipped while reading the recording.
    pub damaged_records: u64,
    /// Bytes appended.
    pub bytes_appended: u64,
}

/// Resolves every code address of the recording at `input` (with the
/// binaries at their recorded paths, checked by build id) and appends the
/// result as Symbols records: to `input` itself when `output` is `None`,
/// else to a copy of it at `output`. Addresses embedded by an earlier run
/// are left as they are; addresses that resolve to nothing are not
/// embedded (replay shows them as `module+0xoffset`, and says why in a
/// warning). A damaged recording is read around its damage, as replay does.
///
/// # Errors
/// [`Error::Open`], [`Error::Header`], [`Error::Read`] for `input`;
/// [`Error::Export`] when `output` (or `input`) cannot be written.
pub fn embed(input: &Path, output: Option<&Path>, options: &SymbolizeOptions) -> Result<EmbedReport, Error> {
    let file = File::open(input).map_err(|source| Error::Open { path: input.to_path_buf(), source })?;
    let mut reader = Reader::new(BufReader::new(file)).map_err(|source| Error::Header { path: input.to_path_buf(), source })?;
    let mut modules: Vec<ModuleRecord> = Vec::new();
    let mut addresses = BTreeSet::new();
    let mut done = HashSet::new();
    let mut report = EmbedReport::default();
    loop {
        match reader.next_record() {
            Ok(None) => break,
            Ok(Some(Ok(Record::Stack { nodes, .. }))) => addresses.extend(nodes.iter().map(|n| n.address).filter(|&a| a >= MARK_LIMIT)),
            Ok(Some(Ok(Record::Module(m)))) => modules.push(m),
            Ok(Some(Ok(Record::Symbols(entries)))) => done.extend(entries.into_iter().map(|(a, _)| a)),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_))) => report.damaged_records += 1,
            Err(source) => return Err(Error::Read { path: input.to_path_buf(), offset: reader.offset(), source }),
        }
    }
    report.addresses = addresses.len();
    report.already_embedded = addresses.iter().filter(|a| done.contains(a)).count();
    let mut symbolizer = Symbolizer::new(&modules, options);
    let entries: Vec<(u64, Vec<Line>)> = addresses
        .into_iter()
        .filter(|a| !done.contains(a))
        .filter_map(|a| {
            let (_, lines) = symbolizer.resolve(a);
            (!lines.is_empty()).then_some((a, lines))
        })
        .collect();
    report.embedded = entries.len();
    report.warnings = symbolizer.warnings().to_vec();

    let target = output.unwrap_or(input);
    let export = |source| Error::Export { path: target.to_path_buf(), source };
    if let Some(out) = output {
        std::fs::copy(input, out).map_err(export)?;
    }
    let mut body = Vec::new();
    format::put_symbols(&mut body, &entries);
    let mut f = OpenOptions::new().append(true).open(target).map_err(export)?;
    f.write_all(&body).map_err(export)?;
    f.sync_all().map_err(export)?;
    report.bytes_appended = body.len() as u64;
    Ok(report)
}

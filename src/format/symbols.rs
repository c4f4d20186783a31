//! The body of a Symbols record (tag 8): the symbols of every code address
//! a recording uses, embedded by `memscope symbolize` so that the recording
//! replays with names on another machine (FORMAT.md, "Symbols record").
//!
//! Pure functions over byte buffers: no I/O.
//!
//! # Layout
//!
//! Every integer is an unsigned LEB128 varint of at most 10 bytes.
//!
//! | field              | encoding                                             |
//! |--------------------|------------------------------------------------------|
//! | entry count        | varint                                               |
//! | *per entry:*       |                                                      |
//! | address            | varint: the return address as recorded               |
//! | line count         | varint, at most [`MAX_LINES`]; innermost line first  |
//! | *per line:*        |                                                      |
//! | function length    | varint, at most [`MAX_STRING_LEN`]                   |
//! | function           | that many bytes of UTF-8                             |
//! | file length + 1    | varint: 0 = no file, else 1 + the file's length (at most [`MAX_STRING_LEN`]) |
//! | file               | that many bytes of UTF-8                             |
//! | line               | varint, fits in 32 bits; from 1, 0 = unknown         |
//! | column             | varint, fits in 32 bits; from 1, 0 = unknown         |
//!
//! The body ends right after the last entry: trailing bytes are an error.
//! Invalid UTF-8 in a string decodes with U+FFFD in its place.

use super::stacks::Line;

/// The most lines one address may have (its inlined frames plus the
/// function containing it).
pub const MAX_LINES: usize = 256;
/// The longest function name or file path stored, in bytes; the encoder cuts
/// longer ones at a character boundary.
pub const MAX_STRING_LEN: usize = 4096;

/// Why a Symbols body did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} at symbols byte {offset}")]
pub struct SymbolsError {
    /// Byte offset in the body where the problem was found.
    pub offset: usize,
    /// What was wrong.
    pub what: &'static str,
}

/// Appends the body encoding `entries` (address, then its lines innermost
/// first) to `out`.
///
/// An address with more than [`MAX_LINES`] lines keeps its innermost
/// `MAX_LINES - 1` and its outermost (the containing function); strings
/// longer than [`MAX_STRING_LEN`] bytes are cut at a character boundary.
///
/// ```
/// use memscope::export::profile::Line;
/// use memscope::format::symbols::{decode_symbols, encode_symbols};
///
/// let line = Line { function: "app::main".into(), file: Some("src/main.rs".into()), line: 3, column: 5 };
/// let mut body = Vec::new();
/// encode_symbols(&[(0x1234, vec![line.clone()])], &mut body);
/// assert_eq!(decode_symbols(&body)?, vec![(0x1234, vec![line])]);
/// # Ok::<(), memscope::format::symbols::SymbolsError>(())
/// ```
pub fn encode_symbols(entries: &[(u64, Vec<Line>)], out: &mut Vec<u8>) {
    put_varint(out, entries.len() as u64);
    for (address, lines) in entries {
        put_varint(out, *address);
        let (inner, outer) =
            if lines.len() > MAX_LINES { (&lines[..MAX_LINES - 1], &lines[lines.len() - 1..]) } else { (&lines[..], &[][..]) };
        put_varint(out, (inner.len() + outer.len()) as u64);
        for line in inner.iter().chain(outer) {
            let function = cut(&line.function);
            put_varint(out, function.len() as u64);
            out.extend_from_slice(function.as_bytes());
            match &line.file {
                None => put_varint(out, 0),
                Some(file) => {
                    let file = cut(file);
                    put_varint(out, file.len() as u64 + 1);
                    out.extend_from_slice(file.as_bytes());
                }
            }
            put_varint(out, u64::from(line.line));
            put_varint(out, u64::from(line.column));
        }
    }
}

/// Decodes a body written by [`encode_symbols`].
///
/// Never allocates more than the body's length implies and never panics.
///
/// # Errors
/// [`SymbolsError`] with the offset of the first malformed field: a body that
/// ends early, a varint longer than 10 bytes, more than [`MAX_LINES`] lines
/// for an address, a string longer than [`MAX_STRING_LEN`] bytes, a line or
/// column above `u32::MAX`, or bytes after the last entry.
pub fn decode_symbols(body: &[u8]) -> Result<Vec<(u64, Vec<Line>)>, SymbolsError> {
    let mut c = Cursor { buf: body, pos: 0 };
    // An entry takes at least 2 bytes (its address and its line count).
    // A writer puts at most MAX_SYMBOLS_ENTRIES in one record: more would
    // let one record cost far more memory than its bytes.
    let count = c.count(super::MAX_SYMBOLS_ENTRIES, 2, "entry count exceeds the body or 4096")?;
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        let address = c.varint()?;
        // A line takes at least 4 bytes (two lengths, line and column).
        let n = c.count(MAX_LINES, 4, "line count exceeds the body or 256")?;
        let mut lines = Vec::with_capacity(n);
        for _ in 0..n {
            let function = c.string(false)?.unwrap_or_default();
            let file = c.string(true)?;
            let line = c.u32()?;
            let column = c.u32()?;
            lines.push(Line { function, file, line, column });
        }
        entries.push((address, lines));
    }
    if c.pos != body.len() {
        return Err(c.err("bytes after the last entry"));
    }
    Ok(entries)
}

/// `s` cut to at most [`MAX_STRING_LEN`] bytes at a character boundary.
fn cut(s: &str) -> &str {
    let mut n = s.len().min(MAX_STRING_LEN);
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    &s[..n]
}

/// Appends `v` as an unsigned LEB128 varint.
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads the fields of a body, each read bounded by the body.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn err(&self, what: &'static str) -> SymbolsError {
        SymbolsError { offset: self.pos, what }
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn varint(&mut self) -> Result<u64, SymbolsError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(self.err("body ends inside a varint"));
            };
            if shift == 63 && b > 1 {
                return Err(self.err("varint overflows 64 bits"));
            }
            self.pos += 1;
            v |= u64::from(b & 0x7F) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.err("varint overflows 64 bits"))
    }

    fn u32(&mut self) -> Result<u32, SymbolsError> {
        let at = self.pos;
        let v = self.varint()?;
        u32::try_from(v).map_err(|_| SymbolsError { offset: at, what: "line or column above u32::MAX" })
    }

    /// Reads a count of items each at least `min_bytes` long, checked
    /// against `max` and the bytes left, so reserving that many is bounded.
    /// An error points at the count.
    fn count(&mut self, max: usize, min_bytes: usize, what: &'static str) -> Result<usize, SymbolsError> {
        let at = self.pos;
        match usize::try_from(self.varint()?) {
            Ok(n) if n <= max && n <= self.remaining() / min_bytes => Ok(n),
            _ => Err(SymbolsError { offset: at, what }),
        }
    }

    /// Reads a length-prefixed string; with `optional`, the length is stored
    /// plus one and 0 means none. An error points at the length.
    fn string(&mut self, optional: bool) -> Result<Option<String>, SymbolsError> {
        let at = self.pos;
        let len = match (self.varint()?, optional) {
            (0, true) => return Ok(None),
            (len, true) => len - 1,
            (len, false) => len,
        };
        let len = match usize::try_from(len) {
            Ok(len) if len <= MAX_STRING_LEN => len,
            _ => return Err(SymbolsError { offset: at, what: "string longer than 4096 bytes" }),
        };
        if len > self.remaining() {
            return Err(SymbolsError { offset: at, what: "body ends inside a string" });
        }
        let bytes = &self.buf[self.pos..self.pos + len];
        self.pos += len;
        Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn line(function: &str, file: Option<&str>, line: u32, column: u32) -> Line {
        Line { function: function.into(), file: file.map(Into::into), line, column }
    }

    fn arb_line() -> impl Strategy<Value = Line> {
        (".{0,40}", proptest::option::of(".{0,40}"), any::<u32>(), any::<u32>()).prop_map(|(function, file, line, column)| Line {
            function,
            file,
            line,
            column,
        })
    }

    proptest! {
        #[test]
        fn round_trip(entries in prop::collection::vec((any::<u64>(), prop::collection::vec(arb_line(), 0..6)), 0..20)) {
            let mut body = Vec::new();
            encode_symbols(&entries, &mut body);
            prop_assert_eq!(decode_symbols(&body).unwrap(), entries);
        }

        #[test]
        fn decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_symbols(&bytes);
        }

        #[test]
        fn every_cut_of_a_body_is_an_error(entries in prop::collection::vec((any::<u64>(), prop::collection::vec(arb_line(), 0..4)), 1..6)) {
            let mut body = Vec::new();
            encode_symbols(&entries, &mut body);
            for n in 0..body.len() {
                prop_assert!(decode_symbols(&body[..n]).is_err());
            }
        }
    }

    #[test]
    fn the_layout_is_as_documented() {
        let mut body = Vec::new();
        encode_symbols(&[(0x81, vec![line("f", Some("a.rs"), 3, 0), line("g", None, 0, 200)])], &mut body);
        let expected: &[u8] = &[1, 0x81, 0x01, 2, 1, b'f', 5, b'a', b'.', b'r', b's', 3, 0, 1, b'g', 0, 0, 0xC8, 0x01];
        assert_eq!(body, expected);
    }

    #[test]
    fn an_empty_file_differs_from_no_file() {
        let entries = vec![(1, vec![line("f", Some(""), 1, 1), line("f", None, 1, 1)])];
        let mut body = Vec::new();
        encode_symbols(&entries, &mut body);
        assert_eq!(decode_symbols(&body).unwrap(), entries);
    }

    #[test]
    fn long_strings_and_deep_inlining_are_cut() {
        let long = "é".repeat(3000); // 6000 bytes
        let mut lines: Vec<Line> = (0..300).map(|i| line(&format!("f{i}"), None, i, 0)).collect();
        lines[0].function = long.clone();
        let mut body = Vec::new();
        encode_symbols(&[(7, lines)], &mut body);
        let decoded = decode_symbols(&body).unwrap();
        let lines = &decoded[0].1;
        assert_eq!(lines.len(), MAX_LINES);
        assert_eq!(lines[0].function, "é".repeat(2048));
        assert_eq!(lines[MAX_LINES - 2].function, "f254");
        assert_eq!(lines[MAX_LINES - 1].function, "f299", "the containing function is kept");
    }

    #[test]
    fn invalid_utf8_decodes_lossily() {
        let body = [1, 5, 1, 2, 0xff, b'x', 0, 1, 1];
        let decoded = decode_symbols(&body).unwrap();
        assert_eq!(decoded, vec![(5, vec![line("\u{fffd}x", None, 1, 1)])]);
    }

    #[test]
    fn garbage_gives_errors_with_offsets() {
        let cases: &[(&[u8], usize, &str)] = &[
            (&[], 0, "body ends inside a varint"),
            (&[0xff; 11], 9, "varint overflows 64 bits"),
            (&[200, 1, 0, 0], 0, "entry count exceeds the body or 4096"),
            (&[1, 0, 255, 3, 0, 0, 0, 0], 2, "line count exceeds the body or 256"),
            (&[1, 0, 1, 0x80, 0x40, 0, 0, 0], 3, "string longer than 4096 bytes"),
            (&[1, 0, 1, 9, b'a', 0, 0, 0], 3, "body ends inside a string"),
            (&[1, 0, 1, 0, 9, b'a', 0, 0], 4, "body ends inside a string"),
            (&[1, 0, 1, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x10, 0], 5, "line or column above u32::MAX"),
            (&[0, 0], 1, "bytes after the last entry"),
        ];
        for (body, offset, what) in cases {
            let e = decode_symbols(body).unwrap_err();
            assert_eq!((e.offset, e.what), (*offset, *what), "{body:?}");
        }
        assert_eq!(decode_symbols(&[]).unwrap_err().to_string(), "body ends inside a varint at symbols byte 0");
    }

    #[test]
    fn a_huge_count_does_not_reserve() {
        let mut body = Vec::new();
        put_varint(&mut body, u64::MAX);
        assert!(decode_symbols(&body).is_err());
        let mut body = vec![1, 0];
        put_varint(&mut body, 1 << 40);
        assert!(decode_symbols(&body).is_err());
    }
}

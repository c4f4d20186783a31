//! HTML export of a [`Replay`]: one self-contained, offline, interactive
//! report (overview, timeline, variables, suggestions, scopes, memory map,
//! histograms).
//!
//! ```no_run
//! let replay = memscope::replay::replay_file("run.memscope".as_ref())?;
//! memscope::export::html_to_path(&replay, "report.html".as_ref())?;
//! # Ok::<(), memscope::Error>(())
//! ```
//!
//! The page is the hand-written `report/report.html`, `report.css` and the
//! script (embedded at build time) with the data embedded once, as the
//! very document [`crate::export::json`] writes, in
//! `<script type="application/json" id="memscope-data">`. The script renders
//! it; every text from the recording is inserted as text, never as markup.
//! The JSON's `<`, `>` and `&` are written as `\u003c`, `\u003e` and `\u0026`
//! (U+2028 and U+2029 as `\u2028` and `\u2029`), which JSON reads back as the
//! same characters and which cannot end the script element. A
//! Content-Security-Policy allows only the page's own script and style (by
//! their SHA-256) and no network at all.

use super::JsonOptions;
use crate::replay::Replay;
use crate::Error;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

const TEMPLATE: &str = include_str!("report/report.html");
const CSS: &str = include_str!("report/report.css");
/// The script: the views in `report/*.js` joined in this order into one
/// function, which `core.js` opens and `main.js` closes (each file ends with
/// a line break). The Content-Security-Policy hashes the whole of it.
const JS: &str = concat!(
    include_str!("report/core.js"),
    include_str!("report/overview.js"),
    include_str!("report/timeline.js"),
    include_str!("report/stacks-model.js"),
    include_str!("report/stacks-flame.js"),
    include_str!("report/stacks.js"),
    include_str!("report/stacks-range.js"),
    include_str!("report/variables.js"),
    include_str!("report/scopes.js"),
    include_str!("report/memory.js"),
    include_str!("report/main.js"),
);

/// Where the template takes the Content-Security-Policy, the CSS, the JSON
/// and the script, in this order.
const MARKERS: [&str; 4] = ["@@MEMSCOPE_CSP@@", "@@MEMSCOPE_CSS@@", "@@MEMSCOPE_DATA@@", "@@MEMSCOPE_JS@@"];

/// Writes `replay` as a self-contained HTML report to `writer`.
///
/// The embedded data is the document [`crate::export::json`] writes.
///
/// # Errors
/// The writer's I/O errors.
pub fn html(replay: &Replay, writer: impl Write) -> io::Result<()> {
    html_with(replay, &JsonOptions::default(), writer)
}

/// Writes `replay` as a self-contained HTML report to `writer`, embedding
/// the document [`crate::export::json_with`] writes with `options`.
///
/// # Errors
/// The writer's I/O errors.
pub fn html_with(replay: &Replay, options: &JsonOptions, writer: impl Write) -> io::Result<()> {
    let mut data = Vec::new();
    super::json_with(replay, options, &mut data)?;
    report(&data, writer)
}

/// Creates (or truncates) the file at `path` and writes `replay` to it as a
/// self-contained HTML report (see [`html`]).
///
/// # Errors
/// [`Error::Export`], naming `path`, when the file cannot be created or written.
pub fn html_to_path(replay: &Replay, path: &Path) -> Result<(), Error> {
    html_to_path_with(replay, &JsonOptions::default(), path)
}

/// As [`html_to_path`], embedding the document [`crate::export::json_with`]
/// writes with `options`.
///
/// # Errors
/// [`Error::Export`], naming `path`, when the file cannot be created or written.
pub fn html_to_path_with(replay: &Replay, options: &JsonOptions, path: &Path) -> Result<(), Error> {
    let export = |source| Error::Export { path: path.to_path_buf(), source };
    let file = File::create(path).map_err(export)?;
    html_with(replay, options, &file).map_err(export)?;
    file.sync_all().map_err(export)
}

/// Writes the report page around `json`, a JSON document as
/// [`crate::export::json`] writes it.
fn report(json: &[u8], writer: impl Write) -> io::Result<()> {
    let mut w = BufWriter::new(writer);
    let csp = format!(
        "default-src 'none'; script-src 'sha256-{}'; style-src 'sha256-{}'; base-uri 'none'; form-action 'none'",
        base64(&sha256(JS.as_bytes())),
        base64(&sha256(CSS.as_bytes()))
    );
    let mut rest = TEMPLATE;
    for marker in MARKERS {
        let (before, after) = rest.split_once(marker).expect("report.html holds every marker once, in order (tested)");
        w.write_all(before.as_bytes())?;
        match marker {
            "@@MEMSCOPE_CSP@@" => w.write_all(csp.as_bytes())?,
            "@@MEMSCOPE_CSS@@" => w.write_all(CSS.as_bytes())?,
            "@@MEMSCOPE_DATA@@" => write_script_safe_json(&mut w, json)?,
            _ => w.write_all(JS.as_bytes())?,
        }
        rest = after;
    }
    w.write_all(rest.as_bytes())?;
    w.flush()
}

/// Writes `json` with every `<`, `>`, `&`, U+2028 and U+2029 as a `\uXXXX`
/// escape. Those characters occur in JSON only inside strings, where the
/// escape means the same character, so the text still parses to the same
/// value; and without `<` it cannot close the script element it sits in.
fn write_script_safe_json(w: &mut impl Write, json: &[u8]) -> io::Result<()> {
    let mut start = 0;
    let mut i = 0;
    while i < json.len() {
        let (escape, len): (&[u8], usize) = match json[i] {
            b'<' => (b"\\u003c", 1),
            b'>' => (b"\\u003e", 1),
            b'&' => (b"\\u0026", 1),
            0xE2 if json.get(i + 1) == Some(&0x80) && json.get(i + 2) == Some(&0xA8) => (b"\\u2028", 3),
            0xE2 if json.get(i + 1) == Some(&0x80) && json.get(i + 2) == Some(&0xA9) => (b"\\u2029", 3),
            _ => {
                i += 1;
                continue;
            }
        };
        w.write_all(&json[start..i])?;
        w.write_all(escape)?;
        i += len;
        start = i;
    }
    w.write_all(&json[start..])
}

/// Standard base64 with padding (RFC 4648), as CSP hash sources want it.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16) | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8) | u32::from(*chunk.get(2).unwrap_or(&0));
        for (k, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if k <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// SHA-256 (FIPS 180-4) of `data`, for the Content-Security-Policy hashes
/// of the page's own script and style.
fn sha256(data: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be,
        0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa,
        0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85,
        0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3,
        0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f,
        0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ];
    let mut h: [u32; 8] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16].wrapping_add(s0).wrapping_add(w[i - 7]).wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh.wrapping_add(s1).wrapping_add(ch).wrapping_add(K[i]).wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, v) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(v);
        }
    }
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn sha256_and_base64_match_known_answers() {
        assert_eq!(hex(&sha256(b"")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(hex(&sha256(b"abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        let long = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        assert_eq!(hex(&sha256(long)), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
        assert_eq!(hex(&sha256(&[b'a'; 1000])), "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(&sha256(b"")), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    }

    #[test]
    fn template_holds_each_marker_once_in_order_and_the_code_cannot_close_its_element() {
        let mut rest = TEMPLATE;
        for m in MARKERS {
            assert_eq!(TEMPLATE.matches(m).count(), 1, "{m}");
            rest = rest.split_once(m).expect("in order").1;
        }
        assert!(!JS.to_ascii_lowercase().contains("</script"), "the script must not contain </script");
        assert!(!CSS.to_ascii_lowercase().contains("</style"), "report.css must not contain </style");
        assert!(!JS.contains("@@MEMSCOPE_") && !CSS.contains("@@MEMSCOPE_"));
        for forbidden in ["http://", "https://", "//cdn", "@import", "url("] {
            for (name, text) in [("report.html", TEMPLATE), ("report.css", CSS), ("the script", JS)] {
                assert!(!text.contains(forbidden), "{name} fetches nothing: {forbidden}");
            }
        }
        assert!(!JS.contains("innerHTML") && !JS.contains("outerHTML") && !JS.contains("insertAdjacentHTML"), "data goes in as text");
        assert!(!JS.contains("fetch(") && !JS.contains("XMLHttpRequest") && !JS.contains("eval("), "the script makes no request");
    }

    #[test]
    fn the_script_is_one_function_opened_by_core_js_and_closed_by_main_js() {
        assert!(JS.starts_with("// memscope report:"), "core.js comes first");
        assert_eq!(JS.matches("\n(function () {\n  'use strict';\n").count(), 1, "one function, opened once");
        assert!(JS.ends_with("\n})();\n"), "main.js comes last and closes it");
        assert_eq!(JS.matches("\n})();\n").count(), 1);
        for view in [
            "function renderTimeline()",
            "function renderStacks()",
            "function flameGraph(",
            "function renderRangePanel()",
            "function renderVariables()",
        ] {
            assert_eq!(JS.matches(view).count(), 1, "{view} once");
        }
    }

    #[test]
    fn json_is_escaped_for_a_script_element_and_still_parses_to_the_same_value() {
        let text = "</script><img src=x onerror=alert(1)> & \u{2028}\u{2029} é 日本";
        let json = serde_json::to_vec(&serde_json::json!({ "name": text, "n": 1 })).expect("serialises");
        let mut out = Vec::new();
        write_script_safe_json(&mut out, &json).expect("writes to a Vec");
        let s = String::from_utf8(out).expect("UTF-8");
        for bad in ['<', '>', '&', '\u{2028}', '\u{2029}'] {
            assert!(!s.contains(bad), "{bad:?} in {s}");
        }
        assert!(s.contains("\\u003c/script\\u003e") && s.contains("é 日本"), "{s}");
        let back: serde_json::Value = serde_json::from_str(&s).expect("still JSON");
        assert_eq!(back["name"], text);
    }

    #[test]
    fn report_embeds_the_json_document_once() {
        let json = br#"{"format_version":1,"x":"a<b"}"#;
        let mut out = Vec::new();
        report(json, &mut out).expect("writes to a Vec");
        let page = String::from_utf8(out).expect("UTF-8");
        assert!(!page.contains("@@MEMSCOPE_"));
        assert_eq!(page.matches(r#"id="memscope-data""#).count(), 1);
        assert!(page.contains(r#"{"format_version":1,"x":"a\u003cb"}"#));
        assert!(page.contains(&format!("'sha256-{}'", base64(&sha256(JS.as_bytes())))));
        assert!(page.contains(&format!("<script>{JS}</script>")), "the script hashed is the script embedded");
        assert!(page.contains(&format!("<style>{CSS}</style>")), "the style hashed is the style embedded");
    }
}

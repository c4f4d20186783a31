//! A multi-threaded job with its memory named: `track_var!` on the main
//! buffers, `track_clone!` on the shared configuration (`Arc`) and on an
//! interned name (`Rc`, inside one worker), and `track_scope!` around each
//! stage, while memscope records every allocation.
//!
//! ```text
//! cargo run --release --example tracked_pipeline [-- OUT.memscope]
//! ```
//!
//! The job: generate 60,000 lines of CSV-like sales (`id,city,product,qty,cents`),
//! parse them on 3 worker threads (each interns product names in `Rc<str>`
//! and totals them per product), build an index of sales by city and the
//! product totals on the main thread, and write a short report. Scopes:
//! `generate`, `parse` (main, waiting) and `parse_chunk` (each worker, its
//! own tree), `index` with `merge_products` inside it, and `report`.
//!
//! The recording goes to `target/memscope/tracked_pipeline.memscope` (or the
//! path given); replay it with
//! `cargo run --release -- json target/memscope/tracked_pipeline.memscope -o pipeline.json --only-tracked`
//! (or `html … -o pipeline.html`).

use memscope::{Heap, Trackable};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

#[global_allocator]
static GLOBAL: memscope::TrackingAllocator = memscope::TrackingAllocator::system();

const WORKERS: usize = 3;
const LINES: usize = 60_000;
const CITIES: [&str; 12] = ["Lyon", "Porto", "Gdańsk", "Malmö", "Zürich", "Atlantis", "Bergen", "Graz", "Cork", "Turku", "Brno", "Bari"];

/// What every worker is told, shared through one `Arc`.
struct Config {
    delimiter: char,
    currency: String,
    skip_cities: Vec<String>,
    min_qty: u32,
}

/// Its heap memory: the currency's and the skip list's buffers.
impl Trackable for Config {
    fn track(&self, heap: &mut Heap) {
        self.currency.track(heap);
        self.skip_cities.track(heap);
    }
}

/// One parsed line (its product is totalled by the worker).
struct Sale {
    city: String,
    cents: u64,
}

/// `track_var!(sales)` counts each sale's city too.
impl memscope::Trackable for Sale {
    fn track(&self, heap: &mut memscope::Heap) {
        self.city.track(heap);
    }
}

/// What a worker sends back: its sales and its per-product (quantity, cents).
type Parsed = (Vec<Sale>, Vec<(String, u64, u64)>);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/memscope/tracked_pipeline.memscope"));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let recording = memscope::Recorder::new(&path).start()?;
    let outcome = run();
    let summary = recording.finish()?;
    println!("tracked_pipeline: {outcome}");
    println!("recording: {}", path.display());
    println!("{summary}");
    println!("replay it: cargo run --release -- json {} -o pipeline.json --only-tracked", path.display());
    Ok(())
}

/// The job; returns one line about what it found.
fn run() -> String {
    let config =
        Arc::new(Config { delimiter: ',', currency: String::from("EUR"), skip_cities: vec![String::from("Atlantis")], min_qty: 1 });
    memscope::track_var!(config);

    let input = {
        let _scope = memscope::track_scope!("generate");
        generate(LINES)
    };
    memscope::track_var!(input);

    let parts: Vec<Parsed> = {
        let _scope = memscope::track_scope!("parse");
        std::thread::scope(|s| {
            let workers: Vec<_> = split_lines(&input, WORKERS)
                .into_iter()
                .map(|chunk| {
                    // One more strong reference per worker; the clone is linked to `config`.
                    let config = memscope::track_clone!(config);
                    s.spawn(move || parse_chunk(chunk, config))
                })
                .collect();
            workers.into_iter().map(|w| w.join().expect("a parse worker panicked")).collect()
        })
    };
    drop(input);

    let (sales, index, products) = {
        let _scope = memscope::track_scope!("index");
        // Tracked after the first part: it then grows by reallocation and keeps its name.
        let mut parts = parts.into_iter();
        let (mut sales, first_totals) = parts.next().expect("at least one worker");
        memscope::track_var!(sales);
        let mut totals = vec![first_totals];
        for (more, t) in parts {
            sales.extend(more);
            totals.push(t);
        }
        let mut index: HashMap<&str, Vec<u32>> = HashMap::new();
        for (i, sale) in sales.iter().enumerate() {
            index.entry(sale.city.as_str()).or_default().push(i as u32);
        }
        memscope::track_var!(index);
        let products = {
            let _scope = memscope::track_scope!("merge_products");
            let mut products: BTreeMap<String, (u64, u64)> = BTreeMap::new();
            for (name, qty, cents) in totals.into_iter().flatten() {
                let e = products.entry(name).or_default();
                e.0 += qty;
                e.1 += cents;
            }
            products
        };
        memscope::track_var!(products);
        let index: Vec<(String, usize, u64)> =
            index.iter().map(|(city, ids)| (city.to_string(), ids.len(), ids.iter().map(|&i| sales[i as usize].cents).sum())).collect();
        (sales.len(), index, products)
    };

    let _scope = memscope::track_scope!("report");
    let mut by_revenue = index;
    by_revenue.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    let mut best_products: Vec<(&String, &(u64, u64))> = products.iter().collect();
    best_products.sort_by(|a, b| b.1 .1.cmp(&a.1 .1).then_with(|| a.0.cmp(b.0)));
    let mut report =
        format!("{sales} sales from {LINES} lines on {WORKERS} threads, {} cities, {} products", by_revenue.len(), products.len());
    memscope::track_var!(report);
    if let (Some(city), Some(product)) = (by_revenue.first(), best_products.first()) {
        report.push_str(&format!(
            "; top city {} ({} sales, {:.2} {}), top product {} ({:.2} {})",
            city.0,
            city.1,
            city.2 as f64 / 100.0,
            config.currency,
            product.0,
            product.1 .1 as f64 / 100.0,
            config.currency
        ));
    }
    report
}

/// `lines` lines of `id,city,product,qty,cents`, from a fixed seed.
fn generate(lines: usize) -> String {
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut out = String::new();
    for id in 0..lines {
        let r = next();
        let city = CITIES[(r % CITIES.len() as u64) as usize];
        let product = (r >> 8) % 40;
        let qty = (r >> 16) % 9;
        let cents = 99 + (r >> 24) % 20_000;
        out.push_str(&format!("{id},{city},product-{product:02},{qty},{cents}\n"));
    }
    out
}

/// Splits `text` into `n` pieces of about equal size, at line ends.
fn split_lines(text: &str, n: usize) -> Vec<&str> {
    let mut pieces = Vec::with_capacity(n);
    let mut rest = text;
    for i in (1..=n).rev() {
        let mut cut = (rest.len() / i).min(rest.len());
        while cut < rest.len() && rest.as_bytes()[cut.saturating_sub(1)] != b'\n' {
            cut += 1;
        }
        let (piece, tail) = rest.split_at(cut);
        pieces.push(piece);
        rest = tail;
    }
    pieces
}

/// One worker: parses its lines, interning product names as `Rc<str>`
/// (this thread's own), and totals quantity and cents per product.
fn parse_chunk(chunk: &str, config: Arc<Config>) -> Parsed {
    let _scope = memscope::track_scope!("parse_chunk");
    memscope::track_var!(config);
    let mut sales = Vec::new();
    let mut interned: HashMap<&str, Rc<str>> = HashMap::new();
    let mut totals: HashMap<Rc<str>, (u64, u64)> = HashMap::new();
    for line in chunk.lines() {
        let mut fields = line.split(config.delimiter);
        let (Some(_id), Some(city), Some(product), Some(qty), Some(cents)) =
            (fields.next(), fields.next(), fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let (Ok(qty), Ok(cents)) = (qty.parse::<u32>(), cents.parse::<u64>()) else { continue };
        if qty < config.min_qty || config.skip_cities.iter().any(|c| c == city) {
            continue;
        }
        let name = interned.entry(product).or_insert_with(|| Rc::from(product));
        let total = totals.entry(Rc::clone(name)).or_default();
        total.0 += u64::from(qty);
        total.1 += cents * u64::from(qty);
        sales.push(Sale { city: city.to_owned(), cents: cents * u64::from(qty) });
    }
    memscope::track_var!(sales);
    // The best seller's interned name, held by `interned` and `totals`: one
    // more strong reference, tracked, then a tracked clone linked to it.
    let best = totals.iter().max_by(|a, b| a.1 .1.cmp(&b.1 .1).then_with(|| b.0.cmp(a.0))).map(|(name, _)| Rc::clone(name));
    if let Some(best) = best {
        memscope::track_var!(best);
        let label = memscope::track_clone!(best);
        debug_assert_eq!(Rc::strong_count(&label), 4);
    }
    drop(interned);
    let totals = totals.into_iter().map(|(name, (qty, cents))| (name.to_string(), qty, cents)).collect();
    (sales, totals)
}

//! The memscope command-line tool (being written).
fn main() {}

//! Export (placeholder being written).

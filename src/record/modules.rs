//! The module map (to be written).

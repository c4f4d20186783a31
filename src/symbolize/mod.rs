//! Offline symbolization of call-stack addresses (to be written).

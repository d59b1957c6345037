//! The message diagram (being written).

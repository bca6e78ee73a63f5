//! Keel VM logic.

//! WorldPlay-style context memory retrieval.

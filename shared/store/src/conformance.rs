//! Conformance suite: the same cases for every adapter of every port.

//! The flash-crowd benchmark (issue 7): the library the `flash-crowd` binary and the
//! CI correctness test share.
pub mod crowd;
pub mod report;

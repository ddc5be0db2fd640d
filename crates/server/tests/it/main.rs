//! The `carebridge` binary's tests, as one test binary (see `testkit/tests/it`).
mod cli;
mod crash_points;
mod kill9;

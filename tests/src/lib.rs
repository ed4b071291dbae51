//! Helpers shared by the integration tests that need more than a test file: the power-cut
//! file system (`powercut`), mounted under the server's data directory by `tests/powercut.rs`.

pub mod powercut;

//! Traffic simulators: programs that use the apps through the same command bus as people.

pub mod bookmarks;
pub mod drops;

//! Focus mode through the engine API on a manual clock: activities and their durable
//! timers (also across restarts), counters against a recount, and event ingestion.

mod counters;
mod deadlines;
mod events;
mod redo;
mod timers;

//! The SMTP wire format: commands in, replies out, and the framing rules that
//! bound every read.
//!
//! Everything here is pure and I/O free so that the fake server, the proxy,
//! the probe and the fuzz targets share one definition of "what a line is".

pub mod address;
pub mod codec;
pub mod command;
pub(crate) mod date;
pub mod eod;
// Public only so that the fuzz targets (a separate crate) and the property
// tests in tests/framing_props drive the real framing, not a copy; not part
// of the API a test suite uses.
#[doc(hidden)]
pub mod framer;
pub mod mask;
pub mod reply;
pub(crate) mod ntlm;
pub(crate) mod sasl;
pub mod xclient;

pub use command::{Command, Verb};
pub use reply::Reply;

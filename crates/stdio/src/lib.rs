//! Stdio plumbing for exec and attach that Node cannot do itself:
//!
//! - [`open_pty`]: a pseudo-terminal pair for a runtime's `exec --tty`
//!   (the runtime relays between it and the container's own terminal),
//!   and [`set_window_size`] for resizes.
//! - [`connect_seqpacket`]: conmon's attach socket is SOCK_SEQPACKET,
//!   which libuv cannot open.
//! - [`spawn_relay`]: copies between such an fd and one end of a
//!   SOCK_STREAM socketpair on a thread of its own, so JS gets an fd it can
//!   wrap in a `net.Socket`, with backpressure both ways.
//! - [`capture_pipes`]: ExecSync's output, read to the end under one byte
//!   budget on a thread of its own.

mod capture;
mod fd;
mod pty;
mod relay;
mod seqpacket;

pub use capture::{capture_pipes, Capture, CapturePipes, Captured};
pub use fd::duplicate;
pub use pty::{open_pty, set_window_size, Pty};
pub use relay::{spawn_relay, Framing};
pub use seqpacket::connect_seqpacket;

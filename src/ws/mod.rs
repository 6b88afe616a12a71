//! WebSocket frames (RFC 6455 §5) and permessage-deflate (RFC 7692).

pub mod deflate;
pub mod frame;
pub mod stream;

pub use frame::OpCode;
pub use stream::{FrameCounts, FrameParser, Violation, WsEvent};

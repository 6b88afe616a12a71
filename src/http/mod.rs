//! HTTP: `head` parses HTTP/1.1 request and response heads (httparse, sans-IO); `h1` is the
//! state machine of a connection's exchanges up to the WebSocket upgrade (RFC 6455 §4, RFC 9110
//! §7.8, RFC 9112), handing the bytes after a 101 on; `h2` reads HTTP/2 frames and header
//! blocks (RFC 9113, RFC 7541), whose extended CONNECT streams carry WebSockets (RFC 8441).

pub mod h1;
pub mod h2;
mod head;

pub use head::*;

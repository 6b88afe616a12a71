//! HTTP/1.1: `head` parses request and response heads (httparse, sans-IO); `h1` is the state
//! machine of a connection's exchanges up to the WebSocket upgrade (RFC 6455 §4, RFC 9110
//! §7.8, RFC 9112), handing the bytes after a 101 on.

pub mod h1;
mod head;

pub use head::*;

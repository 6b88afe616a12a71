//! HTTP upgrade heads: complete and cut-short parses of a request and a response taken from the
//! input (split at a point the first two bytes choose), then everything a report derives from
//! them: the 101 checks, extension parameters, masked URIs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsdiag::http::{self, Parsed};
use wsdiag::ws::deflate::DeflateParams;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let split = usize::from(u16::from_le_bytes([data[0], data[1]])) % (data.len() - 1);
    let (req_bytes, resp_bytes) = data[2..].split_at(split);

    let req = match http::parse_request(req_bytes) {
        Ok(Parsed::Done { head, len }) => {
            assert!(len <= req_bytes.len());
            // A shorter prefix of a complete head is never complete with a different length.
            if let Ok(Parsed::Done { len: l2, .. }) = http::parse_request(&req_bytes[..len]) {
                assert_eq!(l2, len);
            }
            Some(head)
        }
        Ok(Parsed::Partial) => {
            assert!(req_bytes.len() <= http::MAX_HEAD);
            http::parse_request_partial(req_bytes)
        }
        Err(_) => http::parse_request_partial(req_bytes),
    };
    let resp = match http::parse_response(resp_bytes) {
        Ok(Parsed::Done { head, len }) => {
            assert!(len <= resp_bytes.len());
            Some(head)
        }
        Ok(Parsed::Partial) => {
            assert!(resp_bytes.len() <= http::MAX_HEAD);
            http::parse_response_partial(resp_bytes)
        }
        Err(_) => http::parse_response_partial(resp_bytes),
    };
    let _ = http::looks_like_request(req_bytes);
    let _ = http::looks_like_response(resp_bytes);
    if let Some(r) = &req {
        let _ = r.uri_short();
        let _ = r.wants_websocket();
        let _ = http::mask_uri(&r.uri);
        if let Some(k) = &r.key {
            let _ = http::accept_for(k);
        }
    }
    if let Some(r) = &resp {
        let _ = r.upgrade_ok();
        let _ = r.connection_ok();
        for e in &r.extensions {
            let _ = DeflateParams::from_agreed(e.params.iter().map(|(k, v)| (k.as_str(), v.as_deref())));
        }
    }
    if let (Some(q), Some(s)) = (&req, &resp) {
        let _ = http::validate_101(q, s);
    }
    let _ = http::parse_extensions(&String::from_utf8_lossy(resp_bytes));
});

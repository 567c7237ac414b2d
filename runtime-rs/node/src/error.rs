//! The one conversion from core errors to JS errors; the message keeps the whole cause chain.

use std::error::Error as _;

pub fn to_napi(err: stratum_core::Error) -> napi::Error {
    let mut msg = err.to_string();
    let mut cause = err.source().and_then(|s| s.source());
    while let Some(c) = cause {
        msg.push_str(": ");
        msg.push_str(&c.to_string());
        cause = c.source();
    }
    napi::Error::from_reason(msg)
}

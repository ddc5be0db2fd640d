//! What the courier (SF Express) sends: an answer envelope (the business result as a JSON
//! string or an object) → an order's waybill or the routes, and a route push. Never a panic;
//! routes come out oldest first and a push never carries more than ten steps. When the
//! first byte is odd the rest is signed as msgData: the digest is 24 characters of Base64
//! and changes with any byte of it.
#![no_main]
use gateways::courier::{Answer, MAX_PUSHED, msg_digest, open_answer, parse_created, parse_route_push, parse_routes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&mode, body)) = input.split_first() else { return };
    if let Ok(Answer::Ok(v)) = open_answer(body) {
        let _ = parse_created(&v);
        if let Ok(routes) = parse_routes(&v) {
            assert!(routes.windows(2).all(|w| w[0].at <= w[1].at), "routes out of order");
        }
    }
    if let Ok(steps) = parse_route_push(body) {
        assert!(steps.len() <= MAX_PUSHED);
    }
    if mode & 1 == 1
        && let Ok(text) = std::str::from_utf8(body)
    {
        let d = msg_digest(text, "1700000000000", "check");
        assert_eq!(d.len(), 24);
        assert_ne!(d, msg_digest(&format!("{text} "), "1700000000000", "check"), "a changed msgData signs the same");
    }
});

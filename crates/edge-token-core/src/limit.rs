//! Rate limiting: of failed client authentication, and of revocations.
//!
//! Two counters are fed only by *failures* (successful callers never touch
//! them, so they are never slowed), and neither ever refuses valid
//! credentials, so nobody can lock a good client out by failing on purpose:
//!
//! - **by caller address** ([`address_key`]: the IPv4 address, or the /64 of
//!   an IPv6 one): once an address is over its limit, *failed* attempts from
//!   it get `429` instead of `401` until the period ends, and ids the isolate
//!   already knows to be unknown get `429` without a store read. A request
//!   with valid credentials is served: machine clients often share an egress
//!   address (a cluster's NAT, a cloud NAT gateway, carrier NAT), and one
//!   misconfigured job behind it must not cut off the others. The isolate
//!   remembers the verdict in a bounded [`Blocklist`], because the Workers
//!   Rate Limiting binding can only count, not peek.
//! - **by client id**: once an id is over its limit, further *failed*
//!   attempts on it get `429` instead of `401`. The holder of the real secret
//!   still gets tokens. Secrets are 256 random bits: the limit exists to stop
//!   floods, not to make guessing harder.
//!
//! A third counter, **revocations by client**, counts each revocation that
//! writes a denylist entry: past its limit the client gets `429`, so no
//! client can turn the revocation endpoint into a free KV write loop.
//!
//! The counting itself is a capability, [`Limiter`]: the Worker uses
//! the Rate Limiting bindings, tests the test kit's in-memory one.

use std::cell::RefCell;
use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// Which counter an event goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitKind {
    /// Failed authentications, keyed by the presented client id.
    Client,
    /// Failed authentications, keyed by the caller's address ([`address_key`]).
    Address,
    /// Revocations that write a denylist entry, keyed by the client id.
    Revocation,
}

/// The limiter key of a caller address (`CF-Connecting-IP`): an IPv4
/// address as it is; an IPv6 address by its /64 (`2001:db8:1:2::/64`),
/// since one host usually holds a whole /64; an IPv4-mapped IPv6 address as
/// its IPv4 address; anything else through [`limit_key`]. `None` for a
/// missing or blank header.
pub fn address_key(header: Option<&str>) -> Option<String> {
    let raw = header.map(str::trim).filter(|a| !a.is_empty())?;
    if let Ok(v6) = raw.parse::<std::net::Ipv6Addr>() {
        if let Some(v4) = v6.to_ipv4_mapped() {
            return Some(v4.to_string());
        }
        let [a, b, c, d, ..] = v6.segments();
        return Some(format!("{a:x}:{b:x}:{c:x}:{d:x}::/64"));
    }
    Some(limit_key(raw))
}

/// Longest key passed to a limiter; longer ones are replaced by their SHA-256.
pub const MAX_KEY_LEN: usize = 128;

/// The key a limiter sees for `value`: itself, or its SHA-256 (hex) when
/// long (`sha256:` and base64url), so an attacker-sized client id never
/// reaches the binding.
pub fn limit_key(value: &str) -> String {
    if value.len() <= MAX_KEY_LEN {
        return value.to_owned();
    }
    let digest = Sha256::digest(value.as_bytes());
    format!("sha256:{}", URL_SAFE_NO_PAD.encode(digest))
}

/// Counts events (failed authentications, revocations) per key.
// Implementations run on a single-threaded runtime (Workers); no Send bound wanted.
#[allow(async_fn_in_trait)]
pub trait Limiter {
    /// Counts one event for `key`; `Ok(true)` while the key is within its
    /// limit, `Ok(false)` once it is over. `Err` (logged) means the limiter
    /// could not answer; the service then fails open.
    async fn hit(&self, kind: LimitKind, key: &str) -> Result<bool, String>;
}

/// Default most addresses a [`Blocklist`] holds.
pub const DEFAULT_BLOCKLIST_ENTRIES: usize = 4096;

/// Addresses known to be over their limit, and until when (per isolate).
#[derive(Debug)]
pub struct Blocklist {
    max_entries: usize,
    until: RefCell<HashMap<String, u64>>,
}

impl Blocklist {
    /// An empty blocklist holding at most `max_entries` addresses.
    pub fn new(max_entries: usize) -> Self {
        Blocklist {
            max_entries,
            until: RefCell::new(HashMap::new()),
        }
    }

    /// When `address` is blocked at `now`, the seconds left.
    pub fn blocked_for(&self, address: &str, now: u64) -> Option<u64> {
        let until = *self.until.borrow().get(address)?;
        (now < until).then(|| until - now)
    }

    /// Blocks `address` until `until`. When full, expired entries are
    /// dropped first; if it is still full the address is not remembered
    /// (the limiter keeps answering for it, one lookup later).
    pub fn block(&self, address: &str, now: u64, until: u64) {
        let mut map = self.until.borrow_mut();
        if map.len() >= self.max_entries && !map.contains_key(address) {
            map.retain(|_, u| *u > now);
            if map.len() >= self.max_entries {
                return;
            }
        }
        map.insert(address.to_owned(), until);
    }

    /// How many addresses are held.
    pub fn len(&self) -> usize {
        self.until.borrow().len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.until.borrow().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_key_keeps_short_values_and_hashes_long_ones() {
        assert_eq!(limit_key("abc"), "abc");
        let long = "x".repeat(MAX_KEY_LEN + 1);
        let key = limit_key(&long);
        assert!(key.starts_with("sha256:") && key.len() == 7 + 43, "{key}");
        assert_ne!(key, limit_key(&"y".repeat(MAX_KEY_LEN + 1)));
    }

    #[test]
    fn address_key_groups_ipv6_by_64_and_keeps_ipv4() {
        assert_eq!(
            address_key(Some(" 203.0.113.7 ")).as_deref(),
            Some("203.0.113.7")
        );
        let a = address_key(Some("2001:db8:1:2:aaaa::1"));
        assert_eq!(a.as_deref(), Some("2001:db8:1:2::/64"));
        assert_eq!(
            a,
            address_key(Some("2001:0db8:0001:0002:ffff:ffff:ffff:ffff"))
        );
        assert_ne!(a, address_key(Some("2001:db8:1:3::1")));
        assert_eq!(
            address_key(Some("::ffff:192.0.2.1")).as_deref(),
            Some("192.0.2.1")
        );
        assert_eq!(address_key(Some("  ")), None);
        assert_eq!(address_key(None), None);
        let long = "x".repeat(MAX_KEY_LEN + 1);
        assert_eq!(address_key(Some(&long)), Some(limit_key(&long)));
    }

    #[test]
    fn blocklist_expires_and_stays_bounded() {
        let b = Blocklist::new(2);
        b.block("a", 100, 160);
        assert_eq!(b.blocked_for("a", 100), Some(60));
        assert_eq!(b.blocked_for("a", 160), None);
        b.block("b", 100, 110);
        // Full: "c" evicts the expired "b" at t=120.
        b.block("c", 120, 180);
        assert_eq!(b.len(), 2);
        assert_eq!(b.blocked_for("c", 120), Some(60));
        // Full of live entries: "d" is not remembered, nothing grows.
        b.block("d", 121, 181);
        assert_eq!(b.len(), 2);
        assert_eq!(b.blocked_for("d", 121), None);
    }
}

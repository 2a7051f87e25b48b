//! The per-isolate JWKS cache: when a request may use the cached JWK Set,
//! must fetch it, waits for another request's fetch, or is refused because
//! no usable copy can be had. Pure (times are parameters, in milliseconds);
//! the Worker does the fetching.
//!
//! * A fetched set is **fresh** for the response's `Cache-Control: max-age`
//!   (or [`DEFAULT_MAX_AGE_SECS`] without one; `no-store` and `no-cache`
//!   count as 0), raised to [`Policy::min_secs`] and capped at
//!   [`Policy::max_secs`].
//! * A token whose `kid` the fresh set lacks causes a refetch, but at most
//!   one fetch starts per [`Policy::refresh_secs`] (counted from the last
//!   attempt of any kind): anyone can send a token with any `kid`.
//! * Once the set is no longer fresh, the next request fetches it again (as
//!   often as that interval allows). Until a fetch succeeds, the old copy
//!   keeps serving, for at most [`Policy::stale_secs`] past its freshness.
//! * With no usable copy, a request fetches (without the interval: there is
//!   nothing else to check tokens with), and if that fails it is refused.
//! * One fetch at a time per isolate: a request that needs the result of a
//!   fetch another request started waits for it instead of starting its own.

use std::rc::Rc;

use edge_token_verify::token::KeySet;

/// Freshness of a JWK Set served without `max-age` (before the bounds).
pub const DEFAULT_MAX_AGE_SECS: u64 = 300;
/// How long a fetch may take, headers and body, before it is abandoned.
pub const FETCH_TIMEOUT_MS: u64 = 5_000;
/// The largest JWK Set body read (the issuer's, with a few keys, is under
/// 2 KB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// A fetch not finished this long after its start no longer holds other
/// requests back (its request may have been cancelled mid-fetch).
const IN_FLIGHT_LIMIT_MS: u64 = FETCH_TIMEOUT_MS + 1_000;

/// The cache's bounds, in seconds (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Fetches started by an unknown `kid`, or retried after a failure while
    /// an old copy serves, are at least this far apart.
    pub refresh_secs: u64,
    /// Lowest freshness lifetime, whatever `max-age` says.
    pub min_secs: u64,
    /// Highest freshness lifetime, whatever `max-age` says.
    pub max_secs: u64,
    /// How long past its freshness a copy may still serve while fetches fail.
    pub stale_secs: u64,
}

impl Policy {
    /// The freshness lifetime, in seconds, for a response's `max-age`.
    pub fn lifetime_secs(&self, max_age: Option<u64>) -> u64 {
        max_age
            .unwrap_or(DEFAULT_MAX_AGE_SECS)
            .clamp(self.min_secs, self.max_secs.max(self.min_secs))
    }
}

/// Why a fetch is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// No copy yet in this isolate.
    Initial,
    /// The copy is no longer fresh (or no longer usable at all).
    Expired,
    /// The token's `kid` is not in the fresh copy.
    UnknownKid,
}

impl Reason {
    /// The name in log lines.
    pub fn name(self) -> &'static str {
        match self {
            Reason::Initial => "initial",
            Reason::Expired => "expired",
            Reason::UnknownKid => "unknown_kid",
        }
    }
}

/// What a request does about keys.
#[derive(Debug, Clone)]
pub enum Plan {
    /// Verify with these keys (`stale`: past their freshness, serving while
    /// fetches fail or are not yet due).
    Use { keys: Rc<KeySet>, stale: bool },
    /// Fetch the set ([`Cache::begin`], then [`Cache::finish`]), then decide
    /// again without fetching.
    Fetch(Reason),
    /// Another request is fetching: wait until [`Cache::attempts`] changes
    /// (or [`Cache::in_flight`] ends), then decide again without fetching.
    Wait,
    /// No usable keys: refuse the token.
    Unavailable,
}

/// A fetched JWK Set and its times.
#[derive(Debug, Clone)]
struct Copy {
    keys: Rc<KeySet>,
    fresh_until: u64,
    usable_until: u64,
}

/// How serving stands, for log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// No copy, or none usable any more.
    None,
    /// A copy past its freshness, still serving.
    Stale,
    /// A fresh copy.
    Fresh,
}

impl Standing {
    /// The name in log lines.
    pub fn name(self) -> &'static str {
        match self {
            Standing::None => "none",
            Standing::Stale => "stale",
            Standing::Fresh => "fresh",
        }
    }
}

/// One isolate's cache.
#[derive(Debug, Default)]
pub struct Cache {
    copy: Option<Copy>,
    last_attempt: Option<u64>,
    fetching_since: Option<u64>,
    attempts: u64,
}

impl Cache {
    /// What a request for a token with this (unverified) `kid` does at
    /// `now`. `may_fetch` is false once the request has fetched or waited:
    /// it then uses what there is.
    pub fn decide(&self, policy: &Policy, now: u64, kid: Option<&str>, may_fetch: bool) -> Plan {
        let in_flight = self.in_flight(now);
        let usable = self.copy.as_ref().filter(|c| now < c.usable_until);
        let Some(copy) = usable else {
            return if !may_fetch {
                Plan::Unavailable
            } else if in_flight {
                Plan::Wait
            } else if self.copy.is_some() {
                Plan::Fetch(Reason::Expired)
            } else {
                Plan::Fetch(Reason::Initial)
            };
        };
        let fresh = now < copy.fresh_until;
        let known = kid.is_none_or(|k| copy.keys.find(k).is_some());
        let serve = Plan::Use {
            keys: Rc::clone(&copy.keys),
            stale: !fresh,
        };
        if (fresh && known) || !may_fetch {
            return serve;
        }
        if in_flight {
            // A known kid is served from the old copy meanwhile; an unknown
            // one can only be helped by the fetch's result.
            return if known { serve } else { Plan::Wait };
        }
        let due = self
            .last_attempt
            .is_none_or(|t| now >= t.saturating_add(policy.refresh_secs.saturating_mul(1000)));
        if !due {
            return serve;
        }
        Plan::Fetch(if fresh {
            Reason::UnknownKid
        } else {
            Reason::Expired
        })
    }

    /// Whether a fetch is under way (started less than the fetch timeout
    /// and a margin ago).
    pub fn in_flight(&self, now: u64) -> bool {
        self.fetching_since
            .is_some_and(|t| now < t.saturating_add(IN_FLIGHT_LIMIT_MS))
    }

    /// Finished fetches so far (success or failure): a waiting request
    /// stops waiting when this changes.
    pub fn attempts(&self) -> u64 {
        self.attempts
    }

    /// Marks a fetch as started at `now`.
    pub fn begin(&mut self, now: u64) {
        self.fetching_since = Some(now);
        self.last_attempt = Some(now);
    }

    /// Records a fetch's outcome at `now`: on success the new set replaces
    /// the old, fresh for [`Policy::lifetime_secs`] of its `max_age`; on
    /// failure the old copy stays as it was. Returns the new set's
    /// freshness lifetime in seconds on success.
    pub fn finish(
        &mut self,
        policy: &Policy,
        now: u64,
        outcome: Result<(KeySet, Option<u64>), ()>,
    ) -> Option<u64> {
        self.fetching_since = None;
        self.attempts = self.attempts.saturating_add(1);
        let (keys, max_age) = outcome.ok()?;
        let lifetime = policy.lifetime_secs(max_age);
        let fresh_until = now.saturating_add(lifetime.saturating_mul(1000));
        self.copy = Some(Copy {
            keys: Rc::new(keys),
            fresh_until,
            usable_until: fresh_until.saturating_add(policy.stale_secs.saturating_mul(1000)),
        });
        Some(lifetime)
    }

    /// How serving stands at `now`.
    pub fn standing(&self, now: u64) -> Standing {
        match &self.copy {
            Some(c) if now < c.fresh_until => Standing::Fresh,
            Some(c) if now < c.usable_until => Standing::Stale,
            _ => Standing::None,
        }
    }
}

/// The `max-age` of a `Cache-Control` value (RFC 9111 §5.2.2.1), in
/// seconds; `no-store` or `no-cache` count as 0. `None` when it says
/// neither (or the value is not a number).
pub fn max_age(cache_control: &str) -> Option<u64> {
    let mut age = None;
    for directive in cache_control.split(',') {
        let directive = directive.trim();
        let (name, value) = directive.split_once('=').unwrap_or((directive, ""));
        let name = name.trim();
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            return Some(0);
        }
        if name.eq_ignore_ascii_case("max-age") && age.is_none() {
            let value = value.trim().trim_matches('"');
            if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
                // Too many digits: a very long time (the bounds cap it).
                age = Some(value.parse().unwrap_or(u64::MAX));
            }
        }
    }
    age
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Policy = Policy {
        refresh_secs: 60,
        min_secs: 60,
        max_secs: 3_600,
        stale_secs: 600,
    };
    const T0: u64 = 1_700_000_000_000;
    const SEC: u64 = 1_000;

    fn set(kids: &[&str]) -> KeySet {
        // A P-256 public key (RFC 7515 Appendix A.3) under each kid.
        let keys: Vec<serde_json::Value> = kids
            .iter()
            .map(|kid| {
                serde_json::json!({"kty":"EC","crv":"P-256","kid":kid,
                    "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                    "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})
            })
            .collect();
        KeySet::from_jwks(&serde_json::json!({ "keys": keys }).to_string()).unwrap()
    }

    fn kids(plan: &Plan) -> Vec<String> {
        match plan {
            Plan::Use { keys, .. } => keys.kids().map(str::to_owned).collect(),
            other => panic!("not Use: {other:?}"),
        }
    }

    fn stale(plan: &Plan) -> bool {
        match plan {
            Plan::Use { stale, .. } => *stale,
            other => panic!("not Use: {other:?}"),
        }
    }

    /// A cache that fetched `kids` at `at` with this max-age.
    fn fetched(kids: &[&str], at: u64, max_age: Option<u64>) -> Cache {
        let mut cache = Cache::default();
        cache.begin(at);
        cache.finish(&POLICY, at, Ok((set(kids), max_age)));
        cache
    }

    #[test]
    fn max_age_reads_cache_control() {
        assert_eq!(max_age("public, max-age=300"), Some(300));
        assert_eq!(max_age("MAX-AGE = 42 , public"), Some(42));
        assert_eq!(max_age("max-age=\"7\""), Some(7));
        assert_eq!(max_age("max-age=5, max-age=9"), Some(5));
        assert_eq!(max_age("max-age=99999999999999999999999"), Some(u64::MAX));
        assert_eq!(max_age("public, no-cache"), Some(0));
        assert_eq!(max_age("no-store, max-age=300"), Some(0));
        for none in [
            "",
            "public",
            "max-age=",
            "max-age=-1",
            "max-age=1.5",
            "s-maxage=60",
        ] {
            assert_eq!(max_age(none), None, "{none}");
        }
    }

    #[test]
    fn lifetime_honours_max_age_within_bounds() {
        assert_eq!(POLICY.lifetime_secs(Some(300)), 300);
        assert_eq!(POLICY.lifetime_secs(None), DEFAULT_MAX_AGE_SECS);
        assert_eq!(POLICY.lifetime_secs(Some(0)), 60);
        assert_eq!(POLICY.lifetime_secs(Some(u64::MAX)), 3_600);
    }

    #[test]
    fn cold_cache_fetches_and_concurrent_requests_wait() {
        let mut cache = Cache::default();
        assert!(matches!(
            cache.decide(&POLICY, T0, Some("es1"), true),
            Plan::Fetch(Reason::Initial)
        ));
        cache.begin(T0);
        // A second request meanwhile waits for that fetch.
        assert!(matches!(
            cache.decide(&POLICY, T0 + 10, Some("es1"), true),
            Plan::Wait
        ));
        assert_eq!(cache.attempts(), 0);
        assert_eq!(
            cache.finish(&POLICY, T0 + 20, Ok((set(&["es1"]), Some(300)))),
            Some(300)
        );
        assert_eq!(cache.attempts(), 1);
        let plan = cache.decide(&POLICY, T0 + 30, Some("es1"), false);
        assert_eq!(kids(&plan), ["es1"]);
        assert!(!stale(&plan));
        assert_eq!(cache.standing(T0 + 30), Standing::Fresh);
    }

    #[test]
    fn failed_fetch_without_a_copy_is_unavailable_and_the_next_request_tries_again() {
        let mut cache = Cache::default();
        cache.begin(T0);
        assert_eq!(cache.finish(&POLICY, T0 + 5, Err(())), None);
        assert!(matches!(
            cache.decide(&POLICY, T0 + 6, Some("es1"), false),
            Plan::Unavailable
        ));
        assert!(matches!(
            cache.decide(&POLICY, T0 + 7, Some("es1"), true),
            Plan::Fetch(Reason::Initial)
        ));
        assert_eq!(cache.standing(T0 + 7), Standing::None);
    }

    #[test]
    fn unknown_kid_refetches_at_most_once_per_interval() {
        let mut cache = fetched(&["es1"], T0, Some(3_600));
        // Within the interval of the last fetch: the copy as it is.
        assert_eq!(
            kids(&cache.decide(&POLICY, T0 + 59 * SEC, Some("ed1"), true)),
            ["es1"]
        );
        let at = T0 + 60 * SEC;
        assert!(matches!(
            cache.decide(&POLICY, at, Some("ed1"), true),
            Plan::Fetch(Reason::UnknownKid)
        ));
        cache.begin(at);
        // Others with unknown kids wait; known kids are served meanwhile.
        assert!(matches!(
            cache.decide(&POLICY, at + 1, Some("ed2"), true),
            Plan::Wait
        ));
        assert_eq!(
            kids(&cache.decide(&POLICY, at + 1, Some("es1"), true)),
            ["es1"]
        );
        cache.finish(&POLICY, at + 2, Ok((set(&["es1"]), Some(3_600))));
        // Still unknown, and the next fetch is an interval away.
        assert_eq!(
            kids(&cache.decide(&POLICY, at + 3, Some("ed1"), true)),
            ["es1"]
        );
        assert_eq!(
            kids(&cache.decide(&POLICY, at + 59 * SEC, Some("ed1"), true)),
            ["es1"]
        );
        // A token without kid never causes a fetch.
        assert_eq!(
            kids(&cache.decide(&POLICY, at + 61 * SEC, None, true)),
            ["es1"]
        );
        assert!(matches!(
            cache.decide(&POLICY, at + 61 * SEC, Some("ed1"), true),
            Plan::Fetch(Reason::UnknownKid)
        ));
        // A failed attempt counts toward the interval too.
        cache.begin(at + 61 * SEC);
        cache.finish(&POLICY, at + 62 * SEC, Err(()));
        assert_eq!(
            kids(&cache.decide(&POLICY, at + 63 * SEC, Some("ed1"), true)),
            ["es1"]
        );
    }

    #[test]
    fn new_set_replaces_the_old() {
        let mut cache = fetched(&["es1"], T0, Some(300));
        let at = T0 + 120 * SEC;
        cache.begin(at);
        cache.finish(&POLICY, at, Ok((set(&["ed1"]), Some(300))));
        // A removed kid is gone at once.
        assert_eq!(
            kids(&cache.decide(&POLICY, at + 1, Some("es1"), false)),
            ["ed1"]
        );
    }

    #[test]
    fn expired_copy_refetches_and_serves_stale_while_fetches_fail() {
        let mut cache = fetched(&["es1"], T0, Some(300));
        let expiry = T0 + 300 * SEC;
        assert!(!stale(&cache.decide(
            &POLICY,
            expiry - 1,
            Some("es1"),
            true
        )));
        assert!(matches!(
            cache.decide(&POLICY, expiry, Some("es1"), true),
            Plan::Fetch(Reason::Expired)
        ));
        cache.begin(expiry);
        // While that fetch runs, others are served from the old copy.
        assert!(stale(&cache.decide(&POLICY, expiry + 1, Some("es1"), true)));
        cache.finish(&POLICY, expiry + 2, Err(()));
        assert_eq!(cache.standing(expiry + 2), Standing::Stale);
        let plan = cache.decide(&POLICY, expiry + 3, Some("es1"), false);
        assert!(stale(&plan));
        // No new attempt before the interval; then one.
        assert!(stale(&cache.decide(
            &POLICY,
            expiry + 59 * SEC,
            Some("es1"),
            true
        )));
        assert!(matches!(
            cache.decide(&POLICY, expiry + 60 * SEC, Some("es1"), true),
            Plan::Fetch(Reason::Expired)
        ));
        // Past the stale bound nothing serves: every request tries.
        let dead = expiry + 600 * SEC;
        assert!(stale(&cache.decide(&POLICY, dead - 1, Some("es1"), false)));
        assert!(matches!(
            cache.decide(&POLICY, dead, Some("es1"), false),
            Plan::Unavailable
        ));
        assert!(matches!(
            cache.decide(&POLICY, dead, Some("es1"), true),
            Plan::Fetch(Reason::Expired)
        ));
        assert_eq!(cache.standing(dead), Standing::None);
    }

    #[test]
    fn no_stale_serving_when_stale_secs_is_zero() {
        let policy = Policy {
            stale_secs: 0,
            ..POLICY
        };
        let mut cache = Cache::default();
        cache.begin(T0);
        cache.finish(&policy, T0, Ok((set(&["es1"]), Some(60))));
        let expiry = T0 + 60 * SEC;
        assert!(matches!(
            cache.decide(&policy, expiry, Some("es1"), false),
            Plan::Unavailable
        ));
    }

    #[test]
    fn abandoned_fetch_stops_holding_others_back() {
        let mut cache = Cache::default();
        cache.begin(T0);
        assert!(cache.in_flight(T0 + FETCH_TIMEOUT_MS));
        assert!(matches!(
            cache.decide(&POLICY, T0 + 1, None, true),
            Plan::Wait
        ));
        let later = T0 + IN_FLIGHT_LIMIT_MS;
        assert!(!cache.in_flight(later));
        assert!(matches!(
            cache.decide(&POLICY, later, None, true),
            Plan::Fetch(Reason::Initial)
        ));
    }
}

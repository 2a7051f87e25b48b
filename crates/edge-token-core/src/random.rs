//! Injected randomness: the core never calls the OS directly, so tests can
//! substitute a failing or predictable source.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// The random source failed; nothing may be issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandomError;

impl std::fmt::Display for RandomError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("random source failed")
    }
}

/// A source of cryptographically secure random bytes.
pub trait Random {
    /// Fills `buf` entirely or fails.
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError>;

    /// `N` random bytes, base64url-encoded without padding.
    fn token<const N: usize>(&self) -> Result<String, RandomError>
    where
        Self: Sized,
    {
        let mut bytes = [0u8; N];
        self.fill(&mut bytes)?;
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    }
}

/// The operating system's CSPRNG (`crypto.getRandomValues` on Workers).
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRandom;

impl Random for OsRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError> {
        getrandom::fill(buf).map_err(|_| RandomError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_random_tokens_differ_and_have_expected_length() {
        let a = OsRandom.token::<16>().unwrap();
        let b = OsRandom.token::<16>().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 22);
        assert_eq!(OsRandom.token::<32>().unwrap().len(), 43);
    }
}

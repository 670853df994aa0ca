//! Secret tokens: random, shown once, stored only as SHA-256 hashes.

use sha2::{Digest, Sha256};

use super::ServiceError;

/// A new random token with a readable kind prefix (`cwa_` agent, `cwo_` operator).
pub(crate) fn generate(prefix: &str) -> Result<String, ServiceError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|err| ServiceError::Internal(format!("no randomness for a token: {err}")))?;
    Ok(format!("{prefix}{}", hex(&bytes)))
}

/// The stored form of a token.
pub(crate) fn hash(token: &str) -> String {
    hex(&Sha256::digest(token.trim().as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_hash_stably() {
        let a = generate("cwa_").unwrap();
        let b = generate("cwa_").unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 64);
        assert_eq!(hash(&a), hash(&format!("{a}\n")));
        assert_eq!(hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}

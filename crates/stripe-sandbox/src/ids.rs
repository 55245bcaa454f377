//! Stripe-style identifiers: a prefix such as `tr_` followed by random alphanumerics.

const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `prefix` followed by 24 random alphanumerics, e.g. `tr_1NnmXDGPxmnHQRkJjKI88WI7`.
#[must_use]
pub fn new_id(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 24);
    out.push_str(prefix);
    out.push_str(&random_alnum(24));
    out
}

/// `len` random characters from `[0-9A-Za-z]`.
#[must_use]
pub fn random_alnum(len: usize) -> String {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        // uuid v4 is the one CSPRNG-backed source already in the tree.
        for byte in uuid::Uuid::new_v4().as_bytes() {
            if out.len() == len {
                break;
            }
            // 62 * 4 = 248: rejecting bytes >= 248 keeps the choice unbiased.
            if *byte < 248 {
                let idx = usize::from(*byte % 62);
                if let Some(c) = ALPHABET.get(idx) {
                    out.push(char::from(*c));
                }
            }
        }
    }
    out
}

/// A random number in `0..bound` (0 when `bound` is 0).
#[must_use]
pub fn random_below(bound: u64) -> u64 {
    if bound == 0 {
        return 0;
    }
    uuid::Uuid::new_v4().as_u64_pair().0 % bound
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_prefix_and_alnum_tail() {
        let id = new_id("tr_");
        assert!(id.starts_with("tr_"));
        assert_eq!(id.len(), 27);
        assert!(id[3..].chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(new_id("tr_"), id);
        assert!(random_below(10) < 10);
    }
}

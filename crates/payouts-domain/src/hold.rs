//! The hold rules (issue 16): which new commissions are held for review
//! before they can be finalized.
//!
//! * **Self-referral**: the customer's e-mail is the partner's (ignoring
//!   case), or both addresses are at the same domain and that domain is not
//!   a public mailbox provider ([`PUBLIC_MAIL_DOMAINS`]): `ann@acme.io`
//!   buying through `bob@acme.io`'s link is held; `ann@gmail.com` buying
//!   through `bob@gmail.com`'s is not.
//! * **Duplicate account**: the partner's Express account pays out to a
//!   bank account (same Stripe `fingerprint`) that another partner of the
//!   same merchant also uses ([`shares_bank_account`]).
//! * **Manual**: an operator holds a pending commission.

use crate::commission::OnHoldReason;

/// Domains of public mailbox providers: two strangers may both have an
/// address there, so sharing one proves nothing. Compared lower case.
pub const PUBLIC_MAIL_DOMAINS: &[&str] = &[
    "aol.com",
    "fastmail.com",
    "gmail.com",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "googlemail.com",
    "hey.com",
    "hotmail.co.uk",
    "hotmail.com",
    "hotmail.fr",
    "icloud.com",
    "live.com",
    "mac.com",
    "mail.com",
    "mail.ru",
    "me.com",
    "msn.com",
    "outlook.com",
    "pm.me",
    "proton.me",
    "protonmail.com",
    "qq.com",
    "tutanota.com",
    "web.de",
    "yahoo.co.uk",
    "yahoo.com",
    "yahoo.fr",
    "yandex.com",
    "yandex.ru",
    "zoho.com",
];

/// The domain of an address, lower case; `None` when it has no `@`.
fn domain_of(email: &str) -> Option<String> {
    email
        .rsplit_once('@')
        .map(|(_, domain)| domain.trim().trim_end_matches('.').to_ascii_lowercase())
        .filter(|d| !d.is_empty())
}

/// True when `domain` (lower case) is a public mailbox provider's.
pub fn is_public_mail_domain(domain: &str) -> bool {
    PUBLIC_MAIL_DOMAINS.contains(&domain)
}

/// True when a sale to `customer_email` through the partner at
/// `partner_email` is a self-referral: the same address (ignoring case and
/// surrounding blanks), or the same domain when it is not a public mailbox
/// provider's.
pub fn is_self_referral(customer_email: &str, partner_email: &str) -> bool {
    let (customer, partner) = (customer_email.trim(), partner_email.trim());
    if customer.eq_ignore_ascii_case(partner) {
        return true;
    }
    match (domain_of(customer), domain_of(partner)) {
        (Some(a), Some(b)) => a == b && !is_public_mail_domain(&a),
        _ => false,
    }
}

/// True when a bank-account fingerprint is shared: `mine` is known and one
/// of `others` (other partners' fingerprints) is the same.
pub fn shares_bank_account<'a>(
    mine: Option<&str>,
    others: impl IntoIterator<Item = Option<&'a str>>,
) -> bool {
    mine.is_some_and(|mine| others.into_iter().any(|other| other == Some(mine)))
}

/// The hold a new commission starts in, if any: self-referral first (it is
/// about this sale), then a shared bank account (about the partner).
pub fn hold_for_new_commission(
    customer_email: Option<&str>,
    partner_email: &str,
    shared_bank_account: bool,
) -> Option<OnHoldReason> {
    if customer_email.is_some_and(|c| is_self_referral(c, partner_email)) {
        Some(OnHoldReason::SelfReferral)
    } else if shared_bank_account {
        Some(OnHoldReason::DuplicateAccount)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_address_is_a_self_referral_whatever_its_case() {
        assert!(is_self_referral("Sarah@Example.com", "sarah@example.com"));
        assert!(is_self_referral(" sarah@gmail.com ", "SARAH@GMAIL.COM"));
    }

    #[test]
    fn a_shared_private_domain_is_a_self_referral() {
        assert!(is_self_referral("ann@acme.io", "bob@acme.io"));
        assert!(is_self_referral("ann@ACME.io", "bob@acme.IO"));
        assert!(is_self_referral("ann@acme.io.", "bob@acme.io"));
    }

    #[test]
    fn a_shared_public_domain_is_not() {
        for domain in [
            "gmail.com",
            "outlook.com",
            "hotmail.com",
            "yahoo.com",
            "icloud.com",
            "proton.me",
        ] {
            assert!(
                !is_self_referral(&format!("ann@{domain}"), &format!("bob@{domain}")),
                "{domain}"
            );
            assert!(is_public_mail_domain(domain));
        }
        assert!(!is_self_referral("ann@GMAIL.com", "bob@gmail.com"));
    }

    #[test]
    fn different_domains_are_not() {
        assert!(!is_self_referral("ann@acme.io", "ann@acme.com"));
        assert!(!is_self_referral("ann@sub.acme.io", "ann@acme.io"));
        assert!(!is_self_referral("not-an-address", "bob@acme.io"));
    }

    #[test]
    fn the_public_list_is_sorted_lower_case_and_unique() {
        let mut sorted = PUBLIC_MAIL_DOMAINS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, PUBLIC_MAIL_DOMAINS);
        assert!(
            PUBLIC_MAIL_DOMAINS
                .iter()
                .all(|d| *d == d.to_ascii_lowercase())
        );
    }

    #[test]
    fn a_bank_account_is_shared_only_when_known_on_both_sides() {
        assert!(shares_bank_account(Some("fp1"), [None, Some("fp1")]));
        assert!(!shares_bank_account(Some("fp1"), [None, Some("fp2")]));
        assert!(!shares_bank_account(None, [None, Some("fp1")]));
    }

    #[test]
    fn self_referral_comes_before_a_shared_account() {
        assert_eq!(
            hold_for_new_commission(Some("bob@acme.io"), "bob@acme.io", true),
            Some(OnHoldReason::SelfReferral)
        );
        assert_eq!(
            hold_for_new_commission(Some("ann@gmail.com"), "bob@gmail.com", true),
            Some(OnHoldReason::DuplicateAccount)
        );
        assert_eq!(hold_for_new_commission(None, "bob@acme.io", false), None);
    }
}
